"""qjax.interop.qiskit against Qiskit's own operators and PennyLane's gate matrices.

Reference semantics of a qjax Circuit: each operation is rebuilt as the PennyLane
gate of the same meaning (names from PennyLane's docs, not from qjax's converters)
and ``qml.matrix`` gives the unitary in qjax/PennyLane wire order. Qiskit circuits
are read through ``Operator(qc).reverse_qargs()``, which is in the same order.
"""

from __future__ import annotations

import numpy as np
import pennylane as qml
import pytest
from qiskit import QuantumCircuit, qasm2, qasm3
from qiskit.circuit import Gate, Parameter, ParameterVector
from qiskit.circuit.library import QFTGate, U1Gate, U3Gate, UnitaryGate
from qiskit.circuit.random import random_circuit
from qiskit.quantum_info import Operator, Statevector, random_unitary

from qjax.errors import ConversionError, ParameterShapeError
from qjax.interop.qiskit import from_qasm, from_qiskit, to_qasm, to_qiskit
from qjax.ir.circuit import Circuit, Input, Operation, Param
from qjax.ir.gates import GATES

# Rounding only: every path is float64 matrix products of at most a few hundred gates.
ATOL = 1e-9

_PENNYLANE = {
    "I": qml.Identity, "H": qml.Hadamard, "X": qml.PauliX, "Y": qml.PauliY, "Z": qml.PauliZ,
    "S": qml.S, "Sdg": lambda wires: qml.adjoint(qml.S(wires)), "T": qml.T,
    "Tdg": lambda wires: qml.adjoint(qml.T(wires)), "SX": qml.SX, "RX": qml.RX, "RY": qml.RY,
    "RZ": qml.RZ, "PhaseShift": qml.PhaseShift, "U3": qml.U3, "CNOT": qml.CNOT, "CY": qml.CY,
    "CZ": qml.CZ, "SWAP": qml.SWAP, "iSWAP": qml.ISWAP, "CRX": qml.CRX, "CRY": qml.CRY,
    "CRZ": qml.CRZ, "CPhase": qml.ControlledPhaseShift, "RXX": qml.IsingXX, "RYY": qml.IsingYY,
    "RZZ": qml.IsingZZ, "Toffoli": qml.Toffoli, "CSWAP": qml.CSWAP,
}  # fmt: skip


def reference_unitary(circuit: Circuit, params=(), x=()) -> np.ndarray:
    """The circuit's unitary, wire 0 most significant, computed by PennyLane."""
    params, x = np.asarray(params, float), np.asarray(x, float)
    ops = [qml.Identity(w) for w in range(circuit.num_wires)]
    for op in circuit.operations:
        if op.gate == "Unitary":
            ops.append(qml.QubitUnitary(op.matrix_array(), wires=op.wires))
            continue
        angles = [
            sum(c * params[i] for i, c in a.params) + sum(c * x[j] for j, c in a.inputs) + a.offset for a in op.angles
        ]
        ops.append(_PENNYLANE[op.gate](*angles, wires=op.wires))
    return qml.matrix(qml.tape.QuantumScript(ops), wire_order=range(circuit.num_wires))


def qiskit_unitary(qc: QuantumCircuit) -> np.ndarray:
    """``qc``'s unitary in qjax wire order (final measurements removed)."""
    return Operator(qc.remove_final_measurements(inplace=False)).reverse_qargs().data


def assert_equal_up_to_phase(a: np.ndarray, b: np.ndarray, atol: float = ATOL) -> None:
    overlap = np.vdot(a.ravel(), b.ravel())
    assert abs(overlap) > 0
    np.testing.assert_allclose(a * (overlap / abs(overlap)), b, atol=atol)


def test_design_qubit_order_example():
    qc = QuantumCircuit(2)
    qc.x(0)
    circuit = from_qiskit(qc)
    state = reference_unitary(circuit)[:, 0]
    assert np.argmax(abs(state)) == 2  # DESIGN: qjax index 2, |10>
    np.testing.assert_allclose(state, Statevector(qc).reverse_qargs().data, atol=ATOL)


