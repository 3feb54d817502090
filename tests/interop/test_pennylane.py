"""qjax.interop.pennylane against PennyLane's own matrices (``qml.matrix``).

The imported circuit's unitary is computed by Qiskit (``Operator`` of
``to_qiskit(circuit, params)``, reversed into PennyLane's wire order), an
implementation independent of both PennyLane and the importer.
"""

from __future__ import annotations

import numpy as np
import pennylane as qml
import pytest
from pennylane import numpy as pnp
from qiskit.quantum_info import Operator

from qjax.errors import ConversionError
from qjax.interop.pennylane import ImportedCircuit, from_pennylane
from qjax.interop.qiskit import to_qiskit
from qjax.ir.circuit import Angle, Param

# Rounding only: float64 products of a few dozen gates.
ATOL = 1e-9


def unitary(circuit, params) -> np.ndarray:
    return Operator(to_qiskit(circuit, params)).reverse_qargs().data


def assert_equal_up_to_phase(a, b, atol=ATOL):
    overlap = np.vdot(a.ravel(), b.ravel())
    np.testing.assert_allclose(a * (overlap / abs(overlap)), b, atol=atol)


def _mixed_ops(w):
    qml.Hadamard(0)
    qml.Rot(w[0], w[1], w[2], wires=1)
    qml.adjoint(qml.S(2))
    qml.adjoint(qml.T(0))
    qml.CNOT([0, 2])
    qml.IsingXX(w[3], wires=[1, 2])
    qml.U2(w[4], 0.3, wires=0)
    qml.CH([2, 1])  # outside the table: decomposed
    qml.QubitUnitary(qml.matrix(qml.RY(0.4, 0) @ qml.RZ(0.2, 0)), wires=1)
    qml.MultiRZ(w[5], wires=[0, 1, 2])
    qml.GlobalPhase(0.3)


def test_tape_with_mixed_ops_matches_pennylane():
    w = np.random.default_rng(0).uniform(-np.pi, np.pi, 6)
    tape = qml.tape.make_qscript(_mixed_ops)(w)
    result = from_pennylane(tape)
    assert isinstance(result, ImportedCircuit)
    circuit, params = result
    # Every scalar angle of the tape is trainable (a hand-built tape marks all of them).
    assert circuit.num_params == len(tape.get_parameters()) - 2  # minus QubitUnitary, GlobalPhase
    # GlobalPhase and decompositions only change the global phase.
    assert_equal_up_to_phase(unitary(circuit, params), qml.matrix(tape, wire_order=range(3)))


def test_linear_map_holds_away_from_the_recorded_values():
    rng = np.random.default_rng(1)
    w = rng.uniform(-np.pi, np.pi, 6)
    tape = qml.tape.make_qscript(_mixed_ops)(w)
    circuit, params = from_pennylane(tape)
    new = rng.uniform(-np.pi, np.pi, params.size)
    # Tape parameters: Rot 0-2, IsingXX 3, U2 4-5, QubitUnitary 6 (fixed), MultiRZ 7, GlobalPhase 8 (dropped).
    values = list(new[:6]) + [tape.get_parameters()[6], new[6], 0.3]
    moved = tape.bind_new_parameters(values, list(range(9)))
    assert_equal_up_to_phase(unitary(circuit, new), qml.matrix(moved, wire_order=range(3)))


def test_double_excitation_shares_one_parameter():
    tape = qml.tape.QuantumScript([qml.DoubleExcitation(0.4, wires=[3, 1, 0, 2])])
    circuit, params = from_pennylane(tape)
    assert circuit.num_params == 1 and params.tolist() == [0.4]
    ry = [op.angles[0] for op in circuit.operations if op.gate == "RY"]
    assert sorted(set(ry), key=repr) == sorted({Param(0) / 8, -Param(0) / 8}, key=repr)
    for theta in (0.4, -2.1):  # exact, no global phase: the decomposition is real
        expected = qml.matrix(qml.DoubleExcitation(theta, wires=[3, 1, 0, 2]), wire_order=range(4))
        np.testing.assert_allclose(unitary(circuit, [theta]), expected, atol=ATOL)


def test_trainable_params_follow_the_tape():
    ops = [qml.RX(0.1, 0), qml.RY(0.2, 1), qml.CRZ(0.3, [0, 1]), qml.RZ(0.4, 1)]
    tape = qml.tape.QuantumScript(ops)
    tape.trainable_params = [1, 3]
    circuit, params = from_pennylane(tape)
    assert params.tolist() == [0.2, 0.4]
    assert [op.angles[0] for op in circuit.operations] == [Angle.of(0.1), Param(0), Angle.of(0.3), Param(1)]
    assert from_pennylane(tape, trainable=[0]).params.tolist() == [0.1]
    assert from_pennylane(tape, trainable="all").params.tolist() == [0.1, 0.2, 0.3, 0.4]
    with pytest.raises(ConversionError, match="out of range"):
        from_pennylane(tape, trainable=[9])


