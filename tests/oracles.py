"""Independent references shared by the tests: PennyLane default.qubit and Qiskit for gates,
states, expectation values and gradients, and the random circuits they are checked on.

Test modules import these from here, never from each other.
"""

import numpy as np
import pennylane as qml
from pennylane import numpy as pnp
from qiskit import QuantumCircuit
from qiskit.circuit import library as ql
from qiskit.quantum_info import SparsePauliOp, Statevector
from scipy.stats import unitary_group

from qjax.ir.circuit import Circuit, Input, Operation, Param
from qjax.ir.gates import GATES

# gate name -> (PennyLane constructor taking (*angles, wires=...), Qiskit gate class)
ORACLES = {
    "I": (qml.Identity, ql.IGate),
    "H": (qml.Hadamard, ql.HGate),
    "X": (qml.PauliX, ql.XGate),
    "Y": (qml.PauliY, ql.YGate),
    "Z": (qml.PauliZ, ql.ZGate),
    "S": (qml.S, ql.SGate),
    "Sdg": (lambda wires: qml.adjoint(qml.S(wires=wires)), ql.SdgGate),
    "T": (qml.T, ql.TGate),
    "Tdg": (lambda wires: qml.adjoint(qml.T(wires=wires)), ql.TdgGate),
    "SX": (qml.SX, ql.SXGate),
    "RX": (qml.RX, ql.RXGate),
    "RY": (qml.RY, ql.RYGate),
    "RZ": (qml.RZ, ql.RZGate),
    "PhaseShift": (qml.PhaseShift, ql.PhaseGate),
    "U3": (qml.U3, ql.U3Gate),
    "CNOT": (qml.CNOT, ql.CXGate),
    "CY": (qml.CY, ql.CYGate),
    "CZ": (qml.CZ, ql.CZGate),
    "SWAP": (qml.SWAP, ql.SwapGate),
    "iSWAP": (qml.ISWAP, ql.iSwapGate),
    "CRX": (qml.CRX, ql.CRXGate),
    "CRY": (qml.CRY, ql.CRYGate),
    "CRZ": (qml.CRZ, ql.CRZGate),
    "CPhase": (qml.ControlledPhaseShift, ql.CPhaseGate),
    "RXX": (qml.IsingXX, ql.RXXGate),
    "RYY": (qml.IsingYY, ql.RYYGate),
    "RZZ": (qml.IsingZZ, ql.RZZGate),
    "Toffoli": (qml.Toffoli, ql.CCXGate),
    "CSWAP": (qml.CSWAP, ql.CSwapGate),
}


METHODS = ("backprop", "adjoint", "parameter_shift")


# -- random circuits and their independent oracles ---------------------------------------


def random_angle(rng, num_params, num_inputs):
    """``(param_terms, input_terms, offset)``: one of the angle shapes users write."""
    i, i2 = (int(v) for v in rng.integers(0, num_params, 2))
    a, b, c = (float(v) for v in rng.normal(size=3))
    kinds = [((), (), c), (((i, 1.0),), (), 0.0), (((i, a),), (), b), (((i, a), (i2, b)), (), c)]
    if num_inputs:
        j = int(rng.integers(0, num_inputs))
        kinds += [((), ((j, 1.0),), 0.0), (((i, a),), ((j, b),), c)]
    return kinds[rng.integers(len(kinds))]


def random_ops(rng, n, extra, num_params, num_inputs):
    """Every gate that fits on n wires (and a Unitary), plus ``extra`` random ones, shuffled."""
    names = [g for g, s in GATES.items() if g != "Unitary" and s.num_wires <= n] + ["Unitary"]
    names = names + [str(g) for g in rng.choice(names, extra)]
    rng.shuffle(names)
    ops = []
    for name in names:
        k = GATES[name].num_wires if name != "Unitary" else int(rng.integers(1, min(n, 3) + 1))
        wires = tuple(int(w) for w in rng.choice(n, k, replace=False))
        angles = [random_angle(rng, num_params, num_inputs) for _ in range(GATES[name].num_params)]
        matrix = unitary_group.rvs(2**k, random_state=rng) if name == "Unitary" else None
        ops.append((name, wires, angles, matrix))
    return ops


