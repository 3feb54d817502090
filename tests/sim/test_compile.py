"""The compiled simulator against PennyLane default.qubit and Qiskit Statevector.

Random circuits use every table gate plus random Unitary matrices on random wires,
with angles that are constants, parameters, shared parameters ``a*Param(i)+b`` and
data inputs. The oracles are built here, from the same op list, without going
through any qjax converter.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pennylane as qml
import pytest
from oracles import (
    METHODS,
    fidelity,
    pennylane_expval_and_grad,
    pennylane_state,
    qiskit_expval,
    qiskit_state,
    qjax_circuit,
    random_pauli_terms,
    random_problem,
)
from qiskit.quantum_info import SparsePauliOp
from scipy.stats import chi2

from qjax.errors import ConfigError, ObservableError, ParameterShapeError, PrecisionError
from qjax.ir.circuit import Circuit, Input, Param
from qjax.ir.pauli import PauliSum
from qjax.sim.compile import compile

# -- states ------------------------------------------------------------------------------


# 6 and 7 qubits add little over 5 and 8 but ~1 s of XLA compile each.
@pytest.mark.parametrize(
    "n", [1, 2, 3, 4, 5, pytest.param(6, marks=pytest.mark.slow), pytest.param(7, marks=pytest.mark.slow), 8]
)
def test_state_complex64_matches_pennylane_and_qiskit(n):
    _, ops, circuit, p, x = random_problem(n, n)
    state = np.asarray(jax.jit(compile(circuit).state)(jnp.asarray(p, jnp.float32), jnp.asarray(x, jnp.float32)))
    assert state.shape == (2**n,) and state.dtype == np.complex64
    for oracle in (pennylane_state(n, ops, p, x), qiskit_state(n, ops, p, x)):
        # float32 gates (~1e-7 each) over ≤ 45 gates: measured 1-F ≲ 7e-8, |Δψ| ≲ 2.3e-7.
        assert fidelity(state, oracle) >= 1 - 1e-6
        # Same gate conventions as both oracles, so even the global phase agrees.
        np.testing.assert_allclose(state, oracle, atol=2e-6)


@pytest.mark.parametrize("n", [1, 4, 8])
def test_state_complex128_matches_pennylane_and_qiskit(n):
    _, ops, circuit, p, x = random_problem(100 + n, n)
    with jax.enable_x64(True):
        state = np.asarray(jax.jit(compile(circuit, dtype=jnp.complex128).state)(p, x))
    assert state.dtype == np.complex128
    for oracle in (pennylane_state(n, ops, p, x), qiskit_state(n, ops, p, x)):
        assert fidelity(state, oracle) >= 1 - 1e-12  # float64 round-off only (measured |Δψ| ≲ 4e-16)
        np.testing.assert_allclose(state, oracle, atol=1e-12)


def test_qubit_order_matches_design_examples():
    # DESIGN: qc.x(0) on 2 qubits is qjax index 2 (|10>): wire 0 is the most significant bit.
    np.testing.assert_allclose(compile(Circuit(2).x(0)).state(None), [0, 0, 1, 0])
    # CNOT(control, target): the first wire controls.
    np.testing.assert_allclose(compile(Circuit(2).x(0).cnot(0, 1)).probs(None), [0, 0, 0, 1])
    np.testing.assert_allclose(compile(Circuit(2).x(1).cnot(0, 1)).probs(None), [0, 1, 0, 0])


# -- expectations and gradients -------------------------------------------------------------


# Backprop is plain autodiff, also checked in complex128 below; it runs with the slow set.
@pytest.mark.parametrize("method", [pytest.param("backprop", marks=pytest.mark.slow), "adjoint", "parameter_shift"])
def test_expvals_and_jacobian_complex64_vs_pennylane_and_qiskit(method):
    n = 4
    rng, ops, circuit, p, x = random_problem(7, n, extra=0)
    obs_terms = [random_pauli_terms(rng, n, 6), random_pauli_terms(rng, n, 3)]
    c = compile(circuit, [PauliSum(t) for t in obs_terms], gradient=method)
    p32, x32 = jnp.asarray(p, jnp.float32), jnp.asarray(x, jnp.float32)
    values, (jp, jx) = jax.jit(lambda p, x: (c.expval(p, x), jax.jacrev(c.expval, (0, 1))(p, x)))(p32, x32)
    assert values.shape == (2,) and values.dtype == jnp.float32 and jp.shape == (2, circuit.num_params)
    state = qiskit_state(n, ops, p, x)
    for k, terms in enumerate(obs_terms):
        e_ref, gp_ref, gx_ref = pennylane_expval_and_grad(n, ops, terms, p, x)
        # float32 amplitudes over ~30 gates; measured |ΔE| ≲ 1e-7, allow 20x.
        assert abs(float(values[k]) - e_ref) < 2e-6
        assert abs(float(values[k]) - qiskit_expval(state, terms, n)) < 2e-6
        # gradients sum ~30 float32 contributions (or shifted runs); measured ≲ 5e-7.
        np.testing.assert_allclose(jp[k], gp_ref, atol=1e-5)
        np.testing.assert_allclose(jx[k], gx_ref, atol=1e-5)


@pytest.mark.parametrize("method", ["backprop", "adjoint"])
def test_many_terms_per_flip_group_vs_qiskit(method):
    """Terms sharing flip wires (X/Y on the same wires) with Y phases, and many Z
    terms: the sign sums of these groups take the GEMM path (``_sign_gemm``)."""
    n = 5
    rng, ops, circuit, p, x = random_problem(17, n, extra=0)
    flips = [(0, 2), (1, 3, 4)]
    terms = [
        (
            float(rng.normal()),
            {
                **{w: str(rng.choice(list("XY"))) for w in f},
                **{
                    int(z): "Z"
                    for z in rng.choice([w for w in range(n) if w not in f], int(rng.integers(0, 3)), replace=False)
                },
            },
        )
        for f in flips
        for _ in range(6)
    ]
    terms += random_pauli_terms(rng, n, 4) + [
        (float(rng.normal()), {int(w): "Z" for w in rng.choice(n, 2)}) for _ in range(6)
    ]
    c = compile(circuit, PauliSum(terms), gradient=method)
    value, gp = jax.value_and_grad(c.expval)(jnp.asarray(p, jnp.float32), jnp.asarray(x, jnp.float32))
    e_ref, gp_ref, _ = pennylane_expval_and_grad(n, ops, terms, p, x)
    scale = sum(abs(coeff) for coeff, _ in terms)
    assert abs(float(value) - qiskit_expval(qiskit_state(n, ops, p, x), terms, n)) < 2e-6 * scale
    assert abs(float(value) - e_ref) < 2e-6 * scale
    np.testing.assert_allclose(gp, gp_ref, atol=1e-5 * scale)


def test_grad_methods_complex128_vs_pennylane_and_backprop():
    n = 4
    rng, ops, circuit, p, x = random_problem(8, n, extra=2, num_params=4, num_inputs=1)
    terms = random_pauli_terms(rng, n, 7)
    e_ref, gp_ref, gx_ref = pennylane_expval_and_grad(n, ops, terms, p, x)
    with jax.enable_x64(True):
        results = {}
        for method in METHODS:
            c = compile(circuit, PauliSum(terms), dtype=jnp.complex128, gradient=method)
            results[method] = jax.jit(jax.value_and_grad(c.expval, (0, 1)))(p, x)
    _, (bp, bx) = results["backprop"]
    for method, (e, (gp, gx)) in results.items():
        assert e.dtype == jnp.float64 and gp.dtype == jnp.float64
        # float64 throughout; the shift rules are exact for these gates, so only
        # round-off remains (measured ≲ 1.5e-15; 1e-12 leaves room for other BLAS).
        assert abs(float(e) - e_ref) < 1e-12, method
        np.testing.assert_allclose(gp, gp_ref, atol=1e-12, err_msg=method)
        np.testing.assert_allclose(gx, gx_ref, atol=1e-12, err_msg=method)
        np.testing.assert_allclose(gp, bp, atol=1e-12, err_msg=method)
        np.testing.assert_allclose(gx, bx, atol=1e-12, err_msg=method)


def test_observable_forms_are_converted_with_the_same_wire_rules():
    circuit = Circuit(2).ry(Param(0), 0).rx(Param(1), 1)
    z1 = PauliSum.from_string("Z1", num_wires=2)
    # Z on Qiskit qubit 1 (label "ZI") and PennyLane wire 1 are Z on qjax wire 1.
    for form in ("Z1", SparsePauliOp("ZI"), qml.PauliZ(1), [z1]):
        assert compile(circuit, form).observables == (z1,)
    value = jax.jit(compile(circuit, SparsePauliOp("ZI")).expval)(jnp.array([0.3, -1.1]))
    assert abs(float(value) - np.cos(-1.1)) < 1e-6  # <Z> after RX(θ)|0> is cos θ


# -- composition with jit / vmap / grad --------------------------------------------------------


def test_vmap_equals_loop_and_jit():
    rng = np.random.default_rng(11)
    circuit = (
        Circuit(3)
        .ry(Input(0), 0)
        .ry(Input(1), 1)
        .cnot(0, 1)
        .u3(Param(0), Param(1), 0.4, 2)
        .crx(Param(2), 2, 0)
        .rzz(0.5 * Param(0) - 1.0, 1, 2)
        .h(2)
    )
    c = compile(circuit, [PauliSum.from_string("0.5 Z0 X1 - Y2 + 0.3 X0 Y1 Z2"), PauliSum.from_string("Z0")])
    ps = jnp.asarray(rng.uniform(-3, 3, (6, 3)), jnp.float32)
    xs = jnp.asarray(rng.uniform(-1, 1, (6, 2)), jnp.float32)
    batched = jax.jit(jax.vmap(c.expval))(ps, xs)
    single = jax.jit(c.expval)
    looped = jnp.stack([single(p, x) for p, x in zip(ps, xs)])
    assert batched.shape == (6, 2)
    np.testing.assert_allclose(batched, looped, atol=1e-5)  # float32, different op fusion
    states = jax.jit(jax.vmap(c.state, in_axes=(0, None)))(ps, xs[0])
    np.testing.assert_allclose(states[2], jax.jit(c.state)(ps[2], xs[0]), atol=1e-6)
    grad = jax.grad(lambda p, x: c.expval(p, x)[0])
    grads = jax.jit(jax.vmap(grad))(ps, xs)
    np.testing.assert_allclose(grads[4], jax.jit(grad)(ps[4], xs[4]), atol=1e-5)


@pytest.mark.parametrize("method", METHODS)
def test_no_retrace_for_new_parameter_values(method):
    circuit = Circuit(3).h(0).ry(Param(0), 1).cnot(0, 1).crx(2 * Param(1) + 0.3, 1, 2).rz(Param(0), 2)
    c = compile(circuit, PauliSum.from_string("0.5 Z0 Z1 - X2"), gradient=method)
    traces = []

    def loss(p):
        traces.append(1)  # runs only while JAX traces
        return c.expval(p)

    step = jax.jit(jax.value_and_grad(loss))
    for p in ([0.1, 0.2], [0.5, -1.0], [2.0, 3.0]):
        step(jnp.asarray(p, jnp.float32))
    assert len(traces) == 1


# -- probabilities and sampling -------------------------------------------------------------


def test_probs_and_samples():
    # A spread-out 3-qubit distribution; gate coverage is the state tests' job.
    ops = [
        ("H", (0,), [], None),
        ("RY", (1,), [(((0, 1.0),), (), 0.0)], None),
        ("CNOT", (0, 2), [], None),
        ("RX", (2,), [(((1, 0.5),), (), 0.3)], None),
        ("CRY", (1, 0), [(((0, -1.0),), (), 0.0)], None),
    ]
    p, x = np.array([1.1, 2.3]), np.zeros(0)
    c = compile(qjax_circuit(3, ops, 2, 0))
    probs = np.asarray(jax.jit(c.probs)(p), np.float64)
    np.testing.assert_allclose(probs, np.abs(qiskit_state(3, ops, p, x)) ** 2, atol=1e-6)  # float32
    assert abs(probs.sum() - 1) < 1e-6
    shots = 20000
    bits = np.asarray(jax.jit(c.sample, static_argnums=2)(jax.random.key(0), p, shots))
    assert bits.shape == (shots, 3) and set(np.unique(bits)) <= {0, 1}
    index = bits @ np.array([4, 2, 1])  # wire 0 is the most significant bit
    counts = np.bincount(index, minlength=8)
    expected = shots * probs
    keep = expected > 5  # chi-square needs expected counts ≳ 5 per cell
    stat = ((counts[keep] - expected[keep]) ** 2 / expected[keep]).sum()
    # Fixed key; a correct sampler exceeds the 99.9% quantile with probability 1e-3.
    assert stat < chi2.ppf(0.999, keep.sum() - 1)
    assert counts[~keep].sum() <= max(10, 3 * expected[~keep].sum())


def test_sample_bit_order():
    c = compile(Circuit(3).x(0).x(2))
    assert (np.asarray(jax.jit(c.sample, static_argnums=2)(jax.random.key(1), None, 5)) == [1, 0, 1]).all()


# -- errors ------------------------------------------------------------------------------------


def test_wrong_parameter_shapes_are_refused():
    c = compile(Circuit(1).rx(Param(3), 0), "Z0")
    with pytest.raises(ParameterShapeError, match=r"params has shape \(3,\) .* 4 trainable .* pass a \(4,\) array"):
        c.expval(jnp.zeros(3))
    with pytest.raises(ParameterShapeError, match=r"\(4,\)"):
        jax.vmap(c.state)(jnp.zeros((5, 3)))
    with pytest.raises(ParameterShapeError, match="reads no Input"):
        c.state(jnp.zeros(4), jnp.zeros(2))
    with pytest.raises(ParameterShapeError, match="complex"):
        c.state(jnp.zeros(4, jnp.complex64))
    d = compile(Circuit(1).rx(Input(1), 0))
    with pytest.raises(ParameterShapeError, match=r"no x .* 2 input feature.*pass x as a \(2,\) array"):
        d.state(None)
    with pytest.raises(ParameterShapeError, match=r"x with shape \(3,\)"):
        d.state(None, jnp.zeros(3))


def test_expval_without_observable_is_refused():
    with pytest.raises(ObservableError, match="compiled without observables"):
        compile(Circuit(1).h(0)).expval(None)


def test_observable_outside_the_circuit_is_refused():
    with pytest.raises(ObservableError, match="acts on wire 2 but the circuit has 2 wire"):
        compile(Circuit(2).h(0), PauliSum.from_string("Z0 + X2"))


def test_precision_rules():
    assert not jax.config.jax_enable_x64  # the suite runs in JAX's default 32-bit mode
    with pytest.raises(PrecisionError, match=r'jax.config.update\("jax_enable_x64", True\).*precision=double'):
        compile(Circuit(1).h(0), dtype=jnp.complex128)
    with pytest.raises(PrecisionError, match="complex64.*complex128"):
        compile(Circuit(1).h(0), dtype=jnp.float32)
    with jax.enable_x64(True):
        c = compile(Circuit(1).rx(Param(0), 0), "Z0", dtype=jnp.complex128)
        assert jax.eval_shape(c.state, jnp.zeros(1)).dtype == jnp.complex128
        assert jax.eval_shape(c.expval, jnp.zeros(1)).dtype == jnp.float64
    # x64 switched off again after compiling: refuse rather than silently drop to complex64
    with pytest.raises(PrecisionError):
        c.state(jnp.zeros(1))
    with jax.enable_x64(True):
        c64 = compile(Circuit(1).rx(Param(0), 0), "Z0")
        assert jax.eval_shape(c64.expval, np.zeros(1)).dtype == jnp.float32  # params follow the circuit dtype


def test_bad_gradient_and_shots_are_refused():
    with pytest.raises(ConfigError, match="gradient='finite_diff'.*adjoint"):
        compile(Circuit(1).h(0), gradient="finite_diff")
    c = compile(Circuit(1).h(0))
    for shots in (0, -5, 2.5):
        with pytest.raises(ConfigError, match="positive Python int"):
            c.sample(jax.random.key(0), None, shots)