def test_qnode_with_template_weights():
    dev = qml.device("default.qubit", wires=3)

    @qml.qnode(dev)
    def model(weights, x):
        qml.AngleEmbedding(x, wires=range(3))
        qml.StronglyEntanglingLayers(weights, wires=range(3))
        return qml.expval(qml.PauliZ(0))

    rng = np.random.default_rng(2)
    weights = pnp.array(rng.uniform(-np.pi, np.pi, (2, 3, 3)), requires_grad=True)
    x = pnp.array(rng.uniform(0, 1, 3), requires_grad=False)
    circuit, params = from_pennylane(model, weights, x)
    # Only the autograd-tracked weights are trainable, flattened in C order.
    np.testing.assert_array_equal(params, np.asarray(weights).ravel())
    tape = qml.workflow.construct_tape(model)(weights, x)
    assert_equal_up_to_phase(unitary(circuit, params), qml.matrix(tape, wire_order=range(3)))
    other = rng.uniform(-np.pi, np.pi, params.size)
    tape2 = qml.workflow.construct_tape(model)(pnp.array(other.reshape(2, 3, 3), requires_grad=True), x)
    assert_equal_up_to_phase(unitary(circuit, other), qml.matrix(tape2, wire_order=range(3)))
    # Plain NumPy arguments are not tracked by PennyLane; "all" makes every angle trainable.
    assert from_pennylane(model, np.asarray(weights), np.asarray(x)).circuit.num_params == 0
    assert from_pennylane(model, np.asarray(weights), np.asarray(x), trainable="all").circuit.num_params == 21


def test_non_integer_wire_labels_use_device_or_wire_order():
    dev = qml.device("default.qubit", wires=["b", "a"])

    @qml.qnode(dev)
    def model(t):
        qml.RY(t, wires="a")
        qml.CNOT(wires=["a", "b"])
        return qml.probs()

    circuit, _ = from_pennylane(model, pnp.array(0.3, requires_grad=True))
    assert [op.wires for op in circuit.operations] == [(1,), (1, 0)]
    circuit, _ = from_pennylane(model, pnp.array(0.3, requires_grad=True), wire_order=["a", "b"])
    assert [op.wires for op in circuit.operations] == [(0,), (0, 1)]
    tape = qml.tape.QuantumScript([qml.RX(0.1, "q")])
    with pytest.raises(ConversionError, match="wire_order"):
        from_pennylane(tape, wire_order=["r"])


def test_mid_circuit_measurement_and_cond_are_refused():
    def with_measure():
        qml.Hadamard(0)
        qml.measure(0)

    with pytest.raises(ConversionError, match="mid-circuit measurement"):
        from_pennylane(qml.tape.make_qscript(with_measure)())

    def with_cond():
        m = qml.measure(0)
        qml.cond(m, qml.PauliX)(1)

    with pytest.raises(ConversionError, match="mid-circuit|classically controlled"):
        from_pennylane(qml.tape.make_qscript(with_cond)())


def test_nonlinear_trainable_decomposition_is_refused():
    state = np.array([0.6, 0.0, 0.0, 0.8])
    tape = qml.tape.QuantumScript([qml.StatePrep(state, wires=[0, 1])])
    with pytest.raises(ConversionError, match="StatePrep"):
        from_pennylane(tape)  # a hand-built tape marks the amplitudes trainable
    tape.trainable_params = []
    circuit, params = from_pennylane(tape)
    assert params.size == 0
    assert_equal_up_to_phase(unitary(circuit, params)[:, 0], state)


def test_bad_inputs_are_refused():
    with pytest.raises(ConversionError, match="QNode or a QuantumScript"):
        from_pennylane("not a tape")
    with pytest.raises(ConversionError, match="only used with a QNode"):
        from_pennylane(qml.tape.QuantumScript([qml.RX(0.1, 0)]), 1.0)


def test_integer_wires_keep_their_index_and_device_width():
    dev = qml.device("default.qubit", wires=4)

    @qml.qnode(dev)
    def model():
        qml.CNOT(wires=[2, 0])
        return qml.state()

    circuit, params = from_pennylane(model)
    assert circuit.num_wires == 4 and params.size == 0
    assert circuit.operations[0].wires == (2, 0)
