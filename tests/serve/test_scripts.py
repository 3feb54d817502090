"""The service's load and fault scripts, run small (their full runs are in the README)."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def test_load_script_reports_throughput_and_latency(tmp_path):
    out = tmp_path / "load.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPTS / "serve_load.py"), "--clients", "3", "--duration", "4", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert report["jobs_done"] > 0 and report["jobs_failed"] == 0 and report["throughput_jobs_s"] > 0
    assert 0 < report["latency_p50_ms"] <= report["latency_p99_ms"]
    assert report["max_abs_error_vs_qiskit"] < 1e-4
    assert "| clients |" in proc.stdout


def test_fault_script_kill_9_mid_load_loses_and_doubles_nothing(tmp_path):
    out = tmp_path / "fault.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPTS / "serve_fault.py"), "--clients", "4", "--duration", "8", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert report["ok"] and report["accepted"] > 0 and report["done"] == report["accepted"] == report["stored"]
    assert report["lost"] == report["duplicates"] == report["unexpected"] == 0
    assert report["final_counts"]["queued"] == report["final_counts"]["running"] == 0
