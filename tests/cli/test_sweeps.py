"""Hydra multirun sweeps: the summary callback, resuming an interrupted sweep, a bad member.

Reference energies: exact H2 / STO-3G ground energies from ../shared/REFERENCES.md
(PennyLane qchem Hamiltonians diagonalised independently of qjax).
"""

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

EXACT_H2 = {0.5: -1.0551598, 0.7414: -1.1372702, 1.0: -1.1011503, 1.5: -0.9981494, 2.0: -0.9486411}
CHEMICAL_ACCURACY = 1.6e-3


def _sweep(cwd, *overrides, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "qjax.train", "-m", *overrides, "hydra.sweep.dir=sweep"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _summary(sweep_dir):
    with open(Path(sweep_dir) / "summary.csv") as f:
        return list(csv.DictReader(f))


def test_h2_dissociation_curve_within_chemical_accuracy_with_a_summary(tmp_path):
    lengths = ",".join(str(r) for r in EXACT_H2)
    proc = _sweep(tmp_path, "+experiment=vqe", f"problem.bond_length={lengths}")
    assert proc.returncode == 0, proc.stderr
    rows = _summary(tmp_path / "sweep")
    assert [float(r["problem.bond_length"]) for r in rows] == list(EXACT_H2)
    for row in rows:
        exact = EXACT_H2[float(row["problem.bond_length"])]
        assert float(row["exact_energy"]) == pytest.approx(exact, abs=2e-7)
        assert abs(float(row["energy"]) - exact) < CHEMICAL_ACCURACY
    table = (tmp_path / "sweep" / "summary.md").read_text()
    assert table.count("\n| ") == len(EXACT_H2)  # a data row per bond length below the header and rule
    assert (tmp_path / "sweep" / "summary.png").stat().st_size > 0


def test_a_killed_sweep_resumes_without_redoing_finished_members(tmp_path):
    overrides = ("+experiment=vqe", "problem=tfim", "ansatz=hea", "trainer.steps=300", "problem.h=0.5,1.0,1.5")
    cmd = [sys.executable, "-m", "qjax.train", "-m", *overrides, "hydra.sweep.dir=first"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not (tmp_path / "first" / "0" / "result.json").exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert (tmp_path / "first" / "0" / "result.json").exists()
    assert not (tmp_path / "first" / "2" / "result.json").exists()

    rerun = _sweep(tmp_path, *overrides[:-1], "problem.h=0.5,1.0,1.5")
    assert rerun.returncode == 0, rerun.stderr
    rows = _summary(tmp_path / "sweep")
    assert len(rows) == 3 and rows[0]["already_finished"] == "True"  # member 0 was not trained again
    first = json.loads((tmp_path / "first" / "0" / "result.json").read_text())
    assert float(rows[0]["energy"]) == pytest.approx(first["energy"], abs=1e-9)
    assert all(r["status"] == "ok" and int(r["steps"]) == 300 for r in rows)


def test_a_bad_member_is_listed_and_the_rest_still_run(tmp_path):
    proc = _sweep(tmp_path, "+experiment=vqe", "trainer.steps=2", "problem.bond_length=-1,0.9")
    assert proc.returncode == 2
    assert "problem.bond_length=-1.0 is invalid" in proc.stderr and "Traceback" not in proc.stderr
    rows = _summary(tmp_path / "sweep")
    assert rows[0]["status"] == "ConfigError" and "bond_length" in rows[0]["error_message"]
    assert rows[1]["status"] == "ok" and rows[1]["energy"]


def test_double_precision_does_not_leak_into_the_next_in_process_member(tmp_path, monkeypatch):
    import jax
    from hydra import compose, initialize_config_module

    from qjax.train import run

    monkeypatch.chdir(tmp_path)
    base = ["+experiment=vqe", "problem=tfim", "problem.n=2", "ansatz=hea", "trainer.steps=2"]
    try:
        with initialize_config_module(config_module="qjax.conf", version_base="1.3"):
            run(
                compose(config_name="config", overrides=[*base, "precision=double", f"checkpoint.dir={tmp_path / 'a'}"])
            )
            assert jax.config.jax_enable_x64
            run(compose(config_name="config", overrides=[*base, f"checkpoint.dir={tmp_path / 'b'}"]))
            assert not jax.config.jax_enable_x64
    finally:
        jax.config.update("jax_enable_x64", False)


def test_joblib_launcher_runs_members_in_parallel_processes(tmp_path):
    # loky reuses worker processes: precision=double in one member must not leak x64 into the next
    proc = _sweep(
        tmp_path,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "+experiment=vqe",
        "trainer.steps=3",
        "problem=tfim",
        "problem.n=2",
        "ansatz=hea",
        "ansatz.init=zeros",
        "precision=double,single,double,single",
        # members 0 and 2 (and 1 and 3) are one configuration: without a directory each, member 2 would find
        # member 0's checkpoint finished (or locked, when both run at once) instead of training in a reused process
        "checkpoint.dir=${hydra:runtime.output_dir}/checkpoint",
    )
    assert proc.returncode == 0, proc.stderr
    rows = _summary(tmp_path / "sweep")
    assert [r["precision"] for r in rows] == ["double", "single", "double", "single"]
    assert all(r["status"] == "ok" and r["already_finished"] == "False" for r in rows)
    # double and single agree to single precision: the same run in two precisions
    assert float(rows[0]["energy"]) == pytest.approx(float(rows[1]["energy"]), abs=1e-5)


@pytest.mark.slow  # CI covers Ray with a real head: tests/cli/test_sweeps_cluster.py
def test_ray_launcher_runs_a_sweep_locally(tmp_path):
    pytest.importorskip(
        "hydra_plugins.hydra_ray_launcher", reason="the ray extra is not installed (pip install -e '.[ray]')"
    )
    proc = _sweep(
        tmp_path,
        "hydra/launcher=ray",
        "+hydra.launcher.ray.init.num_cpus=2",
        "+experiment=vqe",
        "trainer.steps=3",
        "problem.bond_length=0.7414,1.0",
    )
    assert proc.returncode == 0, proc.stderr
    rows = _summary(tmp_path / "sweep")
    assert [float(r["problem.bond_length"]) for r in rows] == [0.7414, 1.0]
    for row in rows:
        assert row["status"] == "ok" and float(row["energy"]) >= float(row["exact_energy"]) - 1e-5


def test_optuna_search_tunes_learning_rate_and_depth(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="the optuna extra is not installed")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "qjax.train",
            "+experiment=vqe",
            "problem=tfim",
            "problem.n=2",
            "ansatz=hea",
            "hparams_search=optuna",
            "hydra.sweeper.n_trials=3",
            "trainer.steps=5",
            "ansatz.layers=range(1,3)",
            "hydra.sweep.dir=sweep",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    rows = _summary(tmp_path / "sweep")
    assert len(rows) == 3 and all(r["status"] == "ok" for r in rows)
    members = [json.loads((tmp_path / "sweep" / str(i) / "result.json").read_text()) for i in range(3)]
    lrs = {(tmp_path / "sweep" / str(i) / ".hydra" / "overrides.yaml").read_text() for i in range(3)}
    assert len(lrs) == 3  # three different trials
    best = min(m["loss"] for m in members)
    assert f"Best value: {best}" in proc.stdout + proc.stderr  # Optuna minimised the loss qjax returned


def _files_holding(root: Path, secret: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


@pytest.mark.parametrize("multirun", [True, False], ids=["sweep", "single run"])
def test_a_token_on_the_command_line_is_refused_before_hydra_writes_or_logs_it(tmp_path, multirun):
    cmd = [
        sys.executable,
        "-m",
        "qjax.train",
        *(["-m"] if multirun else []),
        "+experiment=vqe",
        "backend=ibm_fake",
        "+backend.token=SECRET123",
        "trainer.steps=1,2" if multirun else "trainer.steps=1",
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert (
        proc.stderr.startswith("qjax: error: +backend.token=… on the command line")
        and "QISKIT_IBM_TOKEN" in proc.stderr
    )
    assert "SECRET123" not in proc.stdout + proc.stderr
    assert _files_holding(tmp_path, "SECRET123") == []


def test_evaluate_refuses_a_token_on_the_command_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "qjax.evaluate", "run_dir=nowhere", "backend=ibm_fake", "+backend.api_key=SECRET123"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and "SECRET123" not in proc.stdout + proc.stderr
    assert "+backend.api_key" in proc.stderr and _files_holding(tmp_path, "SECRET123") == []


def _leaky_backend(tmp_path: Path) -> str:
    """A user's config file that puts a token into the backend group; returns the searchpath override."""
    group = tmp_path / "extra" / "backend"
    group.mkdir(parents=True)
    (group / "leaky.yaml").write_text("defaults:\n  - ibm_fake\n  - _self_\n\ntoken: SECRET456\n")
    return f"hydra.searchpath=[file://{tmp_path / 'extra'}]"


def test_a_token_from_a_config_file_is_refused_per_member_and_kept_out_of_every_file(tmp_path):
    proc = _sweep(tmp_path, "+experiment=vqe", "backend=leaky", _leaky_backend(tmp_path), "trainer.steps=1,2")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "SECRET456" not in proc.stdout + proc.stderr
    rows = _summary(tmp_path / "sweep")
    assert [r["status"] for r in rows] == ["ConfigError", "ConfigError"]
    assert all("backend.token" in r["error_message"] for r in rows)
    sweep = tmp_path / "sweep"
    assert (sweep / "multirun.yaml").exists() and (sweep / "0" / ".hydra" / "config.yaml").exists()
    assert _files_holding(sweep, "SECRET456") == []


def test_a_token_from_a_config_file_is_scrubbed_from_a_single_runs_hydra_dir(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "qjax.train",
            "+experiment=vqe",
            "backend=leaky",
            _leaky_backend(tmp_path),
            "hydra.run.dir=run",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and "backend.token" in proc.stderr and "SECRET456" not in proc.stdout + proc.stderr
    assert (tmp_path / "run" / ".hydra" / "config.yaml").exists()
    assert _files_holding(tmp_path / "run", "SECRET456") == []
