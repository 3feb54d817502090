"""The batched parameter-shift / SPSA objective of sampling backends, against JAX autodiff.

The executor is the exact statevector simulator in complex128, so parameter shift
must reproduce ``jax.value_and_grad`` of the compiled circuit to round-off, and
SPSA must equal the central difference of the exact energy along its Δ. A wrapper
records every batch the runner submits, so "one job per step" and the rows of that
job are checked where they leave, not from the runner's own bookkeeping.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import qjax
from qjax.backends.jobs import JobRunner
from qjax.backends.sampled import sampled_objective
from qjax.backends.simulator import SimulatorBackend
from qjax.errors import BackendError
from qjax.ir import ansatze as templates
from qjax.ir.circuit import Circuit, Param
from qjax.ir.pauli import PauliSum
from qjax.problems import chemistry as problems
from qjax.sim.gradients import shift_plan


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


class Recording:
    """An executor that forwards to ``inner`` and keeps every submitted batch."""

    def __init__(self, inner):
        self.inner, self.batches = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def submit(self, params, *, mitigate=True):
        self.batches.append(np.array(params))
        return self.inner.submit(params, mitigate=mitigate)


@functools.lru_cache(maxsize=None)
def _h2_observable():
    return problems.h2().observable


def _uccsd_h2():
    return templates.uccsd(4, 2), _h2_observable()


def _shared_params():
    # shared parameters, affine angle maps, a constant angle (no shift needed), generators
    # with three eigenvalues (CRX/CRY/CRZ: four-term rules) and a three-angle gate
    circuit = (
        Circuit(3)
        .ry(Param(0), 0)
        .crx(2.0 * Param(0) + 0.3, 0, 1)
        .rz(Param(1), 1)
        .cnot(1, 2)
        .rx(Param(1) - Param(0), 2)
        .cry(Param(2), 1, 2)
        .crz(0.5 * Param(0) - Param(2), 2, 0)
        .rz(0.7, 2)
        .u3(Param(1), Param(2), 0.4 * Param(0), 1)
        .p(-Param(1), 0)
        .rxx(Param(2) + 1.0, 0, 2)
        .h(0)
    )
    obs = PauliSum([(0.7, {0: "Z"}), (-0.4, {1: "X", 2: "Y"}), (0.25, {0: "Y", 1: "Y"}), (0.3, {2: "X"}), (0.1, {})])
    return circuit, obs


CASES = {"uccsd_h2": _uccsd_h2, "shared_params": _shared_params}


@functools.lru_cache(maxsize=None)
def _compiled(case):
    """The case's circuit, observable, simulator executor and jitted reference ``value_and_grad``.

    Built once per case (under x64, like every test here): each new batch shape is a
    jit compilation of its own, so tests share them.
    """
    circuit, obs = CASES[case]()
    executor = SimulatorBackend(dtype=jnp.complex128).executor(circuit, [obs])
    reference = jax.jit(jax.value_and_grad(qjax.compile(circuit, obs, dtype=jnp.complex128).expval))
    return circuit, obs, executor, reference


def _setup(case, **options):
    """A fresh runner over a recording simulator executor, and the objective on it."""
    circuit, obs, executor, reference = _compiled(case)
    recording = Recording(executor)
    runner = JobRunner([("simulator", lambda: recording)])
    objective = sampled_objective(circuit, runner, **options)
    return circuit, runner, recording, objective, reference


def _energy(reference, params):
    return float(reference(jnp.asarray(params))[0])


def _grad(reference, params):
    return np.asarray(reference(jnp.asarray(params))[1])


def _expected_shift_terms(circuit):
    """Shift terms counted from the gates: four for a controlled rotation, two for the others."""
    lm = circuit.linear_map()
    terms = 0
    for op, (start, stop) in zip(circuit.operations, lm.slices):
        for g in range(start, stop):
            if np.any(lm.A[g]):
                terms += 4 if op.gate in ("CRX", "CRY", "CRZ") else 2
    return terms


@pytest.mark.parametrize("case", sorted(CASES))
def test_parameter_shift_matches_autodiff_in_one_job(x64, case):
    circuit, runner, executor, objective, reference = _setup(case)
    lm = circuit.linear_map()
    A, c = np.asarray(lm.A), np.asarray(lm.c)
    plan = shift_plan(circuit)
    assert len(plan.offsets) == _expected_shift_terms(circuit) > 0
    rng = np.random.default_rng(sum(map(ord, case)))
    for k, params in enumerate(rng.uniform(-np.pi, np.pi, size=(3, circuit.num_params))):
        value, grad = objective.value_and_grad(params)
        ref_value, ref_grad = reference(jnp.asarray(params))
        assert value == pytest.approx(float(ref_value), abs=1e-10)
        assert grad.shape == (circuit.num_params,) and grad.dtype == np.float64
        np.testing.assert_allclose(grad, np.asarray(ref_grad), atol=1e-10, rtol=0)
        assert np.abs(np.asarray(ref_grad)).max() > 1e-3  # a point where the gradient says something

        # exactly one job per call: the unshifted angles, then one row per shift term
        assert runner.num_jobs == k + 1 and len(executor.batches) == k + 1
        batch = executor.batches[-1]
        assert batch.shape == (len(plan.offsets) + 1, len(c))
        angles = A @ params + c
        np.testing.assert_allclose(batch[0], angles, atol=1e-14)
        shifts = batch[1:] - angles
        assert np.all(np.count_nonzero(np.abs(shifts) > 1e-12, axis=1) == 1)  # one angle shifted per row

    # the same step again (e.g. resumed) is served from the cache
    objective.value_and_grad(params)
    assert runner.num_jobs == 3 and len(executor.batches) == 3


def test_values_is_one_job_of_the_exact_energies(x64):
    circuit, runner, executor, objective, reference = _setup("shared_params")
    batch = np.random.default_rng(5).uniform(-2, 2, size=(3, circuit.num_params))
    np.testing.assert_allclose(objective.values(batch), [_energy(reference, p) for p in batch], atol=1e-12)
    assert runner.num_jobs == 1 and executor.batches[0].shape == (3, len(circuit.linear_map().c))


def _spsa_delta(batch, A, c_spsa):
    """Δ as the job ran it: rows θ, θ + cΔ, θ - cΔ in angle space, so row1 - row2 = 2c·AΔ."""
    delta = np.linalg.lstsq(A, (batch[1] - batch[2]) / (2 * c_spsa), rcond=None)[0]
    np.testing.assert_allclose(delta, np.round(delta), atol=1e-6)
    return np.round(delta)


def test_spsa_is_one_job_of_three_rows_and_a_central_difference(x64):
    c_spsa = 1e-4
    circuit, runner, executor, objective, reference = _setup("shared_params", gradient="spsa", spsa_c=c_spsa, seed=3)
    lm = circuit.linear_map()
    A, c = np.asarray(lm.A), np.asarray(lm.c)
    assert np.linalg.matrix_rank(A) == circuit.num_params  # so Δ can be read back from the rows
    P = circuit.num_params
    rng = np.random.default_rng(11)
    for k, params in enumerate(rng.uniform(-np.pi, np.pi, size=(3, P))):
        value, grad = objective.value_and_grad(params)
        assert runner.num_jobs == k + 1
        batch = executor.batches[-1]
        assert batch.shape == (3, len(c))
        delta = _spsa_delta(batch, A, c_spsa)
        assert set(np.unique(delta)) <= {-1.0, 1.0}  # Rademacher
        np.testing.assert_allclose(
            batch, np.stack([params, params + c_spsa * delta, params - c_spsa * delta]) @ A.T + c, atol=1e-13
        )

        # the estimate is s·Δ with s the central difference of the exact energy along Δ ...
        s = grad @ delta / P
        np.testing.assert_allclose(grad, s * delta, rtol=1e-12, atol=0)
        assert value == pytest.approx(_energy(reference, params), abs=1e-10)
        central = (_energy(reference, params + c_spsa * delta) - _energy(reference, params - c_spsa * delta)) / (
            2 * c_spsa
        )
        assert s == pytest.approx(central, abs=1e-9)  # round-off: 1e-16 / c
        # ... which is the directional derivative ∇E·Δ, up to O(c²) and round-off
        directional = _grad(reference, params) @ delta
        assert abs(directional) > 1e-3  # large against the tolerance below
        assert s == pytest.approx(directional, abs=1e-7)

    # a resumed step draws the same Δ: served from the cache, same estimate
    again = objective.value_and_grad(params)
    assert runner.num_jobs == 3
    np.testing.assert_array_equal(again[1], grad)


def test_spsa_averages_to_the_gradient_over_all_directions(x64):
    # E[(∇E·Δ)Δ] = ∇E over Rademacher Δ; Δ and -Δ give the same estimate, so for P = 3
    # the mean over the four classes {±Δ} is exactly ∇E (to O(c²))
    circuit, runner, executor, _, reference = _setup("shared_params")
    A = np.asarray(circuit.linear_map().A)
    params = np.array([0.4, -1.1, 2.3])
    exact = _grad(reference, params)
    by_class = {}
    for seed in range(32):
        jobs = runner.num_jobs
        _, grad = sampled_objective(circuit, runner, gradient="spsa", spsa_c=1e-4, seed=seed).value_and_grad(params)
        if runner.num_jobs > jobs:  # a new job: its Δ is in its rows
            delta = _spsa_delta(executor.batches[-1], A, 1e-4)
            np.testing.assert_allclose(grad, (grad @ delta / 3) * delta, rtol=1e-12)
        by_class.setdefault(tuple(np.sign(grad) * np.sign(grad[0])), grad)
    assert len(by_class) == 4
    np.testing.assert_allclose(np.mean(list(by_class.values()), axis=0), exact, atol=1e-7)
    assert runner.num_jobs == len(executor.batches) <= 8  # a Δ seen before is a cache hit


@pytest.mark.parametrize("gradient", ["backprop", "adjoint"])
def test_autodiff_gradients_are_refused(x64, gradient):
    circuit, runner, executor, _, _ = _setup("shared_params")
    with pytest.raises(BackendError, match=f"gradient={gradient}.*parameter_shift"):
        sampled_objective(circuit, runner, gradient=gradient)
    assert runner.num_jobs == 0 and executor.batches == []
