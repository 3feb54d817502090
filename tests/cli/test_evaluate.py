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
    return subprocess.run(
        [sys.executable, "-m", module, *overrides], cwd=cwd, capture_output=True, text=True, timeout=300
    )


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
    proc = _py(
        trained,
        "qjax.evaluate",
        "run_dir=trained",
        "backend=ibm_fake",
        "backend.shots=2000",
        "backend.seed_simulator=3",
        "mitigation=zne",
        "hydra.run.dir=fake",
    )
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


# Every experiment evaluates through its own objective and report hooks: a tiny run of each is
# trained, evaluated on backend=simulator, and the evaluated figures are checked against
# references computed here with Qiskit and networkx from final_params alone.

EDGES = [(0, 1), (1, 2), (2, 3), (3, 0), (0, 2), (3, 4)]  # 5 nodes; max cut 5 (brute force below)
QAOA = (
    "+experiment=qaoa",
    "problem.edges=[" + ",".join(f"[{i},{j}]" for i, j in EDGES) + "]",
    "ansatz.p=1",
    "trainer.steps=3",
    "problem.samples=64",
)
CLASSIFIER = ("+experiment=classifier", "problem=moons", "problem.n_samples=40", "ansatz.layers=2", "trainer.steps=3")


def _train_and_evaluate(cwd, *train):
    proc = _py(cwd, "qjax.train", *train, "hydra.run.dir=trained")
    assert proc.returncode == 0, proc.stderr
    proc = _py(cwd, "qjax.evaluate", "run_dir=trained", "backend=simulator", "hydra.run.dir=evaluated")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    read = lambda d: json.loads((cwd / d / "result.json").read_text())  # noqa: E731
    return read("trained"), read("evaluated"), proc.stdout


def test_a_qaoa_run_evaluates_to_its_cut_figures(tmp_path):
    import itertools

    import networkx as nx

    from qjax.ir import ansatze

    trained, result, stdout = _train_and_evaluate(tmp_path, *QAOA)
    graph = nx.Graph(EDGES)
    n = graph.number_of_nodes()
    qc = to_qiskit(ansatze.qaoa(EDGES, n, 1, [1.0] * len(EDGES)), np.asarray(result["final_params"]))
    probs = Statevector(qc).probabilities()  # index b: qubit q is bit q of b

    def cut(bits):
        return nx.cut_size(graph, [q for q in range(n) if bits[q]])

    expected = sum(p * cut([(b >> q) & 1 for q in range(n)]) for b, p in enumerate(probs))
    max_cut = max(cut(bits) for bits in itertools.product((0, 1), repeat=n))
    assert max_cut == 5
    assert result["expected_cut"] == pytest.approx(expected, abs=1e-4)
    assert result["max_cut"] == max_cut and result["approx_ratio"] == pytest.approx(expected / max_cut, abs=1e-4)
    assert 0 <= result["best_sampled_cut"] <= max_cut
    assert result["expected_cut"] == pytest.approx(trained["expected_cut"], abs=1e-4)  # same simulator, same params
    assert "expected cut" in stdout and "ratio" in stdout and "exact" not in stdout


def _reupload_logits(params, x, wires, layers, classes):
    """Class logits ``scale * <Z_c>`` of the data re-uploading model, built gate by gate in Qiskit."""
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import SparsePauliOp

    num_angles = 2 * layers * wires  # rotations RY, RZ per layer and wire
    weights = params[num_angles : num_angles + layers * wires].reshape(layers, wires)
    qc = QuantumCircuit(wires)
    for layer in range(layers):
        for k in range(wires):
            qc.ry(weights[layer, k] * x[k % len(x)], k)
        for r, gate in enumerate((qc.ry, qc.rz)):
            for k in range(wires):
                gate(params[(layer * 2 + r) * wires + k], k)
        for k in range(wires - 1):  # ring == chain for 2 wires
            qc.cx(k, k + 1)
        if wires >= 3:
            qc.cx(wires - 1, 0)
    state = Statevector(qc)
    return np.array(
        [
            params[-1] * state.expectation_value(SparsePauliOp.from_sparse_list([("Z", [c], 1)], wires)).real
            for c in range(classes)
        ]
    )


