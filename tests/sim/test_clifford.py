"""Trailing Clifford gates absorbed into the observable (qjax.sim.clifford).

The oracles are PennyLane's gate and observable matrices (C† H C computed densely)
and PennyLane default.qubit on the whole circuit (energies, gradients, states); the
set of gates found Clifford is checked against the textbook list.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pennylane as qml
import pytest
from oracles import (
    METHODS,
    ORACLES,
    pennylane_expval_and_grad,
    pennylane_hamiltonian,
    pennylane_state,
    qjax_circuit,
    random_ops,
    random_pauli_terms,
)
from scipy.stats import unitary_group

from qjax.ir.circuit import Circuit, Operation
from qjax.ir.gates import GATES
from qjax.ir.pauli import PauliSum
from qjax.sim import clifford
from qjax.sim.compile import compile
from qjax.sim.program import lower

# Angle-free gates of at most two wires that map Paulis to Paulis (Nielsen & Chuang 10.5).
TEXTBOOK_CLIFFORD = {"I", "H", "X", "Y", "Z", "S", "Sdg", "SX", "CNOT", "CY", "CZ", "SWAP", "iSWAP"}
# A Clifford two-wire Unitary: (H ⊗ S) · CNOT, wire 0 most significant.
CLIFFORD_UNITARY = np.kron(np.array([[1, 1], [1, -1]]) / np.sqrt(2), np.diag([1, 1j])) @ np.array(
    [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]]
)


def pauli_matrix(word: str):
    return functools.reduce(
        np.kron, [qml.matrix(getattr(qml, "Pauli" + p)(0)) if p != "I" else np.eye(2) for p in word]
    )


def one_step(name, matrix=None):
    k = GATES[name].num_wires if matrix is None else int(np.log2(len(matrix)))
    program = lower(Circuit(k, (Operation(name, tuple(range(k)), (), matrix),)), jnp.complex64)
    return program.steps[0]


@pytest.mark.parametrize("name", sorted(g for g, s in GATES.items() if s.num_params == 0 and g != "Unitary"))
def test_pauli_images_against_pennylane_matrices(name):
    images = clifford.pauli_images(one_step(name))
    assert (images is not None) == (name in TEXTBOOK_CLIFFORD), name
    if images is None:
        return
    k = GATES[name].num_wires
    g = qml.matrix(ORACLES[name][0](wires=list(range(k))), wire_order=list(range(k)))
    for word, (sign, image) in images.items():
        np.testing.assert_allclose(g.conj().T @ pauli_matrix(word) @ g, sign * pauli_matrix(image), atol=1e-6)


def test_unitaries_are_absorbed_only_when_clifford():
    assert clifford.pauli_images(one_step("Unitary", CLIFFORD_UNITARY)) is not None
    random = unitary_group.rvs(4, random_state=np.random.default_rng(3))
    assert clifford.pauli_images(one_step("Unitary", random)) is None
    assert clifford.pauli_images(one_step("Unitary", np.kron(CLIFFORD_UNITARY, np.eye(2)))) is None  # too wide


def clifford_tail(rng, n, length):
    """Random angle-free Clifford ops (op-list form of test_sim) on n wires."""
    names = sorted(TEXTBOOK_CLIFFORD) + ["Unitary"]
    ops = []
    for name in rng.choice(names, length):
        k = 2 if name == "Unitary" else GATES[name].num_wires
        wires = tuple(int(w) for w in rng.choice(n, k, replace=False))
        ops.append((str(name), wires, [], CLIFFORD_UNITARY if name == "Unitary" else None))
    return ops


def dense_matrix(n, ops):
    from oracles import pennylane_ops

    return qml.matrix(lambda: pennylane_ops(ops, [], []), wire_order=list(range(n)))()


def test_conjugated_sum_equals_dense_conjugation():
    rng, n = np.random.default_rng(11), 4
    for _trial in range(5):
        ops = clifford_tail(rng, n, 12)
        terms = random_pauli_terms(rng, n, 6)
        head, tail = clifford.split_tail(lower(qjax_circuit(n, ops, 0, 0), jnp.complex64))
        assert not head.steps and len(tail) == len(ops)  # all Clifford: all absorbed
        got = clifford.conjugate(PauliSum(terms), tail)
        c = dense_matrix(n, ops)
        want = c.conj().T @ qml.matrix(pennylane_hamiltonian(terms), wire_order=list(range(n))) @ c
        got_terms = [(coeff, dict(word)) for coeff, word in got.terms]
        np.testing.assert_allclose(
            qml.matrix(pennylane_hamiltonian(got_terms), wire_order=list(range(n))), want, atol=1e-6
        )
        assert len(got) <= len(terms)  # word to word: merges only, never spreads


def test_a_non_clifford_gate_blocks_its_wires_only():
    ops = [
        ("RY", (0,), [(((0, 1.0),), (), 0.0)], None),
        ("CNOT", (0, 1), [], None),
        ("CNOT", (1, 2), [], None),
        ("T", (1,), [], None),
        ("H", (2,), [], None),
        ("CZ", (0, 3), [], None),
        ("X", (3,), [], None),
    ]
    program = lower(qjax_circuit(4, ops, 1, 0), jnp.complex64)
    head, tail = clifford.split_tail(program)
    # T on wire 1 stays, so CNOT(1,2) before it stays (it would have to pass T), and
    # with it CNOT(0,1) and RY; H(2) after T, CZ(0,3) and X(3) touch nothing later that stays.
    assert [(s.gate, s.wires) for s in head.steps] == [("RY", (0,)), ("CNOT", (0, 1)), ("CNOT", (1, 2)), ("T", (1,))]
    assert [(s.gate, s.wires) for s in tail] == [("X", (3,)), ("CZ", (0, 3)), ("H", (2,))]


@pytest.mark.parametrize("method", METHODS)
def test_circuit_with_clifford_tail_matches_pennylane(method):
    rng, n, P, F = np.random.default_rng(5), 4, 5, 2
    body = random_ops(rng, n, 4, P, F)
    ops = body + clifford_tail(rng, n, 8)
    terms = random_pauli_terms(rng, n, 7)
    p, x = rng.uniform(-np.pi, np.pi, P), rng.uniform(-1, 1, F)
    circuit = qjax_circuit(n, ops, P, F)
    _, tail = clifford.split_tail(lower(circuit, jnp.complex64))
    assert len(tail) >= 8  # the tail at least (body gates may join it)
    compiled = compile(circuit, PauliSum(terms), gradient=method)
    value, (gp, gx) = jax.value_and_grad(compiled.expval, argnums=(0, 1))(
        jnp.asarray(p, jnp.float32), jnp.asarray(x, jnp.float32)
    )
    want, want_gp, want_gx = pennylane_expval_and_grad(n, ops, terms, p, x)
    scale = sum(abs(c) for c, _ in terms)
    assert abs(float(value) - want) < 2e-5 * scale
    np.testing.assert_allclose(gp, want_gp, atol=5e-5 * scale)
    np.testing.assert_allclose(gx, want_gx, atol=5e-5 * scale)
    # state() still runs the whole circuit
    state = compiled.state(jnp.asarray(p, jnp.float32), jnp.asarray(x, jnp.float32))
    np.testing.assert_allclose(state, pennylane_state(n, ops, p, x), atol=2e-5)
