"""Z2 tapering (qjax.problems.tapering) against exact diagonalisation and PennyLane's tapered circuits."""

import jax
import jax.numpy as jnp
import numpy as np
import pennylane as qml
import pytest

from qjax.ir.circuit import Circuit, Operation, Param
from qjax.problems import chemistry, tapering
from qjax.problems.base import basis_state_energy
from qjax.sim.compile import compile as compile_circuit

# Exact diagonalisation of the full (untapered) 4-qubit H2 Hamiltonian in the 2-electron sector, done here
# with dense matrices; tolerance 1e-8: both sides are float64 eigensolvers of small Hermitian matrices.
H2_BONDS = (0.5, 0.7414, 1.0, 1.5, 2.0)


def _sector_ground(problem) -> float:
    """Lowest eigenvalue of the full Hamiltonian among basis states with ``electrons`` ones (dense, here)."""
    n = problem.num_wires
    matrix = problem.observable.to_matrix(sparse=False, num_qubits=n)
    keep = [i for i in range(2**n) if bin(i).count("1") == problem.electrons]
    return float(np.linalg.eigvalsh(np.asarray(matrix)[np.ix_(keep, keep)]).min())


@pytest.fixture(scope="module")
def lih():
    """LiH (2e, 3o) at 3.0 Å, full and tapered (built once: PennyLane's tapering of 62 terms takes seconds)."""
    full = chemistry.lih(3.0)
    return full, tapering.taper(full)


@pytest.fixture(scope="module")
def h2_problems():
    return {r: chemistry.h2(r) for r in H2_BONDS}


@pytest.mark.parametrize("bond", H2_BONDS)
def test_h2_tapered_ground_energy_equals_full_sector_ground(h2_problems, bond):
    full = h2_problems[bond]
    tapered = tapering.taper(full)
    assert tapered.num_wires == 1 and tapered.tapering.qubits_before == 4
    ground = float(np.linalg.eigvalsh(np.asarray(tapered.observable.to_matrix(sparse=False))).min())
    assert ground == pytest.approx(_sector_ground(full), abs=1e-8)
    assert tapered.exact_energy == full.exact_energy  # exact_energy stays the full problem's


def test_lih_tapered_3_qubits_34_terms_same_ground(lih):
    full, tapered = lih
    info = tapered.tapering
    assert (info.qubits_before, info.qubits_after, info.terms_before, info.terms_after) == (6, 3, 62, 34)
    ground = float(np.linalg.eigvalsh(np.asarray(tapered.observable.to_matrix(sparse=False))).min())
    assert ground == pytest.approx(_sector_ground(full), abs=1e-8)
    described = info.describe()
    assert len(described["generators"]) == 3 and described["sector"] == [1, -1, -1]


def test_tapered_ucc_state_matches_pennylane(lih):
    """The tapered excitations laid out by qjax against PennyLane running qml.qchem.taper_operation's ops."""
    full, tapered = lih
    circuit = tapering.tapered_ucc(tapered)
    ham = full.observable.to_pennylane()
    generators = qml.symmetry_generators(ham)
    paulix = qml.paulix_ops(generators, full.num_wires)
    sector = qml.qchem.optimal_sector(ham, generators, full.electrons)
    singles, doubles = qml.qchem.excitations(full.electrons, full.num_wires)
    kept = list(tapered.tapering.kept)
    params = np.random.default_rng(0).normal(size=circuit.num_params)
    dev = qml.device("default.qubit", wires=kept)

    tapered_ops = []  # PennyLane's own tapered operators (Exp of Pauli words) at our parameters
    k = 0
    for kind, group in ((qml.DoubleExcitation, doubles), (qml.SingleExcitation, singles)):
        for wires in group:
            op = qml.qchem.taper_operation(
                kind, generators, paulix, sector, wire_order=range(full.num_wires), op_wires=wires
            )
            with qml.queuing.AnnotatedQueue() as q:
                op(params[min(k, len(params) - 1)])
            ops = qml.tape.QuantumScript.from_queue(q).operations
            if ops:  # an excitation that breaks the symmetry vanishes under tapering
                tapered_ops.extend(ops)
                k += 1
    assert k == circuit.num_params

    @qml.qnode(dev)
    def state():
        qml.BasisState(np.array(tapered.hf_state), wires=kept)
        for op in tapered_ops:
            qml.apply(op)
        return qml.state()

    expected = np.asarray(state())
    got = np.asarray(compile_circuit(circuit).state(jnp.asarray(params, jnp.float32)))
    assert abs(np.vdot(expected, got)) == pytest.approx(1.0, abs=1e-5)  # up to a global phase; complex64


def test_tapered_h2_vqe_reaches_exact_energy(h2_problems):
    tapered = tapering.taper(h2_problems[0.7414])
    circuit = tapering.tapered_ucc(tapered)
    assert circuit.num_params == 1
    expval = compile_circuit(circuit, tapered.observable).expval
    scan = jax.jit(jax.vmap(lambda t: expval(t[None])))  # one compile for every grid point
    grid = np.linspace(-np.pi, np.pi, 4001, dtype=np.float32)
    best = grid[int(np.argmin(np.asarray(scan(grid))))]
    fine = np.linspace(best - 0.002, best + 0.002, 401, dtype=np.float32)
    lowest = float(np.min(np.asarray(scan(fine))))
    assert lowest == pytest.approx(tapered.exact_energy, abs=2e-5)  # complex64 state, 1e-5 rad grid
    # parameters 0 prepare the tapered Hartree–Fock state: REM's reference
    hf_energy = basis_state_energy(tapered.observable, tapered.hf_state)
    assert float(expval(np.zeros(1, np.float32))) == pytest.approx(hf_energy, abs=1e-6)
    assert hf_energy == pytest.approx(basis_state_energy(h2_problems[0.7414].observable, (1, 1, 0, 0)), abs=1e-10)


@pytest.mark.parametrize(
    "word", [((0, "X"), (1, "Y")), ((0, "Z"), (1, "X"), (2, "Y")), ((1, "Y"),), ((0, "Y"), (2, "Z"))]
)
def test_pauli_rotation_matches_pennylane(word):
    """exp(-iθP/2) after a fixed entangling preparation, against PennyLane's PauliRot."""
    theta, prep = 0.7, [("H", 0, None), ("RY", 1, 0.4), ("CNOT", (0, 2), None), ("RX", 2, -1.1)]
    ops = [Operation(g, w if isinstance(w, tuple) else (w,), () if a is None else (a,)) for g, w, a in prep]
    circuit = Circuit(3, tuple(ops + tapering.pauli_rotation(Param(0), word)), num_params=1)
    got = np.asarray(compile_circuit(circuit).state(jnp.asarray([theta], jnp.float32)))
    dev = qml.device("default.qubit", wires=3)

    @qml.qnode(dev)
    def state():
        qml.Hadamard(0)
        qml.RY(0.4, 1)
        qml.CNOT((0, 2))
        qml.RX(-1.1, 2)
        qml.PauliRot(theta, "".join(p for _, p in word), wires=[w for w, _ in word])
        return qml.state()

    assert np.allclose(got, np.asarray(state()), atol=1e-6)  # global phase included; complex64 rounding


def test_taper_refuses_a_problem_without_electrons():
    from qjax.errors import ConfigError
    from qjax.problems import spin

    with pytest.raises(ConfigError, match="problem.taper=true"):
        tapering.taper(spin.tfim(4, 1.0, 1.0, False))
