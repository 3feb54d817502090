"""The circuit IR: immutability, the angle linear map (checked through states
against PennyLane), and clear errors for bad wires, gates and angles."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pennylane as qml
import pytest

import qjax
from qjax import Circuit, Input, Operation, Param
from qjax.errors import CircuitError, UnknownGateError, WireError


def test_builders_return_new_immutable_circuits():
    base = Circuit(2).h(0)
    grown = base.cnot(0, 1)
    assert len(base) == 1 and len(grown) == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        grown.num_wires = 3
    assert hash(grown) == hash(Circuit(2).h(0).cnot(0, 1)) and grown == Circuit(2).h(0).cnot(0, 1)


def test_shared_params_and_inputs_match_pennylane():
    # one parameter drives three gates through a*p+b; inputs feed an encoder
    c = (
        Circuit(3)
        .ry(Input(0), 0)
        .ry(Input(1), 1)
        .rx(Param(0), 0)
        .rz(2 * Param(0) - 0.3, 1)
        .cnot(0, 2)
        .crx(0.5 * Param(1) + Param(0), 1, 2)
        .rzz(Input(0) - Param(1), 0, 2)
    )
    assert (c.num_params, c.num_inputs) == (2, 2)
    p, x = np.array([0.7, -1.1]), np.array([0.4, 2.2])

    @qml.qnode(qml.device("default.qubit", wires=3))
    def reference():
        qml.RY(x[0], 0), qml.RY(x[1], 1), qml.RX(p[0], 0), qml.RZ(2 * p[0] - 0.3, 1)
        qml.CNOT([0, 2]), qml.CRX(0.5 * p[1] + p[0], [1, 2]), qml.IsingZZ(x[0] - p[1], [0, 2])
        return qml.state()

    state = qjax.compile(c, dtype=jnp.complex64).state(jnp.asarray(p, jnp.float32), jnp.asarray(x, jnp.float32))
    fidelity = abs(np.vdot(reference(), np.asarray(state))) ** 2
    assert fidelity > 1 - 1e-6  # complex64 rounding over 7 gates


def test_linear_map_rows():
    lm = Circuit(2).rx(3 * Param(1) + 0.5, 0).u3(Param(0), Input(0), 1.0, 1).linear_map()
    np.testing.assert_array_equal(lm.A, [[0, 3], [1, 0], [0, 0], [0, 0]])
    np.testing.assert_array_equal(lm.B, [[0], [0], [1], [0]])
    np.testing.assert_array_equal(lm.c, [0.5, 0, 0, 1.0])
    assert lm.slices == ((0, 1), (1, 4))


def test_declared_unused_parameters_are_kept():
    assert Circuit(1, Circuit(1).rx(Param(0), 0).operations, num_params=4).num_params == 4
    with pytest.raises(CircuitError, match="num_params=1 but the circuit references index 2"):
        Circuit(1, Circuit(1).rx(Param(2), 0).operations, num_params=1)


@pytest.mark.parametrize(
    "build,error,message",
    [
        (lambda: Circuit(2).cnot(0, 2), WireError, r"wire 2 is out of range for a 2-wire circuit"),
        (lambda: Circuit(2).cnot(1, 1), WireError, r"repeated wires"),
        (lambda: Circuit(2).rx(0.1, -1), WireError, r"negative wire"),
        (lambda: Circuit(0), WireError, r"num_wires must be a positive integer"),
        (lambda: Circuit(2).append("Foo", 0), UnknownGateError, r"unknown gate 'Foo'"),
        (lambda: Circuit(2).rx(0, 1, 0), CircuitError, r"RX takes 2 arguments \(angle, wire\), got 3"),
        (lambda: Circuit(1).rx("pi", 0), CircuitError, r"a gate angle must be a number"),
        (lambda: Circuit(1).rx(Param(0) * Param(1), 0), CircuitError, r"angles are linear"),
        (lambda: Circuit(1).unitary(np.ones((2, 2)), 0), CircuitError, r"not unitary"),
        (lambda: Circuit(2).unitary(np.eye(4), 0), WireError, r"Unitary acts on 2 wire\(s\)"),
        (lambda: Operation("CNOT", (0, 1), matrix=np.eye(4)), CircuitError, r"takes no matrix; use 'Unitary'"),
    ],
)
def test_bad_circuits_are_refused_with_the_fix(build, error, message):
    with pytest.raises(error, match=message):
        build()


def test_depth_and_gate_counts():
    c = Circuit(3).h(0).h(1).cnot(0, 1).cx(1, 2).rz(0.1, 0)
    assert c.depth() == 3
    assert c.gate_counts() == {"H": 2, "CNOT": 2, "RZ": 1}