def qjax_circuit(n, ops, num_params, num_inputs):
    operations = []
    for name, wires, angles, matrix in ops:
        qangles = [
            sum((a * Param(i) for i, a in ps), 0.0) + sum((b * Input(j) for j, b in xs), 0.0) + c
            for ps, xs, c in angles
        ]
        operations.append(Operation(name, wires, tuple(qangles), matrix))
    return Circuit(n, tuple(operations), num_params=num_params, num_inputs=num_inputs)


def angle_value(angle, p, x):
    ps, xs, c = angle
    return sum(a * p[i] for i, a in ps) + sum(b * x[j] for j, b in xs) + c


def pennylane_ops(ops, p, x):
    for name, wires, angles, matrix in ops:
        if name == "Unitary":
            qml.QubitUnitary(matrix, wires=list(wires))
        else:
            ORACLES[name][0](*[angle_value(a, p, x) for a in angles], wires=list(wires))


def pennylane_state(n, ops, p, x):
    @qml.qnode(qml.device("default.qubit", wires=n))
    def circuit():
        pennylane_ops(ops, p, x)
        return qml.state()

    return np.asarray(circuit())


def qiskit_state(n, ops, p, x):
    qc = QuantumCircuit(n)
    for name, wires, angles, matrix in ops:
        if name == "Unitary":
            # Qiskit reads a matrix little-endian (its first qubit least significant); ours
            # has the first wire most significant, so the qubit list is reversed.
            qc.unitary(matrix, list(reversed(wires)))
        else:
            qc.append(ORACLES[name][1](*[angle_value(a, p, x) for a in angles]), list(wires))
    return Statevector(qc).reverse_qargs().data  # DESIGN "Qubit order"


def random_problem(seed, n, extra=None, num_params=5, num_inputs=2):
    rng = np.random.default_rng(seed)
    ops = random_ops(rng, n, 2 * n if extra is None else extra, num_params, num_inputs)
    p = rng.uniform(-np.pi, np.pi, num_params)
    x = rng.uniform(-1, 1, num_inputs)
    return rng, ops, qjax_circuit(n, ops, num_params, num_inputs), p, x


def random_pauli_terms(rng, n, num_terms):
    terms = []
    for _ in range(num_terms):
        wires = rng.choice(n, rng.integers(1, n + 1), replace=False)
        terms.append((float(rng.normal()), {int(w): str(rng.choice(list("XYZ"))) for w in wires}))
    return terms


def pennylane_hamiltonian(terms):
    ops = [qml.prod(*[getattr(qml, "Pauli" + q)(w) for w, q in word.items()]) for _, word in terms]
    return qml.Hamiltonian([c for c, _ in terms], ops)


def fidelity(a, b):
    return abs(np.vdot(a, b)) ** 2 / (np.vdot(a, a).real * np.vdot(b, b).real)


def pennylane_expval_and_grad(n, ops, terms, p, x):
    @qml.qnode(qml.device("default.qubit", wires=n), diff_method="backprop")
    def energy(p, x):
        pennylane_ops(ops, p, x)
        return qml.expval(pennylane_hamiltonian(terms))

    p, x = pnp.array(p, requires_grad=True), pnp.array(x, requires_grad=True)
    gp, gx = qml.grad(energy, argnums=[0, 1])(p, x)
    return float(energy(p, x)), np.asarray(gp), np.asarray(gx)


def qiskit_expval(state, terms, n):
    # Qiskit labels are little-endian: wire w sits at label position n-1-w.
    labels = ["".join(word.get(n - 1 - pos, "I") for pos in range(n)) for _, word in terms]
    sv = Statevector(state).reverse_qargs()  # back to Qiskit's own qubit order
    return sv.expectation_value(SparsePauliOp(labels, [c for c, _ in terms])).real
