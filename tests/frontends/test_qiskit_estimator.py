"""qjax.primitives.Estimator against Qiskit's StatevectorEstimator (the exact reference).

Tolerances: 1e-6 in complex64 (float32 rounding over ~30 gates and a few Pauli terms
of unit weight stays near 1e-7) and 1e-12 in complex128, as the issue asks.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.primitives import BaseEstimatorV2, PrimitiveResult, PubResult, StatevectorEstimator
from qiskit.quantum_info import Pauli, SparsePauliOp

from qjax.errors import PrecisionError
from qjax.frontends import qiskit_primitives
from qjax.primitives import Estimator


def random_circuit(n: int, num_params: int, depth: int, seed: int) -> QuantumCircuit:
    """Random gates on ``n`` qubits; angles are parameters, linear expressions of them, one product."""
    rng = np.random.default_rng(seed)
    t = ParameterVector("t", num_params)
    qc = QuantumCircuit(n)

    def angle():
        i, j = rng.integers(num_params, size=2)
        kind = rng.integers(3)
        return t[i] if kind == 0 else (2 * t[i] - t[j] + 0.3 if kind == 1 else float(rng.uniform(-3, 3)))

    for k in range(num_params):  # every parameter appears at least once
        qc.ry(t[k], k % n)
    for _ in range(depth):
        a, b = (int(q) for q in rng.choice(n, 2, replace=False))
        gate = rng.integers(10)
        if gate == 0:
            qc.h(a)
        elif gate == 1:
            qc.cx(a, b)
        elif gate == 2:
            qc.rx(angle(), a)
        elif gate == 3:
            qc.rz(angle(), a)
        elif gate == 4:
            qc.crx(angle(), a, b)
        elif gate == 5:
            qc.rzz(angle(), a, b)
        elif gate == 6:
            qc.u(angle(), angle(), angle(), a)
        elif gate == 7:
            qc.cp(angle(), a, b)
        elif gate == 8:
            qc.sx(a)
        else:
            qc.swap(a, b)
    qc.rx(t[0] * t[1 % num_params], 0)  # not linear: qjax evaluates it per parameter set
    return qc


def random_observable(n: int, terms: int, rng) -> SparsePauliOp:
    labels = ["".join(rng.choice(list("IXYZ"), n)) for _ in range(terms)]
    return SparsePauliOp(labels, rng.uniform(-1, 1, terms))


def evs(estimator, pubs, **kw):
    return [r.data.evs for r in estimator.run(pubs, **kw).result()]


# (parameter-value shape without the parameter axis, observables' shape): the result has the broadcast shape.
SHAPES = [((), ()), ((5,), ()), ((), (3,)), ((4,), (2, 1)), ((2, 3), (3,)), ((3, 1), (1, 2)), ((6,), (6,))]


@pytest.mark.parametrize("seed", [0, 1])
def test_broadcasting_matches_statevector_estimator_complex64(seed):
    rng = np.random.default_rng(seed)
    n, P = 4, 5
    qc = random_circuit(n, P, depth=30, seed=seed)
    pubs = []
    for pshape, oshape in SHAPES:
        values = rng.uniform(-np.pi, np.pi, pshape + (P,))
        observables = np.empty(oshape, dtype=object)
        for pos in np.ndindex(*oshape):
            observables[pos] = random_observable(n, 3, rng)
        pubs.append((qc, observables if oshape else observables[()], values))
    ours, reference = evs(Estimator(), pubs), evs(StatevectorEstimator(), pubs)
    for (pshape, oshape), a, b in zip(SHAPES, ours, reference):
        assert a.shape == b.shape == np.broadcast_shapes(pshape, oshape)
        assert a.dtype == np.float64
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_complex128_matches_statevector_estimator_to_1e12():
    rng = np.random.default_rng(3)
    qc = random_circuit(4, 4, depth=30, seed=3)
    obs = [random_observable(4, 4, rng) for _ in range(3)]
    values = rng.uniform(-np.pi, np.pi, (7, 1, 4))
    with jax.enable_x64(True):
        estimator = Estimator(dtype=jnp.complex128)
        result = estimator.run([(qc, obs, values)]).result()[0]
    reference = StatevectorEstimator().run([(qc, obs, values)]).result()[0]
    assert result.metadata["dtype"] == "complex128"
    np.testing.assert_allclose(result.data.evs, reference.data.evs, rtol=0, atol=1e-12)


def test_complex128_without_x64_is_qjax_compiles_error():
    assert not jax.config.jax_enable_x64
    with pytest.raises(PrecisionError, match=r'jax.config.update\("jax_enable_x64", True\)'):
        Estimator(dtype=jnp.complex128)


def test_observable_forms_and_circuits_without_parameters():
    qc = QuantumCircuit(3)
    qc.h(0)
    qc.cx(0, 1)
    qc.ry(0.4, 2)
    qc.measure_all()  # final measurements are ignored by estimators
    observables = ["ZZI", Pauli("XXI"), SparsePauliOp(["IIZ", "III"], [0.5, 2.0]), {"XIY": 0.25}]
    unmeasured = qc.remove_final_measurements(inplace=False)
    ours = evs(Estimator(), [(qc, observables)])[0]
    reference = evs(StatevectorEstimator(), [(unmeasured, observables)])[0]
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-6)


def test_many_pubs_one_job_result_containers_and_metadata():
    """PUBs sharing a circuit (one per observable, as EstimatorQNN sends them) and another circuit in one job."""
    rng = np.random.default_rng(5)
    qc_a, qc_b = random_circuit(3, 3, 15, seed=5), random_circuit(2, 2, 10, seed=6)
    qc_a.metadata = {"name": "a"}
    x = rng.uniform(-1, 1, (10, 3))
    pubs = [(qc_a, "ZII", x), (qc_b, ["XZ", "YY"], rng.uniform(-1, 1, 2)), (qc_a, "IXX", x), (qc_a, "ZZZ", x[:3])]
    estimator = Estimator()
    result = estimator.run(pubs).result()
    assert isinstance(estimator, BaseEstimatorV2)
    assert isinstance(result, PrimitiveResult) and result.metadata == {"version": 2}
    assert all(isinstance(r, PubResult) for r in result)
    assert result[0].metadata == {
        "target_precision": 0.0,
        "circuit_metadata": {"name": "a"},
        "simulator": "qjax",
        "dtype": "complex64",
    }
    for ours, ref in zip(result, StatevectorEstimator().run(pubs).result()):
        np.testing.assert_allclose(ours.data.evs, ref.data.evs, rtol=0, atol=1e-6)
        np.testing.assert_array_equal(ours.data.stds, np.zeros_like(ref.data.evs))


def test_precision_adds_seeded_gaussian_noise():
    qc = random_circuit(3, 2, 10, seed=8)
    values = np.random.default_rng(8).uniform(-1, 1, (2000, 2))
    exact = evs(Estimator(), [(qc, "ZZI", values)])[0]
    noisy = Estimator(default_precision=0.05, seed=11).run([(qc, "ZZI", values)]).result()[0]
    again = evs(Estimator(seed=11), [(qc, "ZZI", values)], precision=0.05)[0]
    np.testing.assert_array_equal(noisy.data.evs, again)  # the seed makes it reproducible
    np.testing.assert_array_equal(noisy.data.stds, np.full(2000, 0.05))
    assert noisy.metadata["target_precision"] == 0.05
    residual = noisy.data.evs - exact
    # 2000 draws of N(0, 0.05): the sample mean within 5 standard errors, the std within 8% (5 of its ~1.6%).
    assert abs(residual.mean()) < 5 * 0.05 / np.sqrt(2000)
    assert abs(residual.std() / 0.05 - 1) < 0.08


def test_mismatched_parameter_shapes_are_qiskits_value_error():
    qc = random_circuit(2, 3, 5, seed=1)
    with pytest.raises(
        ValueError, match=r"Length of \('t\[0\]', 't\[1\]', 't\[2\]'\) inconsistent with last dimension"
    ):
        Estimator().run([(qc, "ZZ", np.zeros((4, 2)))])
    with pytest.raises(
        ValueError, match=r"observables shape \(3,\) and the parameter values shape \(4,\) are not broadcastable"
    ):
        Estimator().run([(qc, ["ZZ", "XX", "YY"], np.zeros((4, 3)))])


def test_second_run_with_new_values_does_not_retrace(monkeypatch):
    traces = []
    real_compile = qiskit_primitives.compile_circuit

    def counting_compile(*args, **kwargs):
        compiled = real_compile(*args, **kwargs)

        def expval(params, x=None):
            traces.append(1)  # runs only while JAX traces
            return compiled.expval(params, x)

        return compiled._replace(expval=expval)

    monkeypatch.setattr(qiskit_primitives, "compile_circuit", counting_compile)
    qc, rng, estimator = random_circuit(3, 3, 12, seed=2), np.random.default_rng(2), Estimator()
    for batch in (6, 6, 7, 5):  # 6, 7 and 5 rows share one padded batch of 8
        estimator.run([(qc, "XYZ", rng.uniform(-1, 1, (batch, 3)))]).result()
    estimator.run([(qc.copy(), "XYZ", rng.uniform(-1, 1, (8, 3)))]).result()  # an equal circuit object: cached
    assert len(traces) == 1


def test_equal_looking_circuits_with_different_custom_gates_are_not_confused():
    """The compile cache is keyed by content: a custom gate's definition is part of it."""

    def circuit(body: str) -> QuantumCircuit:
        sub = QuantumCircuit(1, name="mygate")
        getattr(sub, body)(0)
        qc = QuantumCircuit(1)
        qc.append(sub.to_gate(), [0])
        return qc

    estimator, reference = Estimator(), StatevectorEstimator()
    pubs = [(circuit("x"), "Z"), (circuit("h"), "X"), (circuit("x"), "X")]
    for ours, ref in zip(estimator.run(pubs).result(), reference.run(pubs).result()):
        np.testing.assert_allclose(ours.data.evs, ref.data.evs, atol=1e-6)
    later = estimator.run([(circuit("h"), "Z")]).result()[0].data.evs  # from the cache: still H, <Z> = 0
    np.testing.assert_allclose(later, 0.0, atol=1e-6)
