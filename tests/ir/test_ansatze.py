"""qjax.ir.ansatze against PennyLane's templates and hand-built Qiskit circuits.

A template's unitary is computed by Qiskit (``Operator`` of ``to_qiskit``, reversed
into PennyLane's wire order); references come from PennyLane's own operations
(``qml.DoubleExcitation``, ``qml.AllSinglesDoubles``, ``qml.AngleEmbedding``,
``qml.qaoa`` layers) or from Qiskit circuits written out in the test.
"""

from __future__ import annotations

import numpy as np
import pennylane as qml
import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import Operator

from qjax.errors import CircuitError, WireError
from qjax.interop.qiskit import to_qiskit
from qjax.ir.ansatze import (
    angle_embedding,
    double_excitation,
    excitations,
    hardware_efficient,
    qaoa,
    single_excitation,
    ucc,
    uccsd,
)
from qjax.ir.circuit import Circuit, Param

# Rounding only: float64 products of at most a few hundred gates.
ATOL = 1e-9


def unitary(circuit: Circuit, params=None, x=None) -> np.ndarray:
    return Operator(to_qiskit(circuit, params, x)).reverse_qargs().data


def pennylane_matrix(ops, num_wires: int) -> np.ndarray:
    return qml.matrix(qml.tape.QuantumScript(ops), wire_order=range(num_wires))


@pytest.mark.parametrize("entangler", ["chain", "ring"])
@pytest.mark.parametrize("num_wires", [2, 3])
def test_hardware_efficient_matches_hand_built_qiskit(num_wires, entangler):
    layers, rotations = 2, ("RY", "RZ")
    c = hardware_efficient(num_wires, layers, rotations, entangler)
    assert c.num_params == layers * len(rotations) * num_wires
    params = np.random.default_rng(0).uniform(-np.pi, np.pi, c.num_params)
    qc, k = QuantumCircuit(num_wires), 0
    for _ in range(layers):
        for gate in (qc.ry, qc.rz):
            for w in range(num_wires):
                gate(params[k], w)
                k += 1
        for w in range(num_wires - 1):
            qc.cx(w, w + 1)
        if entangler == "ring" and num_wires >= 3:
            qc.cx(num_wires - 1, 0)
    np.testing.assert_allclose(unitary(c, params), Operator(qc).reverse_qargs().data, atol=ATOL)


def test_hardware_efficient_first_param_and_errors():
    c = hardware_efficient(2, 1, ("RX",), first_param=3)
    assert c.num_params == 5 and c.operations[0].angles == (Param(3),)
    with pytest.raises(CircuitError, match="entangler"):
        hardware_efficient(2, 1, entangler="all")
    with pytest.raises(CircuitError, match="rotation"):
        hardware_efficient(2, 1, rotations=("RQ",))
    with pytest.raises(CircuitError, match="layers"):
        hardware_efficient(2, 0)


@pytest.mark.parametrize("rotation", ["X", "Y", "Z"])
def test_angle_embedding_matches_pennylane(rotation):
    x = np.random.default_rng(1).uniform(-np.pi, np.pi, 3)
    c = angle_embedding(3, "R" + rotation)
    assert (c.num_params, c.num_inputs) == (0, 3)
    expected = pennylane_matrix([qml.AngleEmbedding(x, wires=range(3), rotation=rotation)], 3)
    np.testing.assert_allclose(unitary(c, x=x), expected, atol=ATOL)


def test_angle_embedding_first_input():
    c = angle_embedding(2, first_input=2)
    assert c.num_inputs == 4
    x = np.array([9.0, 9.0, 0.3, -0.8])
    expected = pennylane_matrix([qml.RY(0.3, 0), qml.RY(-0.8, 1)], 2)
    np.testing.assert_allclose(unitary(c, x=x), expected, atol=ATOL)


@pytest.mark.parametrize("wires", [(0, 1), (2, 0)])
def test_single_excitation_is_exactly_pennylanes(wires):
    for theta in (0.37, -2.4):  # exact equality: no global phase slack
        c = Circuit(3, tuple(single_excitation(theta, wires)))
        expected = pennylane_matrix([qml.SingleExcitation(theta, wires=wires)], 3)
        np.testing.assert_allclose(unitary(c), expected, atol=ATOL)


@pytest.mark.parametrize("wires", [(0, 1, 2, 3), (3, 0, 2, 1)])
def test_double_excitation_is_exactly_pennylanes(wires):
    # The angle is itself a linear expression: 2*p0 + 0.1 enters eight RY gates as ±(2*p0 + 0.1)/8.
    c = Circuit(4, tuple(double_excitation(2 * Param(0) + 0.1, wires)))
    assert c.num_params == 1 and c.gate_counts()["RY"] == 8
    for p in (0.25, -1.3):
        expected = pennylane_matrix([qml.DoubleExcitation(2 * p + 0.1, wires=wires)], 4)
        np.testing.assert_allclose(unitary(c, [p]), expected, atol=ATOL)


def test_excitation_gates_check_wires():
    with pytest.raises(WireError, match="4 distinct wires"):
        double_excitation(0.1, (0, 1, 1, 2))
    with pytest.raises(WireError, match="2 distinct wires"):
        single_excitation(0.1, (0, 1, 2))


@pytest.mark.parametrize("electrons,orbitals", [(1, 4), (2, 4), (2, 6), (3, 6), (4, 8)])
def test_excitations_match_qchem(electrons, orbitals):
    assert excitations(electrons, orbitals) == tuple(qml.qchem.excitations(electrons, orbitals))