def test_controlled_gate_wire_order_is_kept():
    qc = QuantumCircuit(3)
    qc.cx(2, 0)
    qc.crx(0.4, 1, 2)
    circuit = from_qiskit(qc)
    assert [(op.gate, op.wires) for op in circuit.operations] == [("CNOT", (2, 0)), ("CRX", (1, 2))]
    np.testing.assert_allclose(reference_unitary(circuit), qiskit_unitary(qc), atol=ATOL)


def _every_table_gate(n: int = 3) -> QuantumCircuit:
    """One of each supported Qiskit gate, on scrambled qubits, with fixed angles."""
    rng = np.random.default_rng(11)
    a = lambda: float(rng.uniform(-np.pi, np.pi))  # noqa: E731
    qc = QuantumCircuit(n)
    qc.id(1)
    qc.h(2)
    qc.x(0)
    qc.y(1)
    qc.z(2)
    qc.s(0)
    qc.sdg(1)
    qc.t(2)
    qc.tdg(0)
    qc.sx(1)
    qc.rx(a(), 2)
    qc.ry(a(), 0)
    qc.rz(a(), 1)
    qc.p(a(), 2)
    qc.u(a(), a(), a(), 0)
    qc.append(U1Gate(a()), [1])
    qc.append(U3Gate(a(), a(), a()), [2])
    qc.cx(2, 0)
    qc.cy(0, 2)
    qc.cz(1, 0)
    qc.swap(2, 1)
    qc.iswap(1, 0)
    qc.crx(a(), 2, 1)
    qc.cry(a(), 0, 2)
    qc.crz(a(), 1, 0)
    qc.cp(a(), 2, 0)
    qc.rxx(a(), 1, 2)
    qc.ryy(a(), 2, 0)
    qc.rzz(a(), 0, 1)
    qc.ccx(2, 0, 1)
    qc.cswap(1, 2, 0)
    qc.append(UnitaryGate(random_unitary(4, seed=3)), [2, 0])
    return qc  # fmt: skip


def test_every_table_gate_matches_qiskit_exactly():
    qc = _every_table_gate()
    circuit = from_qiskit(qc)
    assert len(circuit) == len(qc.data)  # nothing decomposed
    # Table gates agree with Qiskit including global phase.
    np.testing.assert_allclose(reference_unitary(circuit), qiskit_unitary(qc), atol=ATOL)
    np.testing.assert_allclose(qiskit_unitary(to_qiskit(circuit)), qiskit_unitary(qc), atol=ATOL)


def test_to_qiskit_round_trip_is_structural():
    rng = np.random.default_rng(5)
    c, k = Circuit(3), 0
    for name in sorted(g for g in GATES if g != "Unitary"):
        spec = GATES[name]
        wires = tuple(int(w) for w in rng.permutation(3)[: spec.num_wires])
        angles = []
        for _ in range(spec.num_params):  # every parameter used, so none is dropped from qc.parameters
            angles.append(2 * Param(k) - Param(k + 1) + 0.25 * Input(0) + 0.5)
            k += 1
        c = c.append(name, wires, angles)
    c = c.unitary(random_unitary(4, seed=8).data, (2, 0))
    back = from_qiskit(to_qiskit(c), inputs="x")
    assert back == c


def test_unitary_gate_matrix_is_reordered():
    u = random_unitary(8, seed=1)
    qc = QuantumCircuit(3)
    qc.append(UnitaryGate(u), [1, 2, 0])
    circuit = from_qiskit(qc)
    assert circuit.operations[0].wires == (1, 2, 0)
    np.testing.assert_allclose(reference_unitary(circuit), qiskit_unitary(qc), atol=ATOL)