def test_a_classifier_run_evaluates_to_its_accuracies(tmp_path):
    from omegaconf import OmegaConf

    from qjax.problems import datasets

    trained, result, stdout = _train_and_evaluate(tmp_path, *CLASSIFIER)
    data = datasets.load_dataset(
        OmegaConf.create(json.loads((tmp_path / "trained" / "manifest.json").read_text())["config"]["problem"])
    )
    params = np.asarray(result["final_params"])
    assert params.shape == (2 * 2 * 2 + 2 * 2 + 1,)  # angles, feature weights, scale: not the circuit's 8
    for x, y, key in ((data.x_train, data.y_train, "train_accuracy"), (data.x_test, data.y_test, "test_accuracy")):
        predicted = [int(np.argmax(_reupload_logits(params, xi, 2, 2, 2))) for xi in x]
        assert result[key] == pytest.approx(np.mean(np.asarray(predicted) == y)), key
        assert result[key] == pytest.approx(trained[key])
    assert result["num_test"] == len(data.y_test) and "test accuracy" in stdout


def test_a_vqe_run_evaluates_to_energy_against_exact(trained):
    proc = _py(trained, "qjax.evaluate", "run_dir=trained", "backend=simulator", "hydra.run.dir=vqe")
    assert proc.returncode == 0, proc.stderr
    result = json.loads((trained / "vqe" / "result.json").read_text())
    exact = float(np.linalg.eigvalsh(tfim(2).observable.to_qiskit(2).to_matrix())[0])
    assert result["exact_energy"] == pytest.approx(exact, abs=1e-6)
    assert result["error"] == pytest.approx(result["energy"] - exact, abs=1e-6)
    assert "energy" in proc.stdout and "exact" in proc.stdout


def test_a_hardware_run_evaluates_on_the_simulator_with_the_circuit_it_trained(tmp_path):
    """H2 trained on the noisy twin with the hardware defaults is tapered to one qubit (problem.taper=auto); on
    backend=simulator the same `auto` would not taper, so evaluate keeps the run's own resolved circuit: its energy
    is the 1-qubit tapered Hamiltonian's at the final parameters, checked against PennyLane's qml.taper."""
    import pennylane as qml

    proc = _py(
        tmp_path,
        "qjax.train",
        "+experiment=vqe",
        "backend=noisy_simulator",
        "backend.device=FakeManilaV2",
        "trainer.steps=3",
        "hydra.run.dir=hw",
    )
    assert proc.returncode == 0, proc.stderr
    proc = _py(tmp_path, "qjax.evaluate", "run_dir=hw", "backend=simulator", "hydra.run.dir=ideal")
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "ideal" / "result.json").read_text())
    manifest = json.loads((tmp_path / "ideal" / "manifest.json").read_text())
    assert manifest["config"]["problem"]["taper"] is True and len(result["final_params"]) == 1
    # independent: PennyLane tapers H2 (STO-3G, 0.7414 Å) itself; the tapered HF state is |1>, then RY(θ)
    symbols, geometry = ["H", "H"], np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.7414]]) / 0.529177210903
    h, qubits = qml.qchem.molecular_hamiltonian(symbols, geometry)
    generators = qml.symmetry_generators(h)
    paulixops = qml.paulix_ops(generators, qubits)
    sector = qml.qchem.optimal_sector(h, generators, 2)
    h1 = qml.taper(h, generators, paulixops, sector)
    tapered = np.real(qml.matrix(h1, wire_order=sorted(h1.wires)))
    assert tapered.shape == (2, 2)
    energies = np.linalg.eigvalsh(tapered)
    assert result["exact_energy"] == pytest.approx(energies[0], abs=1e-6)
    # the circuit is X then RY(θ) (parameters 0: the tapered Hartree–Fock state |1>): RY(θ)|1> = (−sin θ/2, cos θ/2)
    theta = result["final_params"][0]
    psi = np.array([-np.sin(theta / 2), np.cos(theta / 2)])
    assert result["energy"] == pytest.approx(psi @ tapered @ psi, abs=1e-5)
