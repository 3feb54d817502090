"""Repeated layers run by lax.scan (qjax.sim.layering) against brute force and PennyLane.

The circuits repeat a random layer (every gate kind, a Unitary, shared parameters,
data re-uploading) between a random prefix and suffix, so the scanned copies, the
inline segments around them and their seams are all exercised; the oracle is
PennyLane default.qubit (states, expectations, gradients), as in test_sim.py.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from oracles import pennylane_expval_and_grad, pennylane_state, qjax_circuit, random_ops, random_pauli_terms

import qjax
from qjax.ir.circuit import Circuit
from qjax.ir.pauli import PauliSum
from qjax.sim.compile import compile
from qjax.sim.layering import find_repeat, layer
from qjax.sim.program import lower


def brute_force_repeat(s):
    """Largest ``period * repeats`` over all periodic stretches with ≥ 2 copies, and the
    shortest period achieving it (every start, period and count tried)."""
    best = (0, 0)
    for start, period in itertools.product(range(len(s)), range(1, len(s) // 2 + 1)):
        repeats = 1
        while start + (repeats + 1) * period <= len(s) and all(
            s[start + repeats * period + k] == s[start + k] for k in range(period)
        ):
            repeats += 1
        if repeats >= 2:
            best = max(best, (repeats * period, -period))
    return best


def test_find_repeat_agrees_with_brute_force():
    rng = np.random.default_rng(0)
    for _trial in range(300):
        body = list(rng.integers(0, 3, rng.integers(1, 5)))
        s = (
            list(rng.integers(0, 3, rng.integers(0, 4)))
            + body * int(rng.integers(1, 4))
            + list(rng.integers(0, 3, rng.integers(0, 4)))
        )
        found = find_repeat(s)
        cover, neg_period = brute_force_repeat(s)
        if cover == 0:
            assert found is None, s
            continue
        start, period, repeats = found
        assert (repeats * period, -period) == (cover, neg_period), s
        stretch = s[start : start + repeats * period]
        assert stretch == stretch[:period] * repeats, s


def shifted(ops, by):
    """The same ops reading parameters ``i + by`` (a new copy of a layer's parameters)."""
    return [
        (name, wires, [(tuple((i + by, a) for i, a in ps), xs, c) for ps, xs, c in angles], m)
        for name, wires, angles, m in ops
    ]


def repeated_problem(seed, n, copies, num_params=3, num_inputs=2):
    """Random prefix, ``copies`` copies of one random layer (own parameters each; the
    same inputs in every copy), random suffix."""
    rng = np.random.default_rng(seed)
    prefix = random_ops(rng, n, 0, num_params, num_inputs)[:3]
    body = random_ops(rng, n, n, num_params, num_inputs)
    suffix = random_ops(rng, n, 0, num_params, num_inputs)[:2]
    ops = prefix + [op for r in range(copies) for op in shifted(body, r * num_params)] + suffix
    P = num_params * copies
    p, x = rng.uniform(-np.pi, np.pi, P), rng.uniform(-1, 1, num_inputs)
    return rng, ops, qjax_circuit(n, ops, P, num_inputs), p, x, len(body)


@pytest.fixture
def narrow(monkeypatch):
    """Dense blocks of 2 wires: random layers then fuse into several blocks, of every kind."""
    monkeypatch.setattr(qjax.sim.fusion, "default_max_wires", lambda n: min(n, 2))


def test_repeated_random_layer_is_scanned_and_matches_pennylane(narrow):
    n, copies = 4, 5
    rng, ops, circuit, p, x, period = repeated_problem(1, n, copies)
    layered = layer(lower(circuit, jnp.complex64))
    scanned = [s for s in layered.segments if s.repeats > 1]
    # The first copy's one-wire gates on fresh wires join the product start, so it may
    # differ from the others, and a copy may begin mid-layer (qjax.sim.layering._phase).
    assert len(scanned) == 1 and scanned[0].repeats >= copies - 2
    assert len(scanned[0].fused.program.steps) == period
    kinds = {b.kind for s in layered.segments for b in s.fused.blocks}
    assert {"dense", "gate"} <= kinds
    p32, x32 = jnp.asarray(p, jnp.float32), jnp.asarray(x, jnp.float32)
    np.testing.assert_allclose(
        jax.jit(compile(circuit).state)(p32, x32), pennylane_state(n, ops, p, x), atol=5e-6
    )  # float32, ~90 gates
    terms = random_pauli_terms(rng, n, 4) + [(0.4, {1: "Z", 2: "Z"})]
    e_ref, gp_ref, gx_ref = pennylane_expval_and_grad(n, ops, terms, p, x)
    for method in ("backprop", "adjoint", "parameter_shift"):
        c = compile(circuit, PauliSum(terms), gradient=method)
        (e, (gp, gx)) = jax.jit(jax.value_and_grad(c.expval, (0, 1)))(p32, x32)
        assert abs(float(e) - e_ref) < 1e-5, method
        np.testing.assert_allclose(gp, gp_ref, atol=3e-5, err_msg=method)
        np.testing.assert_allclose(gx, gx_ref, atol=3e-5, err_msg=method)


def test_vmapped_batch_through_the_scan_matches_one_at_a_time():
    n = 3
    _, ops, circuit, _, _, _ = repeated_problem(2, n, 4)
    obs = PauliSum([(1.0, {0: "X", 2: "Z"}), (-0.5, {1: "Y"})])
    rng = np.random.default_rng(5)
    ps = rng.uniform(-np.pi, np.pi, (3, circuit.num_params))
    xs = rng.uniform(-1, 1, (3, circuit.num_inputs))
    c = compile(circuit, obs, gradient="adjoint")
    e, g = jax.vmap(jax.value_and_grad(c.expval))(jnp.asarray(ps, jnp.float32), jnp.asarray(xs, jnp.float32))
    for k in range(len(ps)):
        e_ref, g_ref, _ = pennylane_expval_and_grad(n, ops, [(c_, dict(w)) for c_, w in obs.terms], ps[k], xs[k])
        assert abs(float(e[k]) - e_ref) < 1e-5
        np.testing.assert_allclose(g[k], g_ref, atol=3e-5)


def count_equations(jaxpr) -> int:
    """Equations of a jaxpr, counting those inside scans, custom rules and pjit bodies."""
    total = 0
    for eqn in jaxpr.eqns:
        total += 1
        for value in eqn.params.values():
            for v in value if isinstance(value, (tuple, list)) else (value,):
                inner = getattr(v, "jaxpr", v)
                if hasattr(inner, "eqns"):
                    total += count_equations(inner)
    return total


@pytest.mark.parametrize("gradient", ["backprop", "adjoint"])
def test_traced_program_does_not_grow_with_the_number_of_layers(gradient):
    # What XLA compiles is the traced program; with the layers scanned its size is the
    # same for 3 and 12 layers (unrolled, it would grow about 4x).
    n = 6
    obs = PauliSum([(1.0, {i: "Z", i + 1: "Z"}) for i in range(n - 1)] + [(0.5, {i: "X"}) for i in range(n)])
    sizes = []
    for layers in (3, 12):
        circuit = qjax.ir.ansatze.hardware_efficient(n, layers, rotations=("RY", "RZ"), entangler="chain")
        c = compile(circuit, obs, gradient=gradient)
        params = jnp.zeros(circuit.num_params, jnp.float32)
        sizes.append(count_equations(jax.make_jaxpr(jax.value_and_grad(c.expval))(params).jaxpr))
    assert sizes[0] == sizes[1]


def test_shallow_repeats_stay_fused_inline():
    # Eight RY on one wire fuse into one block; eight scanned copies would cost eight passes.
    # (After a CNOT, so that they are not leading gates, which the product start takes.)
    circuit = Circuit(3).cnot(0, 1)
    for k in range(8):
        circuit = circuit.ry(qjax.Param(k), 0)
    layered = layer(lower(circuit, jnp.complex64))
    assert [s.repeats for s in layered.segments] == [1]
    assert [len(s.fused.blocks) for s in layered.segments] == [1]


def test_leading_one_wire_gates_become_the_product_start_and_match_pennylane():
    # H, RY(x), RZ(θ) on fresh wires are a product state; the RX after the CNOT is not.
    n = 4
    circuit = (
        Circuit(n)
        .h(0)
        .ry(qjax.Input(0), 1)
        .rz(qjax.Param(0), 1)
        .rx(qjax.Param(1), 3)
        .cnot(0, 1)
        .ry(qjax.Param(2), 2)
        .rx(qjax.Param(0), 0)
        .cz(2, 3)
    )
    layered = layer(lower(circuit, jnp.complex64))
    assert [s.gate for s in layered.start.program.steps] == ["H", "RY", "RZ", "RX", "RY"]
    ops = [
        ("H", (0,), [], None),
        ("RY", (1,), [((), ((0, 1.0),), 0.0)], None),
        ("RZ", (1,), [(((0, 1.0),), (), 0.0)], None),
        ("RX", (3,), [(((1, 1.0),), (), 0.0)], None),
        ("CNOT", (0, 1), [], None),
        ("RY", (2,), [(((2, 1.0),), (), 0.0)], None),
        ("RX", (0,), [(((0, 1.0),), (), 0.0)], None),
        ("CZ", (2, 3), [], None),
    ]
    p, x = np.array([0.3, -1.2, 0.7]), np.array([0.9])
    p32, x32 = jnp.asarray(p, jnp.float32), jnp.asarray(x, jnp.float32)
    np.testing.assert_allclose(compile(circuit).state(p32, x32), pennylane_state(n, ops, p, x), atol=2e-6)
    terms = [(1.0, {0: "X", 1: "Y"}), (0.5, {2: "Z", 3: "X"}), (-0.3, {1: "Z"})]
    e_ref, gp_ref, gx_ref = pennylane_expval_and_grad(n, ops, terms, p, x)
    for method in ("backprop", "adjoint", "parameter_shift"):
        c = compile(circuit, PauliSum(terms), gradient=method)
        e, (gp, gx) = jax.value_and_grad(c.expval, (0, 1))(p32, x32)
        assert abs(float(e) - e_ref) < 2e-6, method
        np.testing.assert_allclose(gp, gp_ref, atol=1e-5, err_msg=method)
        np.testing.assert_allclose(gx, gx_ref, atol=1e-5, err_msg=method)
