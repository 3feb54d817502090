"""scripts/benchmark_pennylane.py end to end at 4 qubits: every row runs and agrees with
lightning.qubit in complex128 (the script exits non-zero otherwise). Times are not checked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "benchmark_pennylane.py"


@pytest.mark.slow  # default.qubit's jit compile and lightning's callbacks: ~30 s of CPU
def test_every_row_runs_and_agrees(tmp_path):
    out = tmp_path / "report.json"
    cmd = [sys.executable, str(SCRIPT), "--qubits", "4", "--repeats", "1", "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert set(report["results"]) == {"W1 n=4", "QAOA n=4"}
    for cell in report["results"].values():
        assert len(cell) == 6 and all(r["agrees"] for r in cell.values())
    assert "| qjax.simulator backprop, jax.jit |" in proc.stdout
