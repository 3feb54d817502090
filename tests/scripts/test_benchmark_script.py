"""scripts/benchmark.py end to end at 4 qubits: every system runs and agrees with the oracle.

The script is run in a subprocess, as a user runs it. ``--batch 0`` leaves out the
batched workload and ``--cache-qubits 0`` the cold/warm first calls: their extra XLA
compilations would double the test's time; QAOA and the memory probe run small.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "benchmark.py"
SYSTEMS = ("qjax-backprop", "qjax-adjoint", "default.qubit", "lightning", "aer")


def test_benchmark_runs_every_system_and_energies_agree(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--qubits",
            "4",
            "--repeats",
            "1",
            "--batch",
            "0",
            "--qaoa-qubits",
            "6",
            "--qaoa-layers",
            "1",
            "--cache-qubits",
            "0",
            "--memory-qubits",
            "4",
            "--systems",
            *SYSTEMS,
            "--out",
            str(tmp_path),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "| qjax-backprop |" in proc.stdout and "FAIL" not in proc.stdout
    report = json.loads((tmp_path / "benchmark.json").read_text())
    results, reference = report["results"]["4"], report["results"]["4"]["reference"]
    scale = 3 * 1.0 + 4 * 0.5  # Σ|c| of the 4-wire Ising chain: 3 ZZ terms, 4 X terms
    for name in SYSTEMS:
        r = results[name]
        assert r["status"] == "ok", (name, r["status"])
        for key in ("step_s", "first_s"):
            assert math.isfinite(r[key]) and r[key] > 0, (name, key, r[key])
        # complex64 against the complex128 oracle; 4 qubits leave far more margin than 1e-4
        assert abs(r["energy"] - reference["energy"]) <= 1e-4 * scale, name
    assert (tmp_path / "benchmark.png").stat().st_size > 0
    qaoa = report["qaoa"]
    for name in ("qjax-backprop", "qjax-adjoint", "lightning"):
        # complex64 vs lightning's complex128 on 6 wires: far inside 1e-4 × Σ|c| (9 edges)
        assert qaoa[name]["energy_err"] <= 1e-4 * qaoa["edges"], name
    assert report["memory"]["status"] == "ok" and report["memory"]["peak_rss_GiB"] > 0
