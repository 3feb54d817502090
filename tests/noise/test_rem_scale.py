"""Rescaled reference-state mitigation (mitigation.rem_model=scale) against hand-computed cases."""

import jax.numpy as jnp
import numpy as np
import pytest

from qjax.backends import make_backend
from qjax.config import config_hash, group_config, validate
from qjax.errors import BackendError
from qjax.experiments.build import build_experiment
from qjax.ir.circuit import Circuit, Operation, Param
from qjax.ir.pauli import PauliSum
from qjax.noise.mitigation import Reference, rem_energy, rem_factor, rem_std

# H = c0·I + a·Z + b·X on one qubit (tapered H2 at 0.7414 Å, rounded: any values do)
C0, A, B = -0.3287, 0.7880, 0.1813


def _ideal(theta):
    """<H> after X then RY(θ): RY(θ)|1> = −sin(θ/2)|0> + cos(θ/2)|1>, so <Z> = −cos θ and <X> = −sin θ."""
    return C0 - A * np.cos(theta) - B * np.sin(theta)


def test_hand_computed_numbers():
    reference = Reference(np.zeros(1), energy=-2.0, model="scale", constant=-1.0)
    # f = (−1.5 − (−1)) / (−2 − (−1)) = 0.5; E = −1 + (−1.8 + 1)/0.5 = −2.6
    assert rem_factor(-1.5, reference) == pytest.approx(0.5)
    assert rem_energy(-1.8, -1.5, reference) == pytest.approx(-2.6)
    assert rem_energy(-1.5, -1.5, reference) == pytest.approx(-2.0)  # exact at the reference
    assert rem_energy(-1.8, -1.5, reference._replace(model="shift")) == pytest.approx(-2.3)


def test_std_is_first_order_error_propagation():
    """Against finite differences of rem_energy in each independent estimate."""
    reference = Reference(np.zeros(1), energy=-2.0, model="scale", constant=-1.0)
    m, r, s, s_ref, h = -1.8, -1.5, 0.01, 0.02, 1e-6
    d_m = (rem_energy(m + h, r, reference) - rem_energy(m - h, r, reference)) / (2 * h)
    d_r = (rem_energy(m, r + h, reference) - rem_energy(m, r - h, reference)) / (2 * h)
    expected = ((d_m * s) ** 2 + (d_r * s_ref) ** 2) ** 0.5
    assert rem_std(s, s_ref, m, r, reference) == pytest.approx(expected, rel=1e-6)
    assert rem_std(s, s_ref) == pytest.approx((s**2 + s_ref**2) ** 0.5)  # shift: the plain sum


@pytest.mark.parametrize("measured_reference", [-1.01, -0.5, -1.0])  # f = 0.01, −0.5 (sign flipped), 0
def test_tiny_or_negative_factor_is_refused_in_one_line(measured_reference):
    reference = Reference(np.zeros(1), energy=-2.0, model="scale", constant=-1.0)
    with pytest.raises(BackendError) as info:
        rem_energy(-1.8, measured_reference, reference)
    assert "mitigation.rem_model=shift" in str(info.value) and "\n" not in str(info.value)


def _objective(model: str, p: float):
    """The noisy simulator with depolarising noise after every gate on one wire: a global depolarising channel."""
    circuit = Circuit(1, (Operation("X", (0,)), Operation("RY", (0,), (Param(0),))), num_params=1)
    observable = PauliSum([(C0, ()), (A, ((0, "Z"),)), (B, ((0, "X"),))], 1)
    backend = make_backend(
        "noisy_simulator",
        noise={"depolarizing_1q": p},
        mitigation=group_config("mitigation", {"name": "rem", "rem_model": model}),
    )
    backend.reference = Reference(np.zeros(1), energy=_ideal(0.0), model=model, constant=C0)
    return backend.objective(circuit, observable)


def test_scale_undoes_a_known_global_depolarising_channel_and_its_gradient():
    scaled, shifted = _objective("scale", 0.1), _objective("shift", 0.1)
    for theta in (0.3, -1.2, 2.5):
        x = jnp.asarray([theta], jnp.float32)
        assert float(scaled.value(x)) == pytest.approx(_ideal(theta), abs=2e-5)  # complex64
        _, grad = scaled.value_and_grad(x)
        assert float(grad[0]) == pytest.approx(A * np.sin(theta) - B * np.cos(theta), abs=5e-5)
        # the shift only fixes the offset: the contracted landscape stays contracted away from the reference
        assert abs(float(shifted.value(x)) - _ideal(theta)) > 1e-3


def test_rem_model_reaches_the_reference_and_keeps_the_hash(compose, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scale = ("mitigation=readout_rem", "mitigation.rem_model=scale")
    rc = validate(compose("+experiment=vqe", "backend=ibm_fake", "problem=lih", *scale))
    experiment = build_experiment(rc)
    reference, observable = experiment.reference, experiment.problem.observable
    matrix = np.asarray(observable.to_matrix(sparse=False))
    assert reference.model == "scale"
    assert reference.constant == pytest.approx(float(np.trace(matrix).real) / len(matrix), abs=1e-10)  # tr(H)/2^n
    plain = validate(compose("+experiment=vqe", "backend=ibm_fake", "problem=lih"))
    shift = ("mitigation=readout_rem", "mitigation.rem_model=shift")
    explicit = validate(compose("+experiment=vqe", "backend=ibm_fake", "problem=lih", *shift))
    assert config_hash(plain) == config_hash(explicit) != config_hash(rc)
