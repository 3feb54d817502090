"""The PennyLane device ``qjax.simulator`` against PennyLane's ``default.qubit``.

Every value and gradient is compared with ``default.qubit`` (PennyLane's own simulator,
independent of qjax) at fixed random angles. Tolerances: complex64 rounding over a few
dozen gates leaves ~1e-6 (5e-5 below for sums of terms and gradients); complex128 is
compared at 1e-10.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pennylane as qml
import pytest
from pennylane import numpy as pnp
from pennylane.exceptions import DeviceError

from qjax.errors import PrecisionError
from qjax.frontends import pennylane_tapes
from qjax.frontends.pennylane_device import QjaxSimulator

ATOL64 = 5e-5  # complex64: float32 rounding in states, sums and gradients
ATOL128 = 1e-10  # complex128: float64 rounding only

H = qml.Hamiltonian([0.7, -0.4, 0.25], [qml.Z(0) @ qml.Z(1), qml.X(2), qml.Y(0) @ qml.Y(2)])


def ansatz(w):
    """Gates from qjax's table and outside it (Rot, MultiRZ, QFT, DoubleExcitation decompose)."""
    qml.Hadamard(0)
    qml.Rot(w[0], w[1], w[2], wires=1)
    qml.CNOT([0, 2])
    qml.IsingXX(w[3], wires=[1, 2])
    qml.CRZ(w[4], wires=[2, 0])
    qml.MultiRZ(w[5], wires=[0, 1, 2])
    qml.U3(w[0], w[5], w[2], wires=2)
    qml.QFT(wires=[0, 1, 2])
    qml.SingleExcitation(w[1], wires=[0, 2])
    qml.adjoint(qml.S(1))


W = np.random.default_rng(3).uniform(-np.pi, np.pi, 6)


def qnode(device, measure, **kwargs):
    return qml.QNode(lambda w: (ansatz(w), measure())[-1], device, **kwargs)


def test_registered_through_the_entry_point():
    dev = qml.device("qjax.simulator", wires=3)
    assert isinstance(dev, QjaxSimulator) and dev.name == "qjax.simulator"
    assert dev.c_dtype is np.complex64


@pytest.mark.parametrize(
    "measure",
    [
        lambda: qml.expval(qml.Z(0) @ qml.X(1)),
        lambda: qml.expval(H),
        lambda: qml.expval(qml.sum(qml.X(0), qml.s_prod(0.3, qml.Y(1) @ qml.Z(2)))),
        lambda: qml.expval(qml.Hermitian(np.array([[1.0, 0.5j], [-0.5j, -2.0]]), wires=1)),
        lambda: qml.var(qml.X(0) @ qml.Y(2)),
        lambda: qml.probs(wires=[2, 0]),
        lambda: qml.state(),
        lambda: qml.density_matrix(wires=[1]),
        lambda: [qml.expval(qml.Z(1)), qml.probs(wires=[0]), qml.var(H)],
    ],
    ids=["pauli_word", "hamiltonian", "sum", "hermitian", "var", "probs", "state", "density_matrix", "mixed"],
)
def test_analytic_measurements_match_default_qubit(measure):
    ours = qnode(qml.device("qjax.simulator", wires=3), measure)(W)
    ref = qnode(qml.device("default.qubit", wires=3), measure)(W)
    for a, b in zip(np.atleast_1d(np.array(ours, dtype=object)), np.atleast_1d(np.array(ref, dtype=object))):
        np.testing.assert_allclose(np.asarray(a, dtype=complex), np.asarray(b, dtype=complex), atol=ATOL64)


def test_complex128_matches_default_qubit_and_needs_x64():
    with pytest.raises(PrecisionError, match="jax_enable_x64"):
        qml.device("qjax.simulator", wires=3, c_dtype=np.complex128)
    with jax.enable_x64(True):
        dev = qml.device("qjax.simulator", wires=3, c_dtype=np.complex128)
        state = qnode(dev, qml.state)(W)
        energy = qnode(dev, lambda: qml.expval(H))(W)
    assert state.dtype == np.complex128
    np.testing.assert_allclose(state, qnode(qml.device("default.qubit", wires=3), qml.state)(W), atol=ATOL128)
    np.testing.assert_allclose(
        energy, qnode(qml.device("default.qubit", wires=3), lambda: qml.expval(H))(W), atol=ATOL128
    )


def _reference_gradient():
    ref = qnode(qml.device("default.qubit", wires=3), lambda: qml.expval(H), diff_method="backprop", interface="jax")
    with jax.enable_x64(True):
        value, grad = jax.value_and_grad(ref)(jnp.asarray(W, jnp.float64))
    return float(value), np.asarray(grad)


@pytest.mark.parametrize("diff_method", ["adjoint", "backprop", "parameter-shift"])
def test_jax_jit_value_and_grad_match_default_qubit(diff_method):
    ours = qnode(qml.device("qjax.simulator", wires=3), lambda: qml.expval(H), diff_method=diff_method)
    value, grad = jax.jit(jax.value_and_grad(ours))(jnp.asarray(W, jnp.float32))
    ref_value, ref_grad = _reference_gradient()
    np.testing.assert_allclose(value, ref_value, atol=ATOL64)
    np.testing.assert_allclose(grad, ref_grad, atol=ATOL64)


