"""The CLI on the hardware path, end to end on a local fake device (``backend=ibm_fake``).

A small problem (2-spin Ising chain, one HEA layer) keeps each run to seconds.
Checks: one job per step plus the final evaluation, what the run directory and
the checkpoint directory record, a kill -9 while a job is pending, budgets,
fallback, and bad input refused before any job is sent.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SMALL = (
    "+experiment=vqe",
    "backend=ibm_fake",
    "problem=tfim",
    "problem.n=2",
    "ansatz=hea",
    "ansatz.layers=1",
    "backend.shots=2000",
    "backend.seed_simulator=5",
)


def _run(cwd, *overrides, timeout=300, env=None):
    return subprocess.run(
        [sys.executable, "-m", "qjax.train", *overrides],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=None if env is None else {**os.environ, **env},
    )


def _jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def _ckpt_dir(run_dir):
    return Path(json.loads((Path(run_dir) / "manifest.json").read_text())["checkpoint_dir"])


def test_one_job_per_step_and_a_manifest_that_says_what_ran(tmp_path):
    proc = _run(tmp_path, *SMALL, "trainer.steps=3", "hydra.run.dir=run")
    assert proc.returncode == 0, proc.stderr
    run = tmp_path / "run"
    result = json.loads((run / "result.json").read_text())
    assert result["backend"] == "ibm_fake" and result["steps"] == 3
    assert result["num_jobs"] == 3 + 1  # one batched parameter-shift job per step + the final evaluation
    assert "fallbacks" not in result
    # 4 parameters, two-term shift rules: 1 + 8 rows per step; 1 row for the final evaluation
    assert result["shots_total"] == 3 * 9 * 2000 + 1 * 2000
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["backend"]["device"] == "fake_manila"
    transpiled = manifest["circuit"]["transpiled"]
    assert transpiled["depth"] > 0 and len(transpiled["layout"]) == 2 and transpiled["two_qubit_gates"] >= 1
    assert set(manifest["calibration"]["qubits"]) == {str(q) for q in transpiled["layout"]}
    assert len(manifest["job_ids"]) == 4 and manifest["fallbacks"] == []
    ck = _ckpt_dir(run)
    jobs = _jsonl(ck / "jobs.jsonl")
    submitted = [r for r in jobs if r["state"] == "submitted"]
    assert [r["step"] for r in submitted] == [0, 1, 2, 3]
    assert [r["purpose"] for r in submitted] == ["gradient"] * 3 + ["value"]  # the last: final params, after step 3
    assert [r["job_id"] for r in submitted] == manifest["job_ids"]
    assert all(len(r["params"]) == r["batch"] for r in submitted)
    events = _jsonl(ck / "events.jsonl")
    for job_id in manifest["job_ids"]:
        kinds = [e["event"] for e in events if e.get("job_id") == job_id]
        assert kinds[0] == "submitted" and kinds[-1] == "done"
    # hardware checkpoints every step by default
    assert sorted(int(p.name) for p in ck.iterdir() if p.name.isdigit())[-1] == 3
    metrics = _jsonl(run / "metrics.jsonl")
    assert [m["num_jobs"] for m in metrics] == [1, 2, 3]


def test_rerunning_a_finished_run_sends_no_job(tmp_path):
    assert _run(tmp_path, *SMALL, "trainer.steps=2", "hydra.run.dir=a").returncode == 0
    proc = _run(tmp_path, *SMALL, "trainer.steps=2", "hydra.run.dir=b")
    assert proc.returncode == 0, proc.stderr
    first, again = (json.loads((tmp_path / d / "result.json").read_text()) for d in ("a", "b"))
    assert again["already_finished"] and again["energy"] == first["energy"]
    jobs = _jsonl(_ckpt_dir(tmp_path / "b") / "jobs.jsonl")
    assert sum(r["state"] == "submitted" for r in jobs) == 3  # the first run's 2 + 1; the final served from cache


def test_kill_9_while_a_job_is_pending_then_rerun_continues(tmp_path):
    overrides = (*SMALL, "backend.shots=60000", "trainer.steps=4")
    proc = subprocess.Popen(
        [sys.executable, "-m", "qjax.train", *overrides, "hydra.run.dir=first"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    journal = None
    deadline = time.time() + 240
    pending_key = None
    while time.time() < deadline and proc.poll() is None:
        if journal is None:
            found = list((tmp_path / "checkpoints").glob("*/jobs.jsonl"))
            journal = found[0] if found else None
        if journal is not None:
            rows = _jsonl(journal)
            done = {r["key"] for r in rows if r["state"] == "done"}
            waiting = [r for r in rows if r["state"] == "submitted" and r["key"] not in done and r["step"] == 1]
            if waiting:
                pending_key = waiting[-1]["key"]
                proc.send_signal(signal.SIGKILL)
                break
        time.sleep(0.01)
    proc.wait(timeout=30)
    assert pending_key is not None, "the run never had a pending job at step 1"
    assert pending_key not in {r["key"] for r in _jsonl(journal) if r["state"] == "done"}

    rerun = _run(tmp_path, *overrides, "hydra.run.dir=second")
    assert rerun.returncode == 0, rerun.stderr
    result = json.loads((tmp_path / "second" / "result.json").read_text())
    assert result["steps"] == 4 and result["resumed_from"] == 1
    metrics = _jsonl(tmp_path / "second" / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [0, 1, 2, 3]  # nothing lost, nothing repeated
    rows = _jsonl(journal)
    submissions = {}
    for r in rows:
        if r["state"] == "submitted":
            submissions[r["key"]] = submissions.get(r["key"], 0) + 1
    # fake-device job ids die with the process: the pending step was sent again, once, and that is recorded
    assert submissions[pending_key] == 2
    assert all(n == 1 for key, n in submissions.items() if key != pending_key)
    events = _jsonl(journal.parent / "events.jsonl")
    assert any(e["event"] == "resubmitted" and e["key"] == pending_key for e in events)


def test_budget_stops_before_the_job_that_would_cross_it_and_a_raise_continues(tmp_path):
    proc = _run(tmp_path, *SMALL, "trainer.steps=4", "budget.max_jobs=2", "hydra.run.dir=a")
    assert proc.returncode == 3
    assert "budget.max_jobs=2 would be exceeded" in proc.stderr and "Traceback" not in proc.stderr
    ck = next((tmp_path / "checkpoints").iterdir())
    assert sum(r["state"] == "submitted" for r in _jsonl(ck / "jobs.jsonl")) == 2
    proc = _run(tmp_path, *SMALL, "trainer.steps=4", "budget.max_jobs=10", "hydra.run.dir=b")
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "b" / "result.json").read_text())
    assert result["resumed_from"] == 2 and result["steps"] == 4 and result["num_jobs"] == 5


def test_unreachable_backend_falls_back_loudly_and_records_it(tmp_path):
    # a microsecond timeout with no retries makes the fake device "unavailable"; the chain continues on the simulator
    proc = _run(
        tmp_path,
        *SMALL,
        "trainer.steps=2",
        "backend.timeout_s=0.000001",
        "backend.retries=0",
        "backend.fallback=[simulator]",
        "hydra.run.dir=run",
    )
    assert proc.returncode == 0, proc.stderr
    assert "FALLBACK" in proc.stdout + proc.stderr
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["fallbacks"][0]["from"] == "ibm_fake" and result["fallbacks"][0]["to"] == "simulator"
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["fallbacks"] == result["fallbacks"]
    events = _jsonl(_ckpt_dir(tmp_path / "run") / "events.jsonl")
    assert [e["event"] for e in events if e["event"] in ("timeout", "fell_back")][:2] == ["timeout", "fell_back"]


def test_no_backend_left_reports_the_classical_heuristic(tmp_path):
    proc = _run(
        tmp_path, *SMALL, "trainer.steps=2", "backend.timeout_s=0.000001", "backend.retries=0", "hydra.run.dir=run"
    )
    assert proc.returncode == 3 and "every backend of the chain" in proc.stderr
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["status"] == "backend_unavailable" and result["energy_source"] == "best_basis_state"
    assert result["energy"] == pytest.approx(-1.0)  # H = -Z0 Z1 - X0 - X1: best basis state |00>, energy -1


@pytest.mark.parametrize(
    "override, needle",
    [
        ("problem.n=6", "needs 6 qubits but fake_manila has 5"),
        ("backend.shots=0", "backend.shots=0 is invalid"),
        ("backend.device=FakeNowhere", "not a qiskit-ibm-runtime fake device"),
        ("+mitigation.foo=1", "mitigation.foo is not a key"),
        ("mitigation=zne mitigation.zne.amplifier=global_folding", "gate_folding"),
        ("gradient=backprop", "gradient=backprop"),
    ],
)
def test_bad_input_is_one_line_before_any_job(tmp_path, override, needle):
    proc = _run(tmp_path, *SMALL, *override.split(), "hydra.run.dir=run")
    assert proc.returncode != 0
    assert needle in proc.stderr and "Traceback" not in proc.stderr
    assert not list((tmp_path / "checkpoints").glob("*/jobs.jsonl"))  # nothing was sent


def test_a_token_in_the_config_is_refused_and_not_saved(tmp_path):
    secret = "tok-3f9a1c77e2"
    proc = _run(tmp_path, *SMALL, f"+backend.token={secret}", "hydra.run.dir=run")
    assert proc.returncode == 2 and "QISKIT_IBM_TOKEN" in proc.stderr and secret not in proc.stderr
    for path in (tmp_path / "run").rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(errors="ignore"), path