def test_uccsd_h2_layout():
    c = uccsd(4, 2)
    assert c.num_params == 3  # 1 double + 2 singles
    assert [op.gate for op in c.operations[:2]] == ["X", "X"]
    assert c.gate_counts()["RY"] == 8 + 2 * 2
    assert ucc is uccsd


@pytest.mark.parametrize("num_wires,electrons", [(4, 2), (6, 2), (6, 4)])
def test_uccsd_matches_all_singles_doubles(num_wires, electrons):
    c = uccsd(num_wires, electrons)
    singles, doubles = qml.qchem.excitations(electrons, num_wires)
    weights = np.random.default_rng(3).uniform(-np.pi, np.pi, len(singles) + len(doubles))
    hf = qml.qchem.hf_state(electrons, num_wires)
    reference = qml.AllSinglesDoubles(weights, range(num_wires), hf, singles=singles, doubles=doubles)
    # Compare states from |0..0>: the HF preparation (BasisState) is only defined on that input.
    state = unitary(c, weights)[:, 0]
    expected = pennylane_matrix([reference], num_wires)[:, 0]
    np.testing.assert_allclose(state, expected, atol=ATOL)


def test_uccsd_custom_excitations_and_errors():
    c = uccsd(4, 2, singles=[[1, 3]], doubles=[])
    assert c.num_params == 1
    with pytest.raises(CircuitError, match="electrons"):
        uccsd(4, 4)


@pytest.mark.parametrize("weighted", [False, True])
def test_qaoa_matches_pennylane_layers(weighted):
    edges, n, p = [(0, 1), (1, 2), (2, 3), (0, 3), (0, 2)], 4, 2
    rng = np.random.default_rng(4)
    weights = rng.uniform(0.5, 2.0, len(edges)) if weighted else np.ones(len(edges))
    c = qaoa(edges, n, p, weights=weights if weighted else None)
    assert c.num_params == 2 * p
    params = rng.uniform(-np.pi, np.pi, 2 * p)
    gammas, betas = params[:p], params[p:]
    # PennyLane's layers are exp(-i γ H): the docstring's H_P = Σ w Z_i Z_j and mixer Σ X.
    cost_h = qml.Hamiltonian(list(weights), [qml.PauliZ(i) @ qml.PauliZ(j) for i, j in edges])
    mixer_h = qml.Hamiltonian([1.0] * n, [qml.PauliX(w) for w in range(n)])
    ops = [qml.Hadamard(w) for w in range(n)]
    for g, b in zip(gammas, betas):
        ops += [qml.qaoa.cost_layer(g, cost_h), qml.qaoa.mixer_layer(b, mixer_h)]
    expected = pennylane_matrix(ops, n)
    np.testing.assert_allclose(unitary(c, params), expected, atol=ATOL)


def test_qaoa_cost_layer_is_cut_rotation():
    # exp(-iγ H_P) = e^{-iγW} exp(2iγC) with C = Σ w (1 - Z Z)/2, checked on the diagonal by brute force.
    edges, weights, n, gamma = [(0, 1), (1, 2)], [1.5, 0.5], 3, 0.7
    c = Circuit(n, tuple(op for op in qaoa(edges, n, 1, weights).operations if op.gate == "RZZ"))
    diag = np.diag(unitary(c, [gamma]))
    bits = [[(k >> (n - 1 - w)) & 1 for w in range(n)] for k in range(2**n)]  # wire 0 = MSB
    cut = np.array([sum(w for (i, j), w in zip(edges, weights) if b[i] != b[j]) for b in bits])
    np.testing.assert_allclose(diag, np.exp(-1j * gamma * sum(weights)) * np.exp(2j * gamma * cut), atol=ATOL)


def test_qaoa_errors():
    with pytest.raises(WireError, match="edge"):
        qaoa([(0, 0)], 2, 1)
    with pytest.raises(WireError, match="edge"):
        qaoa([(0, 5)], 2, 1)
    with pytest.raises(CircuitError, match="one weight per edge"):
        qaoa([(0, 1)], 2, 1, weights=[1.0, 2.0])


def test_hardware_efficient_device_entangler_equals_hand_built_qiskit():
    """entangler='device': the rotations, then CNOT on each given pair in order (a tree, not a chain)."""
    rng = np.random.default_rng(7)
    pairs = [(0, 2), (2, 1), (2, 3)]
    params = rng.normal(size=2 * 2 * 4)
    circuit = hardware_efficient(4, 2, rotations=("RY", "RZ"), entangler="device", pairs=pairs)
    qc = QuantumCircuit(4)
    k = 0
    for _ in range(2):
        for gate in ("ry", "rz"):
            for w in range(4):
                getattr(qc, gate)(params[k], w)
                k += 1
        for a, b in pairs:
            qc.cx(a, b)
    np.testing.assert_allclose(unitary(circuit, params), Operator(qc).reverse_qargs().data, atol=ATOL)
    single = hardware_efficient(1, 3, entangler="device", pairs=[])  # one wire: rotations only
    assert single.num_params == 6 and all(len(op.wires) == 1 for op in single.operations)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"entangler": "device"}, CircuitError),  # no pairs
        ({"entangler": "chain", "pairs": [(0, 1)]}, CircuitError),  # pairs only with device
        ({"entangler": "device", "pairs": [(0, 0)]}, WireError),
        ({"entangler": "device", "pairs": [(0, 5)]}, WireError),
    ],
)
def test_hardware_efficient_device_entangler_refusals(kwargs, error):
    with pytest.raises(error):
        hardware_efficient(3, 1, **kwargs)
