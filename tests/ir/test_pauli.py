"""PauliSum: parsing, arithmetic, converters and matrix-free expectations vs Qiskit/PennyLane."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pennylane as qml
import pytest
from qiskit.quantum_info import SparsePauliOp, Statevector

from qjax.errors import ObservableError
from qjax.ir.pauli import PauliSum
from qjax.sim.pauli import expval_plan, plan_apply

PAULI = {"I": np.eye(2), "X": np.array([[0, 1], [1, 0]]), "Y": np.array([[0, -1j], [1j, 0]]), "Z": np.diag([1, -1])}


def random_terms(rng, n, num_terms):
    """Random ``(coeff, {wire: pauli})`` terms on n wires (identity words included)."""
    terms = []
    for _ in range(num_terms):
        k = rng.integers(0, n + 1)
        wires = rng.choice(n, k, replace=False)
        terms.append((float(rng.normal()), {int(w): str(rng.choice(list("XYZ"))) for w in wires}))
    return terms


def qiskit_op(terms, n):
    """The test's own SparsePauliOp: Qiskit label position n-1-w holds wire w's Pauli."""
    labels = []
    for _, word in terms:
        chars = ["I"] * n
        for w, p in word.items():
            chars[n - 1 - w] = p
        labels.append("".join(chars))
    return SparsePauliOp(labels, [c for c, _ in terms])


def dense_matrix(terms, n):
    """Independent dense matrix by Kronecker products, wire 0 leftmost (most significant)."""
    out = np.zeros((2**n, 2**n), complex)
    for c, word in terms:
        out += c * functools.reduce(np.kron, [PAULI[word.get(w, "I")] for w in range(n)])
    return out


def random_state(rng, n):
    v = rng.normal(size=2**n) + 1j * rng.normal(size=2**n)
    return v / np.linalg.norm(v)


# -- construction and arithmetic -------------------------------------------------


def test_from_string_reads_wires_explicitly():
    h = PauliSum.from_string("0.5 Z0 Z1 - 1.2 X2 + 0.3")
    assert h.num_wires == 3
    assert set(h.terms) == {(0.5, ((0, "Z"), (1, "Z"))), (-1.2, ((2, "X"),)), (0.3, ())}
    assert PauliSum.from_string("-Z0*Y3 + -2e-3 X0 @ X1") == PauliSum([(-1, {0: "Z", 3: "Y"}), (-2e-3, "X0 X1")])


def test_equivalent_constructors_agree_and_merge():
    a = PauliSum.from_string("0.5 Z0 Z1 - 1.2 X2 + 0.3")
    b = PauliSum([(0.3, {}), (0.5, {1: "Z", 0: "Z"}), (-1.2, [(2, "X")])])
    c = PauliSum({"Z0 Z1": 0.5, "X2": -1.2, "": 0.3})
    d = PauliSum.from_string("0.25 Z0 Z1 + 0.25 Z1 Z0 - 1.2 X2 + 0.3 + X1 - X1")
    assert a == b == c == d and len({hash(a), hash(b), hash(c), hash(d)}) == 1
    assert eval(repr(a), {"PauliSum": PauliSum}) == a  # repr round-trips


def test_num_wires_counts_identities_and_can_be_given():
    assert PauliSum.from_string("Z0 I4").num_wires == 5
    assert PauliSum.from_string("Z1", num_wires=6).num_wires == 6
    with pytest.raises(ObservableError, match="num_wires=1 but the Pauli sum names wire 2"):
        PauliSum.from_string("X2", num_wires=1)


def test_arithmetic():
    a, b = PauliSum.from_string("Z0 + 2 X1"), PauliSum.from_string("0.5 Z0 - Y2")
    assert a + b == PauliSum.from_string("1.5 Z0 + 2 X1 - Y2")
    assert a - b == PauliSum.from_string("0.5 Z0 + 2 X1 + Y2")
    assert 2 * a == a * 2 == PauliSum.from_string("2 Z0 + 4 X1") and a / 2 == 0.5 * a
    assert a + 1 == 1 + a == PauliSum.from_string("1 + Z0 + 2 X1")
    assert sum([a, b]) == a + b
    assert len(a - a) == 0
    with pytest.raises(ObservableError, match="complex"):
        a * 1j
    with pytest.raises(AttributeError, match="immutable"):
        a._terms = ()


@pytest.mark.parametrize(
    "text, match",
    [
        ("Z0 Z0", "wire 0 appears twice"),
        ("0.5 Q1", "cannot read"),
        ("Z0 +", "no term after"),
        ("Z0 0.5", "missing '\\+' or '-'"),
        ("", "empty Pauli string"),
    ],
)
def test_bad_strings_are_refused(text, match):
    with pytest.raises(ObservableError, match=match):
        PauliSum.from_string(text)


def test_complex_coefficients_are_refused():
    with pytest.raises(ObservableError, match="Hermitian"):
        PauliSum([(0.5 + 0.2j, "Z0")])
    with pytest.raises(ObservableError, match="Hermitian"):
        PauliSum.from_qiskit(SparsePauliOp(["XY"], [1j]))
    # round-off-sized imaginary parts (as from chemistry packages) are accepted
    assert PauliSum([(0.5 + 1e-17j, "Z0")]) == PauliSum.from_string("0.5 Z0")


# -- Qiskit -----------------------------------------------------------------------


def test_qiskit_wire_convention_from_design():
    # DESIGN "Qubit order": SparsePauliOp("ZI") is Z on Qiskit qubit 1 -> Z on wire 1.
    assert PauliSum.from_qiskit(SparsePauliOp("ZI")) == PauliSum.from_string("Z1", num_wires=2)
    assert PauliSum.from_string("X0 Y2").to_qiskit().equiv(SparsePauliOp("YIX"))


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_qiskit_round_trip_and_expectations(n):
    rng = np.random.default_rng(n)
    terms = random_terms(rng, n, 8)
    op = qiskit_op(terms, n)
    h = PauliSum.from_qiskit(op)
    assert h.num_wires == n
    assert h.to_qiskit().equiv(op)
    assert PauliSum.from_qiskit(h.to_qiskit()) == h
    for _ in range(3):
        sv = Statevector(random_state(rng, n))
        expected = sv.expectation_value(op).real
        # qjax's state order is Qiskit's with qubits reversed (DESIGN "Qubit order").
        with jax.enable_x64(True):
            got = float(h.expval(jnp.asarray(sv.reverse_qargs().data)))
        assert abs(got - expected) < 1e-12  # float64 on both sides: round-off only
        got32 = float(h.expval(jnp.asarray(sv.reverse_qargs().data, jnp.complex64)))
        # complex64: ~8 terms, |coeff| ~ 1, float32 sums over 2**n amplitudes
        assert abs(got32 - expected) < 1e-5


def test_to_qiskit_can_widen():
    op = PauliSum.from_string("Z1").to_qiskit(num_qubits=4)
    assert op.num_qubits == 4 and op.equiv(SparsePauliOp("IIZI"))
    with pytest.raises(ObservableError):
        PauliSum.from_string("Z3").to_qiskit(num_qubits=2)


# -- PennyLane ----------------------------------------------------------------------


def pennylane_op(terms):
    ops = [
        qml.prod(*[getattr(qml, "Pauli" + p)(w) for w, p in word.items()]) if word else qml.Identity(0)
        for _, word in terms
    ]
    return qml.Hamiltonian([c for c, _ in terms], ops)


@pytest.mark.parametrize("n", [1, 3, 4])
def test_pennylane_conversion_and_expectations(n):
    rng = np.random.default_rng(10 + n)
    terms = random_terms(rng, n, 7)
    h_pl = pennylane_op(terms)
    h = PauliSum.from_pennylane(h_pl)
    assert h == PauliSum(terms)
    state = random_state(rng, n)
    dev = qml.device("default.qubit", wires=n)

    @qml.qnode(dev)
    def expval(op):
        qml.StatePrep(state, wires=range(n))
        return qml.expval(op)

    expected = float(expval(h_pl))
    with jax.enable_x64(True):
        got = float(h.expval(jnp.asarray(state)))
    assert abs(got - expected) < 1e-12  # float64 on both sides
    assert abs(float(expval(h.to_pennylane())) - expected) < 1e-12
    assert PauliSum.from_pennylane(h.to_pennylane()) == h


def test_pennylane_single_ops_and_wire_checks():
    assert PauliSum.from_pennylane(qml.PauliZ(2)) == PauliSum.from_string("Z2")
    assert PauliSum.from_pennylane(0.5 * qml.PauliX(0) @ qml.PauliY(1)) == PauliSum.from_string("0.5 X0 Y1")
    assert PauliSum.from_pennylane(qml.Identity(3)).num_wires == 4
    with pytest.raises(ObservableError, match="wire 'a' is not a non-negative integer"):
        PauliSum.from_pennylane(qml.PauliZ("a"))
    with pytest.raises(ObservableError, match="not a sum of Pauli words"):
        PauliSum.from_pennylane(qml.Hermitian(np.eye(2), wires=0))


# -- matrices and ground energies -------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 4])
def test_to_matrix_matches_pennylane_qiskit_and_kron(n):
    rng = np.random.default_rng(20 + n)
    terms = random_terms(rng, n, 6)
    h = PauliSum(terms, num_wires=n)
    m = h.to_matrix(sparse=True).toarray()
    np.testing.assert_allclose(m, dense_matrix(terms, n), atol=1e-12)
    np.testing.assert_allclose(m, qml.matrix(pennylane_op(terms), wire_order=range(n)), atol=1e-12)
    # Qiskit's own matrix is little-endian; reversing its qargs gives wire 0 = MSB.
    np.testing.assert_allclose(m, qiskit_op(terms, n).to_operator().reverse_qargs().data, atol=1e-12)
    np.testing.assert_allclose(h.to_matrix(sparse=False), m, atol=0)


def test_plan_apply_is_the_matrix_action():
    rng = np.random.default_rng(5)
    n = 4
    terms = random_terms(rng, n, 10)
    state = random_state(rng, n)
    with jax.enable_x64(True):
        got = plan_apply(jnp.asarray(state).reshape((2,) * n), expval_plan(PauliSum(terms), n))
        np.testing.assert_allclose(np.asarray(got).reshape(-1), dense_matrix(terms, n) @ state, atol=1e-12)


@pytest.mark.parametrize("n", [1, 3, 6])
def test_ground_energy_dense_path(n):
    rng = np.random.default_rng(30 + n)
    terms = random_terms(rng, n, 10)
    expected = np.linalg.eigvalsh(dense_matrix(terms, n)).min()
    assert abs(PauliSum(terms, num_wires=n).ground_energy() - expected) < 1e-10


def test_ground_energy_sparse_path_11_qubits():
    # TFIM ring: beyond the 10-qubit dense threshold, so eigsh runs; the oracle is
    # numpy's dense eigvalsh of Qiskit's independently built matrix.
    n = 11
    labels = [("ZZ", [i, (i + 1) % n], -1.0) for i in range(n)] + [("X", [i], -0.7) for i in range(n)]
    op = SparsePauliOp.from_sparse_list(labels, num_qubits=n)
    matrix = op.to_matrix()
    assert np.abs(matrix.imag).max() == 0  # real symmetric: the cheaper real eigvalsh is exact here
    expected = np.linalg.eigvalsh(matrix.real).min()
    assert abs(PauliSum.from_qiskit(op).ground_energy() - expected) < 1e-8  # Lanczos converged to 1e-8


def test_ground_energy_z_only_vs_brute_force():
    rng = np.random.default_rng(7)
    n = 7
    edges = [(i, j, float(rng.normal())) for i in range(n) for j in range(i + 1, n) if rng.random() < 0.5]
    h = PauliSum([(w, {i: "Z", j: "Z"}) for i, j, w in edges] + [(0.3, {0: "Z"})])
    best = min(
        sum(w * (1 - 2 * (b[i] ^ b[j])) for i, j, w in edges) + 0.3 * (1 - 2 * b[0]) for b in np.ndindex(*(2,) * n)
    )
    assert abs(h.ground_energy() - best) < 1e-10
    assert h.is_diagonal and not PauliSum.from_string("X0").is_diagonal
    with pytest.raises(ObservableError, match="Z-only"):
        PauliSum.from_string("X0").diagonal()
