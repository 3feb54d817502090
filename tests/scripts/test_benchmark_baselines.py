"""scripts/benchmark_baselines.py end to end on its cheapest setting: the classical and exact rows
against independent references, a trained method over two seeds, and every output file."""

import csv
import importlib.util
from pathlib import Path

import numpy as np
import pennylane as qml
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "benchmark_baselines.py"


def _load():
    spec = importlib.util.spec_from_file_location("benchmark_baselines", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_baselines_harness_reports_every_method_and_seed(tmp_path, capsys):
    bench = _load()
    assert (
        bench.main(
            ["--problems", "h2", "--methods", "simulator", "--seeds", "2", "--steps", "3", "--out", str(tmp_path)]
        )
        == 0
    )
    runs = list(csv.DictReader(open(tmp_path / "runs.csv")))
    assert [r["method"] for r in runs] == ["classical (hartree_fock)", "exact", "simulator", "simulator"]
    # PennyLane's dense Hamiltonian: <1100|H|1100> (Hartree-Fock, wire 0 = most significant bit) and its ground
    mol = qml.qchem.Molecule(["H", "H"], np.array([0, 0, -0.3707, 0, 0, 0.3707]), unit="angstrom")
    h, _ = qml.qchem.molecular_hamiltonian(mol)
    matrix = qml.matrix(h, wire_order=range(4))
    hf, exact = float(np.real(matrix[0b1100, 0b1100])), float(np.linalg.eigvalsh(matrix).min())
    assert float(runs[0]["energy"]) == pytest.approx(hf, abs=1e-6)
    assert float(runs[1]["energy"]) == pytest.approx(exact, abs=1e-6)
    assert float(runs[0]["error"]) == pytest.approx(hf - exact, abs=1e-6)
    assert {r["seed"] for r in runs[2:]} == {"0", "1"} and all(float(r["error"]) >= -1e-5 for r in runs[2:])
    summary = (tmp_path / "summary.md").read_text()
    assert "| h2 | simulator | 2 |" in summary and "| h2 | exact | 1 |" in summary
    assert (tmp_path / "summary.png").stat().st_size > 0 and (tmp_path / "summary.csv").exists()


def test_a_method_that_cannot_run_is_reported_not_fatal(tmp_path, monkeypatch):
    bench = _load()
    monkeypatch.setitem(bench.METHODS, "simulator+zne", (["mitigation=zne"], False))
    assert bench.main(["--problems", "h2", "--methods", "simulator+zne", "--seeds", "1", "--out", str(tmp_path)]) == 0
    row = list(csv.DictReader(open(tmp_path / "runs.csv")))[-1]
    assert row["method"] == "simulator+zne" and row["status"].startswith("BackendError: mitigation=zne")


def test_a_method_name_with_spaces_and_parentheses_runs(tmp_path, monkeypatch):
    """Its run directory becomes a Hydra override (checkpoint.dir), which cannot hold spaces or parentheses."""
    bench = _load()
    monkeypatch.setitem(bench.METHODS, "simulator (plain)", ([], False))
    args = ["--problems", "h2", "--methods", "simulator (plain)", "--seeds", "1", "--steps", "2"]
    assert bench.main([*args, "--out", str(tmp_path)]) == 0
    row = list(csv.DictReader(open(tmp_path / "runs.csv")))[-1]
    assert row["method"] == "simulator (plain)" and row["status"] == "ok"