@pytest.mark.parametrize(
    "build",
    [
        lambda qc: qc.rccx(2, 0, 1),
        lambda qc: qc.ch(1, 2),
        lambda qc: qc.ecr(0, 2),
        lambda qc: qc.append(QFTGate(3), [2, 0, 1]),
        lambda qc: qc.mcx([0, 1], 2, ctrl_state="01"),  # open control: a 'ccx_o1', not a CCX
    ],
    ids=["rccx", "ch", "ecr", "qft", "open-control"],
)
def test_gates_outside_table_are_decomposed(build):
    qc = QuantumCircuit(3)
    qc.h(range(3))
    build(qc)
    circuit = from_qiskit(qc)
    assert all(op.gate in GATES for op in circuit.operations)
    assert_equal_up_to_phase(reference_unitary(circuit), qiskit_unitary(qc))  # transpile drops global phase


def test_gate_without_definition_is_refused():
    qc = QuantumCircuit(1)
    qc.append(Gate("mystery", 1, []), [0])
    with pytest.raises(ConversionError, match="mystery"):
        from_qiskit(qc)


def test_parameter_order_follows_qc_parameters():
    b, a, v = Parameter("b"), Parameter("a"), ParameterVector("v", 12)
    qc = QuantumCircuit(2)
    qc.ry(b, 0)
    qc.rx(a, 1)
    for k in (11, 2, 10, 0):  # Qiskit orders vector elements by index, not by name
        qc.rzz(v[k], 0, 1)
        qc.ry(v[k], k % 2)
    circuit = from_qiskit(qc)
    assert circuit.num_params == len(qc.parameters) == 6
    values = np.random.default_rng(2).uniform(-np.pi, np.pi, 6)
    bound = qc.assign_parameters(dict(zip(qc.parameters, values)))
    np.testing.assert_allclose(reference_unitary(circuit, values), qiskit_unitary(bound), atol=ATOL)


def test_linear_and_shared_parameter_expressions():
    t, f = Parameter("t"), Parameter("f")
    qc = QuantumCircuit(2)
    qc.rx(2 * t + 0.5, 0)
    qc.rzz(t - f, 0, 1)
    qc.u(t / 3, -f, 1.25, 1)
    qc.cp((t + f) * 0.5 - 1, 1, 0)
    circuit = from_qiskit(qc)
    f_, t_ = Param(0), Param(1)  # qc.parameters is sorted: f, t
    assert circuit.operations[0].angles == (2 * t_ + 0.5,)
    assert circuit.operations[1].angles == (t_ - f_,)
    values = np.array([0.3, -1.1])
    bound = qc.assign_parameters(dict(zip(qc.parameters, values)))
    np.testing.assert_allclose(reference_unitary(circuit, values), qiskit_unitary(bound), atol=ATOL)


@pytest.mark.parametrize("expr", [lambda a, b: a * b, lambda a, b: a.sin(), lambda a, b: a**2 + b])
def test_nonlinear_expression_is_refused(expr):
    a, b = Parameter("a"), Parameter("b")
    qc = QuantumCircuit(1)
    qc.rx(expr(a, b), 0)
    with pytest.raises(ConversionError, match="not linear"):
        from_qiskit(qc)


def test_data_inputs_by_vector_name_and_sequence():
    x, w = ParameterVector("x", 3), Parameter("w")
    qc = QuantumCircuit(2)
    qc.ry(x[2], 0)
    qc.rz(w + x[0], 1)
    by_name = from_qiskit(qc, inputs="x")
    assert by_name.num_params == 1 and by_name.num_inputs == 3
    assert by_name.operations[1].angles == (Param(0) + Input(0),)
    assert from_qiskit(qc, inputs=x) == by_name


def test_final_measurements_and_barriers_are_ignored():
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.measure(0, 0)  # final for qubit 0, even though qubit 1 has later gates
    qc.barrier()
    qc.x(1)
    qc.measure(1, 1)
    circuit = from_qiskit(qc)
    assert [op.gate for op in circuit.operations] == ["H", "X"]


