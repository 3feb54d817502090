"""``logger=csv|tensorboard|mlflow``: each tracker receives the numbers the run directory holds.

The reference is the run's own ``metrics.jsonl`` (written by qjax independently of
the trackers); the trackers are read back with their own readers.
"""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from qjax.errors import ConfigError

SMALL = ("+experiment=vqe", "problem=tfim", "problem.n=2", "ansatz=hea", "ansatz.layers=1", "trainer.steps=4")


def _train(cwd, *overrides):
    proc = subprocess.run(
        [sys.executable, "-m", "qjax.train", *SMALL, *overrides, "hydra.run.dir=run"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in (Path(cwd) / "run" / "metrics.jsonl").read_text().splitlines()]


def test_csv_logger_writes_every_metric_row(tmp_path):
    rows = _train(tmp_path, "logger=csv")
    with open(tmp_path / "run" / "metrics.csv") as f:
        logged = list(csv.DictReader(f))
    assert [int(r["step"]) for r in logged] == [r["step"] for r in rows] == [0, 1, 2, 3]
    for a, b in zip(logged, rows):
        assert float(a["energy"]) == pytest.approx(b["energy"], rel=1e-12)


def test_tensorboard_logger_writes_scalars(tmp_path):
    pytest.importorskip("tensorboardX", reason="the tensorboard extra is not installed")
    from tensorboardX.proto import event_pb2

    _train(tmp_path, "logger=tensorboard")
    (events,) = (tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*")
    data, tags, pos = events.read_bytes(), [], 0
    while pos < len(data):  # TFRecord framing: length (8), crc (4), payload, crc (4)
        length = int.from_bytes(data[pos : pos + 8], "little")
        event = event_pb2.Event.FromString(data[pos + 12 : pos + 12 + length])
        tags += [(v.tag, event.step) for v in event.summary.value]
        pos += 16 + length
    assert {("energy", s) for s in range(4)} <= set(tags)
    assert ("result/energy", 4) in tags


def test_mlflow_logger_records_params_metrics_and_artifacts(tmp_path, monkeypatch):
    pytest.importorskip("mlflow", reason="the mlflow extra is not installed")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # reading the file store back, as qjax writes it
    from mlflow.tracking import MlflowClient

    rows = _train(tmp_path, "logger=mlflow", "logger.run_name=tiny")
    client = MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("qjax").experiment_id])
    assert run.info.run_name == "tiny" and run.data.params["problem.n"] == "2"
    history = client.get_metric_history(run.info.run_id, "energy")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [
        (r["step"], pytest.approx(r["energy"], rel=1e-6)) for r in rows
    ]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"result.json", "manifest.json"} <= artifacts


def test_a_tracker_that_is_not_installed_is_one_line_naming_the_extra(monkeypatch):
    from qjax.training import loggers

    monkeypatch.setitem(loggers.LOGGERS, "mlflow", "qjax_no_such_module:Nothing")
    with pytest.raises(ConfigError, match=r'pip install -e "\.\[mlflow\]"'):
        loggers.make_logger(loggers.MLflowLoggerConfig("mlflow"))
