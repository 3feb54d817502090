"""Run-directory files: metrics as they come, JSON of arrays, load_run and its errors."""

import json

import numpy as np
import pytest

import qjax
from qjax.training.records import MetricsWriter, circuit_summary, write_json


def test_metrics_are_on_disk_after_each_call(tmp_path):
    writer = MetricsWriter(tmp_path / "metrics.jsonl")
    writer([{"step": 0, "loss": 1.5}])
    assert json.loads((tmp_path / "metrics.jsonl").read_text()) == {"step": 0, "loss": 1.5}  # flushed, not buffered
    writer([{"step": 1, "loss": 1.25}, {"step": 2, "loss": 1.0}])
    writer.close()
    assert [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [0, 1, 2]


def test_load_run_round_trips_arrays(tmp_path):
    params = np.array([0.25, -1.5], np.float32)
    write_json(tmp_path / "result.json", {"final_params": params, "energy": np.float32(-1.0)})
    write_json(tmp_path / "manifest.json", {"config": {"seed": 3}})
    run = qjax.load_run(tmp_path)
    np.testing.assert_array_equal(run.final_params, params)
    assert run.result["energy"] == -1.0 and run.config == {"seed": 3} and run.metrics == []


def test_load_run_of_a_non_run_says_what_is_missing(tmp_path):
    with pytest.raises(qjax.QjaxError, match=r"not a finished qjax run directory: result.json is missing"):
        qjax.load_run(tmp_path)


def test_circuit_summary_is_qasm_with_depth_and_counts():
    summary = circuit_summary(qjax.Circuit(2).h(0).cnot(0, 1).rz(qjax.Param(0), 1))
    assert summary["qasm"].startswith("OPENQASM") and summary["depth"] == 3
    assert summary["gate_counts"] == {"H": 1, "CNOT": 1, "RZ": 1}


@pytest.mark.parametrize(
    "result, manifest, complaint",
    [
        ("[1,2", "{}", "cannot be read as JSON"),
        ('"x"', "{}", "must hold a JSON object, got str"),
        ('{"final_params": [1.0]}', "[]", "must hold a JSON object, got list"),
        ('{"final_params": [1.0]}', '{"config": 5}', "'config' must be a mapping"),
        ('{"final_params": "abc"}', "{}", "'final_params' must be a list of finite numbers"),
        ('{"final_params": [[1.0], [2.0]]}', "{}", "'final_params' must be a list of finite numbers"),
        ('{"final_params": [1.0, NaN]}', "{}", "'final_params' must be a list of finite numbers"),
        ("\xff\xfe", "{}", "cannot be read as JSON"),
    ],
)
def test_load_run_of_a_corrupt_run_names_the_file(tmp_path, result, manifest, complaint):
    (tmp_path / "result.json").write_text(result, encoding="latin-1")
    (tmp_path / "manifest.json").write_text(manifest)
    with pytest.raises(qjax.QjaxError, match=complaint):
        qjax.load_run(tmp_path)


@pytest.mark.timeout(30)
def test_load_run_refuses_devices_and_fifos_without_reading_them(tmp_path):
    import os

    (tmp_path / "manifest.json").write_text("{}")
    (tmp_path / "result.json").symlink_to("/dev/zero")  # would never end
    with pytest.raises(qjax.QjaxError, match="not a regular file"):
        qjax.load_run(tmp_path)
    (tmp_path / "result.json").unlink()
    os.mkfifo(tmp_path / "result.json")  # opening it would block forever
    with pytest.raises(qjax.QjaxError, match="not a regular file"):
        qjax.load_run(tmp_path)