def test_mid_circuit_measurement_is_refused():
    qc = QuantumCircuit(1, 1)
    qc.measure(0, 0)
    qc.x(0)
    with pytest.raises(ConversionError, match="mid-circuit measurement"):
        from_qiskit(qc)


def test_reset_is_refused():
    qc = QuantumCircuit(1)
    qc.x(0)
    qc.reset(0)
    with pytest.raises(ConversionError, match="reset"):
        from_qiskit(qc)


def test_classical_control_is_refused():
    qc = QuantumCircuit(2, 1)
    qc.h(0)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(1)
    with pytest.raises(ConversionError, match="classically controlled"):
        from_qiskit(qc)


@pytest.mark.parametrize("seed", range(4))
def test_random_circuits_through_qasm2_and_qasm3(seed):
    qc = random_circuit(4, 5, max_operands=3, seed=seed)
    for text in (qasm2.dumps(qc), qasm3.dumps(qc)):
        circuit = from_qasm(text)
        # Decomposed non-table gates (and the exporters' gate definitions) may carry global phase.
        assert_equal_up_to_phase(reference_unitary(circuit), qiskit_unitary(qc))


def test_qasm3_round_trip_keeps_parameter_order_and_gates():
    c = Circuit(3)
    for k in range(12):  # more than 10 parameters: names must not sort as θ_10 < θ_2
        c = c.ry(Param(k), k % 3).rzz(0.5 * Param(k) + Input(k % 2), k % 3, (k + 1) % 3)
    c = c.iswap(0, 2)
    text = to_qasm(c)
    assert text.startswith("OPENQASM 3")
    assert from_qasm(text, inputs="x") == c  # rzz/iswap come back from their gate definitions


def test_qasm2_needs_bound_parameters():
    c = Circuit(2).rx(Param(0), 0).cnot(0, 1).rz(Input(0), 1)
    with pytest.raises(ConversionError, match="params="):
        to_qasm(c, version=2)
    text = to_qasm(c, version=2, params=[0.3], x=[0.7])
    assert text.startswith("OPENQASM 2.0")
    np.testing.assert_allclose(reference_unitary(from_qasm(text)), reference_unitary(c, [0.3], [0.7]), atol=ATOL)


def test_to_qiskit_binds_and_checks_shapes():
    c = Circuit(2).rx(2 * Param(1) + 0.1, 0).cry(Param(0) - Input(0), 0, 1)
    qc = to_qiskit(c)
    assert [p.name for p in qc.parameters] == ["x[0]", "θ[0]", "θ[1]"]
    params, x = np.array([0.4, -0.9]), np.array([1.3])
    bound = to_qiskit(c, params, x)
    assert not bound.parameters
    np.testing.assert_allclose(qiskit_unitary(bound), reference_unitary(c, params, x), atol=ATOL)
    with pytest.raises(ParameterShapeError, match=r"\(2,\)"):
        to_qiskit(c, params=[0.1, 0.2, 0.3])


def test_from_qasm_reports_parse_errors():
    with pytest.raises(ConversionError, match="OpenQASM 2"):
        from_qasm('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\nfoo q[0];\n')


def test_operation_list_round_trip_with_unitary_and_inputs():
    u = random_unitary(4, seed=4).data
    c = Circuit(2, (Operation("RY", (1,), (Input(1),)), Operation("Unitary", (1, 0), (), u)))
    assert from_qiskit(to_qiskit(c), inputs="x") == c


def test_matches_qjax_simulator():
    import qjax

    qc = _every_table_gate()
    state = np.asarray(qjax.compile(from_qiskit(qc)).state(np.zeros(0)))
    # complex64 by default: single-precision rounding over ~30 gates.
    np.testing.assert_allclose(state, Statevector(qc).reverse_qargs().data, atol=1e-5)
