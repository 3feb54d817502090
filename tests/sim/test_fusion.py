"""Gate fusion (qjax.sim.fusion) against unfused gate-by-gate runs and PennyLane default.qubit.

Narrow block widths (``max_wires`` 1..3) force every block kind: dense blocks that
absorb diagonal gates, diagonal blocks of distant diagonal gates, and wide gates
applied on their own. The oracles are the same independent references as in
test_sim.py (PennyLane default.qubit states, expectations and gradients).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pennylane as qml
import pytest
from oracles import pennylane_expval_and_grad, pennylane_state, random_pauli_terms, random_problem

import qjax
import qjax.sim.fusion
from qjax.ir.circuit import Circuit
from qjax.ir.pauli import PauliSum
from qjax.sim.compile import compile
from qjax.sim.program import lower


@pytest.fixture
def width(monkeypatch, request):
    """Compile with dense blocks of at most ``request.param`` wires."""
    monkeypatch.setattr(qjax.sim.fusion, "default_max_wires", lambda n: min(n, request.param))
    return request.param


@pytest.mark.parametrize("width", [1, 2, 3, 5], indirect=True)
def test_fused_state_matches_unfused_and_pennylane(width):
    n = 5
    _, ops, circuit, p, x = random_problem(40 + width, n, extra=3 * n)
    p32, x32 = jnp.asarray(p, jnp.float32), jnp.asarray(x, jnp.float32)
    state = np.asarray(jax.jit(compile(circuit).state)(p32, x32))
    program = lower(circuit, jnp.complex64)
    unfused = np.asarray(jax.jit(lambda a: program.run(a).reshape(-1))(program.angles(p32, x32)))
    # float32 gates (~1e-7 each) over ~20 gates or ~10 fused 2**k x 2**k products
    np.testing.assert_allclose(state, unfused, atol=2e-6)
    np.testing.assert_allclose(state, pennylane_state(n, ops, p, x), atol=2e-6)


@pytest.mark.parametrize("width", [2, 3], indirect=True)
@pytest.mark.parametrize("method", ["backprop", "adjoint", "parameter_shift"])
def test_fused_expvals_and_gradients_match_pennylane(width, method):
    n = 4
    rng, ops, circuit, p, x = random_problem(70 + width, n, extra=6)
    terms = [random_pauli_terms(rng, n, 5), [(0.7, {0: "Z", 3: "Z"}), (-0.3, {1: "Z"})]]
    c = compile(circuit, [PauliSum(t) for t in terms], gradient=method)
    p32, x32 = jnp.asarray(p, jnp.float32), jnp.asarray(x, jnp.float32)
    values, (jp, jx) = jax.jit(lambda p, x: (c.expval(p, x), jax.jacrev(c.expval, (0, 1))(p, x)))(p32, x32)
    for k, t in enumerate(terms):
        e_ref, gp_ref, gx_ref = pennylane_expval_and_grad(n, ops, t, p, x)
        # float32 over ~25 gates; measured |ΔE| ~1e-7 and |Δgrad| ≲ 1e-6, allow ~10x
        assert abs(float(values[k]) - e_ref) < 2e-6
        np.testing.assert_allclose(jp[k], gp_ref, atol=1e-5)
        np.testing.assert_allclose(jx[k], gx_ref, atol=1e-5)


@pytest.mark.parametrize("width", [2], indirect=True)
def test_every_block_kind_appears_and_agrees(width):
    # RZZ/CZ across distant wires make diagonal blocks; CNOT(0, 4) and Toffoli(0, 2, 4) are
    # wider than 2 wires and run on their own; the rest fuses into 2-wire dense blocks.
    circuit = (
        Circuit(5)
        .h(0)
        .h(1)
        .h(4)
        .rzz(qjax.Param(0), 0, 4)
        .cz(1, 3)
        .ry(qjax.Param(1), 2)
        .cnot(0, 4)
        .toffoli(0, 2, 4)
        .rz(qjax.Param(2), 3)
        .rx(qjax.Param(0), 1)
        .cnot(1, 2)
    )
    kinds = {b.kind for b in qjax.sim.fusion.fuse(lower(circuit, jnp.complex64)).blocks}
    assert kinds == {"dense", "diagonal", "gate"}
    p = np.array([0.3, -1.1, 0.8])
    obs = PauliSum([(1.0, {0: "X", 4: "Z"}), (0.5, {2: "Y"}), (0.2, {3: "Z"})])
    ops = [
        ("H", (0,), [], None),
        ("H", (1,), [], None),
        ("H", (4,), [], None),
        ("RZZ", (0, 4), [(((0, 1.0),), (), 0.0)], None),
        ("CZ", (1, 3), [], None),
        ("RY", (2,), [(((1, 1.0),), (), 0.0)], None),
        ("CNOT", (0, 4), [], None),
        ("Toffoli", (0, 2, 4), [], None),
        ("RZ", (3,), [(((2, 1.0),), (), 0.0)], None),
        ("RX", (1,), [(((0, 1.0),), (), 0.0)], None),
        ("CNOT", (1, 2), [], None),
    ]
    np.testing.assert_allclose(
        compile(circuit).state(jnp.asarray(p, jnp.float32)), pennylane_state(5, ops, p, np.zeros(0)), atol=2e-6
    )
    e_ref, g_ref, _ = pennylane_expval_and_grad(5, ops, [(c, dict(w)) for c, w in obs.terms], p, np.zeros(0))
    for method in ("backprop", "adjoint"):
        e, g = jax.value_and_grad(compile(circuit, obs, gradient=method).expval)(jnp.asarray(p, jnp.float32))
        assert abs(float(e) - e_ref) < 2e-6
        np.testing.assert_allclose(g, g_ref, atol=1e-5)  # float32, ~11 gates


def test_qaoa_cost_layer_is_one_diagonal_block_and_matches_pennylane():
    n, p = 6, 2
    edges = [(0, 3), (1, 4), (2, 5), (0, 5), (1, 2), (3, 4)]
    circuit = qjax.ir.ansatze.qaoa(edges, n, p)
    blocks = qjax.sim.fusion.fuse(lower(circuit, jnp.complex64)).blocks
    assert [b.kind for b in blocks].count("diagonal") == p
    cost = PauliSum([(1.0, {i: "Z", j: "Z"}) for i, j in edges], n)
    params = np.array([0.4, -0.7, 1.1, 0.3])

    @qml.qnode(qml.device("default.qubit", wires=n), diff_method="backprop")
    def energy(t):
        for w in range(n):
            qml.Hadamard(w)
        for layer in range(p):
            for i, j in edges:
                qml.IsingZZ(2 * t[layer], wires=[i, j])
            for w in range(n):
                qml.RX(2 * t[p + layer], wires=w)
        return qml.expval(cost.to_pennylane())

    from pennylane import numpy as pnp

    t = pnp.array(params, requires_grad=True)
    for method in ("auto", "adjoint", "parameter_shift"):
        e, g = jax.value_and_grad(compile(circuit, cost, gradient=method).expval)(jnp.asarray(params, jnp.float32))
        assert abs(float(e) - float(energy(t))) < 2e-6  # float32, 6 wires, 2 layers
        np.testing.assert_allclose(g, qml.grad(energy)(t), atol=1e-5)


def test_second_call_does_not_retrace():
    circuit = qjax.ir.ansatze.hardware_efficient(4, 2, rotations=("RY", "RZ"), entangler="chain")
    c = compile(circuit, PauliSum([(1.0, {0: "Z", 1: "Z"}), (0.5, {2: "X"})]))
    traces = []

    def energy(params):
        traces.append(1)  # runs only while JAX traces
        return c.expval(params)

    step = jax.jit(jax.value_and_grad(energy))
    rng = np.random.default_rng(0)
    for _ in range(3):
        jax.block_until_ready(step(jnp.asarray(rng.uniform(0, 1, circuit.num_params), jnp.float32)))
    assert len(traces) == 1


def test_complex64_energy_close_to_complex128_and_lightning():
    n = 12
    circuit = qjax.ir.ansatze.hardware_efficient(n, 4, rotations=("RY", "RZ"), entangler="chain")
    obs = PauliSum([(1.0, {i: "Z", i + 1: "Z"}) for i in range(n - 1)] + [(0.5, {i: "X"}) for i in range(n)], n)
    params = np.random.default_rng(3).uniform(0, 2 * np.pi, circuit.num_params)
    e64 = float(compile(circuit, obs).expval(jnp.asarray(params, jnp.float32)))
    with jax.enable_x64(True):
        e128 = float(compile(circuit, obs, dtype=jnp.complex128).expval(jnp.asarray(params)))
    device = qml.device("lightning.qubit", wires=n)

    @qml.qnode(device)
    def reference():
        k = 0
        for _ in range(4):
            for gate in (qml.RY, qml.RZ):
                for w in range(n):
                    gate(params[k], wires=w)
                    k += 1
            for w in range(n - 1):
                qml.CNOT(wires=[w, w + 1])
        return qml.expval(obs.to_pennylane())

    e_ref = float(reference())
    assert abs(e128 - e_ref) < 1e-10  # double precision both
    assert abs(e64 - e_ref) < 1e-5  # the bound for complex64 (Σ|c| = 17)
