"""Reference-state error mitigation (REM) against hand-computed cases on the noisy simulator."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qjax.backends.noisy_simulator import NoisySimulatorBackend
from qjax.errors import BackendError
from qjax.ir.circuit import Circuit, Operation, Param
from qjax.ir.pauli import PauliSum
from qjax.noise.mitigation import Reference, rem_energy, rem_std, uses_rem
from qjax.schemas import BestMitigationConfig, MitigationConfig, ReadoutREMMitigationConfig, REMMitigationConfig

# One qubit, RY(θ)|0>, H = Z, exact <Z> = cos θ. A symmetric readout error p flips each outcome with
# probability p, so the measured <Z> is (1 - 2p) cos θ (hand-computed). The reference θ = 0 is |0>, exact
# energy 1, measured 1 - 2p: REM adds 2p, giving (1 - 2p) cos θ + 2p; the bias at the reference is removed.
P = 0.05
CIRCUIT = Circuit(1, (Operation("RY", (0,), (Param(0),)),), num_params=1)
Z = PauliSum("Z0", 1)
REFERENCE = Reference(np.zeros(1), 1.0, "zero_state")


def _backend(mitigation, shots=None, reference=REFERENCE):
    backend = NoisySimulatorBackend(noise={"readout_error": P}, mitigation=mitigation, shots=shots, seed=3)
    backend.reference = reference
    return backend


@pytest.mark.parametrize("theta", [0.0, 0.4, 1.3, 2.5])
def test_rem_matches_the_hand_computed_shift(theta):
    objective = _backend(REMMitigationConfig("rem")).objective(CIRCUIT, Z)
    value, grad = objective.value_and_grad(jnp.asarray([theta], jnp.float32))
    assert float(value) == pytest.approx((1 - 2 * P) * np.cos(theta) + 2 * P, abs=1e-5)
    assert float(grad[0]) == pytest.approx(-(1 - 2 * P) * np.sin(theta), abs=1e-5)  # a constant shift
    report = objective.report(jnp.asarray([theta], jnp.float32))
    assert report["energy_unmitigated"] == pytest.approx((1 - 2 * P) * np.cos(theta), abs=1e-5)
    assert report["rem_shift"] == pytest.approx(2 * P, abs=1e-5)


def test_rem_removes_the_bias_at_the_reference_and_readout_rem_everywhere():
    rem = _backend(REMMitigationConfig("rem")).objective(CIRCUIT, Z)
    assert float(rem.value(jnp.zeros(1))) == pytest.approx(1.0, abs=1e-6)  # measured 1 - 2p, bias 2p removed
    both = _backend(ReadoutREMMitigationConfig("readout_rem")).objective(CIRCUIT, Z)
    for theta in (0.3, 2.0):  # the calibration inverse removes readout error exactly; REM then adds nothing
        assert float(both.value(jnp.asarray([theta]))) == pytest.approx(np.cos(theta), abs=1e-5)


def test_rem_is_differentiable_through_jax_grad():
    objective = _backend(REMMitigationConfig("rem")).objective(CIRCUIT, Z)
    grad = jax.grad(lambda p: objective.value(p))(jnp.asarray([0.9]))
    assert float(grad[0]) == pytest.approx(-(1 - 2 * P) * np.sin(0.9), abs=1e-5)


def test_sampled_rem_sends_the_reference_in_the_same_job():
    backend = _backend(REMMitigationConfig("rem"), shots=20000)
    objective = backend.objective(CIRCUIT, Z, gradient="parameter_shift")
    theta = 1.0
    value, _ = objective.value_and_grad(np.array([theta]))
    assert backend.runner.stats()["num_jobs"] == 1  # 1 + 2 shifted rows + the reference row, one job
    # two estimates of 20000 shots: standard error below sqrt(2/20000) = 0.01; 5σ
    assert value == pytest.approx((1 - 2 * P) * np.cos(theta) + 2 * P, abs=0.05)
    report = objective.report(np.array([theta]))
    assert backend.runner.stats()["num_jobs"] == 2
    # binomial errors of both rows, hand-computed from the measured means (1-2p)cos θ and 1-2p
    var = (1 - ((1 - 2 * P) * np.cos(theta)) ** 2) + (1 - (1 - 2 * P) ** 2)
    assert report["energy_std"] == pytest.approx(np.sqrt(var / 20000), rel=0.1)


def test_final_precision_raises_the_shots_of_the_one_final_job():
    backend = _backend(REMMitigationConfig("rem"), shots=1000)
    backend.final_precision = 0.004
    objective = backend.objective(CIRCUIT, Z, gradient="parameter_shift")
    objective.value_and_grad(np.array([1.2]))
    before = backend.runner.stats()
    report = objective.report(np.array([1.2]))
    after = backend.runner.stats()
    assert after["num_jobs"] == before["num_jobs"] + 1
    # variance per shot of Z at cos θ = 0.33 (and at the reference, ~0.19): ~0.9 + 0.19 → ~68k shots a row
    assert report["final_shots"] > 20 * 1000 * 2
    assert report["energy_std"] <= 0.004 * 1.3  # the estimate from the last step's errors, within sampling
    assert after["shots_total"] - before["shots_total"] == report["final_shots"]


def test_rem_without_reference_is_refused_with_one_line():
    with pytest.raises(BackendError, match="needs a reference state"):
        _backend(REMMitigationConfig("rem"), reference=None).objective(CIRCUIT, Z)


def test_rem_formula_and_flags():
    assert rem_energy(-1.0, 0.5, Reference(np.zeros(1), 0.45)) == pytest.approx(-1.05)
    assert rem_std(0.3, 0.4) == pytest.approx(0.5)
    assert uses_rem(REMMitigationConfig("rem")) and uses_rem(BestMitigationConfig("best"))
    assert not uses_rem(BestMitigationConfig("best", rem=False)) and not uses_rem(MitigationConfig("none"))
