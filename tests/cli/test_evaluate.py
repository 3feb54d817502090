"""``python -m qjax.evaluate``: a finished run's final parameters on another backend."""

import json
import subprocess
import sys

import numpy as np
import pytest
from qiskit.quantum_info import Statevector

from qjax import templates
from qjax.interop.qiskit import to_qiskit
from qjax.problems.spin import tfim

TRAIN = ("+experiment=vqe", "problem=tfim", "problem.n=2", "ansatz=hea", "ansatz.layers=1", "trainer.steps=5")


def _py(cwd, module, *overrides):
    return subprocess.run([sys.executable, "-m", module, *overrides], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("evaluate")
    proc = _py(cwd, "qjax.train", *TRAIN, "hydra.run.dir=trained")
    assert proc.returncode == 0, proc.stderr
    return cwd


def test_exact_evaluation_matches_statevector(trained):
    proc = _py(trained, "qjax.evaluate", "run_dir=trained", "hydra.run.dir=exact")
    assert proc.returncode == 0, proc.stderr
    result = json.loads((trained / "exact" / "result.json").read_text())
    problem = tfim(2)
    qc = to_qiskit(templates.hardware_efficient(2, 1), np.asarray(result["final_params"]))
    reference = float(np.real(Statevector(qc).expectation_value(problem.observable.to_qiskit(2))))
    assert result["energy"] == pytest.approx(reference, abs=1e-5)  # complex64 simulator vs Qiskit
    assert result["trained_energy"] == pytest.approx(reference, abs=1e-5)
    assert result["evaluated_run"].endswith("trained") and result["backend"] == "simulator"


def test_evaluation_on_a_fake_device_with_zne_is_one_job(trained):
    proc = _py(trained, "qjax.evaluate", "run_dir=trained", "backend=ibm_fake", "backend.shots=2000",
               "backend.seed_simulator=3", "mitigation=zne", "hydra.run.dir=fake")
    assert proc.returncode == 0, proc.stderr
    result = json.loads((trained / "fake" / "result.json").read_text())
    assert result["num_jobs"] == 1 and result["mitigation"] == "zne"
    assert np.isfinite(result["energy"]) and np.isfinite(result["energy_unmitigated"])
    manifest = json.loads((trained / "fake" / "manifest.json").read_text())
    assert manifest["circuit"]["transpiled"]["depth"] > 0 and manifest["calibration"]["qubits"]
    assert len(manifest["job_ids"]) == 1
    assert not (trained / "trained" / "evaluations").exists()  # the evaluated run is left as it was


def test_a_directory_that_is_not_a_run_is_one_clear_line(tmp_path):
    proc = _py(tmp_path, "qjax.evaluate", "run_dir=nowhere", "hydra.run.dir=out")
    assert proc.returncode == 2 and "not a finished qjax run directory" in proc.stderr
    assert "Traceback" not in proc.stderr