@pytest.mark.parametrize("diff_method", ["adjoint", "parameter-shift"])
def test_jax_jit_gradients_with_x64_switched_on(diff_method):
    """With JAX's 64-bit mode on (as many PennyLane + JAX users run), PennyLane's JAX interface declares
    float64 results; the complex64 device's values and derivatives must come back in that type."""
    with jax.enable_x64(True):
        ours = qnode(qml.device("qjax.simulator", wires=3), lambda: qml.expval(H), diff_method=diff_method)
        value, grad = jax.jit(jax.value_and_grad(ours))(jnp.asarray(W, jnp.float64))
    ref_value, ref_grad = _reference_gradient()
    np.testing.assert_allclose(value, ref_value, atol=ATOL64)
    np.testing.assert_allclose(grad, ref_grad, atol=ATOL64)


def test_autograd_backprop_and_adjoint_match_default_qubit():
    _, ref_grad = _reference_gradient()
    for method in ("backprop", "adjoint"):
        ours = qnode(qml.device("qjax.simulator", wires=3), lambda: qml.expval(H), diff_method=method)
        np.testing.assert_allclose(qml.grad(ours)(pnp.array(W, requires_grad=True)), ref_grad, atol=ATOL64)


@pytest.mark.slow  # the reference Jacobian (default.qubit backprop, eager JAX) dominates: ~10 s of CPU
def test_adjoint_jacobian_of_several_expvals():
    def measure():
        return [qml.expval(qml.Z(0)), qml.expval(H)]

    ours = qnode(qml.device("qjax.simulator", wires=3), measure, diff_method="adjoint")
    ref = qnode(qml.device("default.qubit", wires=3), measure, diff_method="backprop")
    w = jnp.asarray(W, jnp.float32)
    got = jax.jacobian(lambda v: jnp.stack(ours(v)))(w)
    want = jax.jacobian(lambda v: jnp.stack(ref(v)))(w)
    np.testing.assert_allclose(got, want, atol=ATOL64)


def test_vmap_of_the_qnode_and_parameter_broadcasting_match_default_qubit():
    batch = np.random.default_rng(5).uniform(-np.pi, np.pi, (4, 6))
    ours = qnode(qml.device("qjax.simulator", wires=3), lambda: qml.expval(H), diff_method="backprop")
    ref = qnode(qml.device("default.qubit", wires=3), lambda: qml.expval(H))
    want = np.array([ref(w) for w in batch])
    np.testing.assert_allclose(jax.jit(jax.vmap(ours))(jnp.asarray(batch, jnp.float32)), want, atol=ATOL64)

    def broadcast(x):  # x: (B,) broadcast along one gate angle
        qml.RY(x, wires=0)
        qml.CNOT([0, 1])
        return qml.expval(qml.Z(1)), qml.probs(wires=[0])

    xs = np.array([0.1, 1.2, -2.0])
    got = qml.QNode(broadcast, qml.device("qjax.simulator", wires=2))(xs)
    exp = qml.QNode(broadcast, qml.device("default.qubit", wires=2))(xs)
    for a, b in zip(got, exp):
        np.testing.assert_allclose(a, b, atol=ATOL64)


def test_finite_shots_are_seeded_and_unbiased():
    def measure():
        return qml.expval(H), qml.sample(wires=[0, 1]), qml.counts(wires=[2])

    def run(seed):
        return qml.set_shots(qnode(qml.device("qjax.simulator", wires=3, seed=seed), measure), shots=4000)(W)

    first, again, other = run(11), run(11), run(12)
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other[1])
    assert first[1].shape == (4000, 2) and sum(first[2].values()) == 4000
    exact = qnode(qml.device("default.qubit", wires=3), lambda: qml.expval(H))(W)
    # |coefficients| sum to 1.35, so one shot's spread is at most 1.35: 5 sigma of 4000 shots
    assert abs(first[0] - exact) < 5 * 1.35 / np.sqrt(4000)


def test_operation_without_decomposition_is_refused_by_name():
    class Mystery(qml.operation.Operation):
        num_wires = 1
        num_params = 0

    circuit = qml.QNode(lambda: (Mystery(wires=0), qml.expval(qml.Z(0)))[-1], qml.device("qjax.simulator", wires=1))
    with pytest.raises(DeviceError, match="Mystery"):
        circuit()


def test_new_angles_reuse_the_compiled_functions():
    circuit = qnode(qml.device("qjax.simulator", wires=3), lambda: qml.expval(H), diff_method="adjoint")
    jax.grad(circuit)(jnp.asarray(W, jnp.float32))
    before = pennylane_tapes.programs.cache_info()
    jax.grad(circuit)(jnp.asarray(W + 0.1, jnp.float32))
    after = pennylane_tapes.programs.cache_info()
    assert after.misses == before.misses and after.hits > before.hits
