"""Noise channels and models against ``qiskit_aer.noise`` and ``qiskit.quantum_info``.

Each channel acts on random density matrices as Aer's error of the same name does
(Aer's channel applied by ``DensityMatrix.evolve``; ours by a NumPy Kraus sum here).
"""

import warnings

import numpy as np
import pytest
from qiskit.quantum_info import DensityMatrix, Kraus, average_gate_fidelity, random_density_matrix
from qiskit_aer import noise as aer_noise

from qjax import noise as qn
from qjax.errors import ConfigError


def _act(channel, rho):
    return sum(k @ rho @ k.conj().T for k in channel.kraus)


def _aer_act(error, rho):
    # one- or two-qubit channels symmetric under qubit exchange: Qiskit's qubit order does not matter
    return DensityMatrix(rho).evolve(error.to_quantumchannel()).data


@pytest.mark.parametrize(
    "ours,theirs",
    [
        (qn.depolarizing(0.1, 1), aer_noise.depolarizing_error(0.1, 1)),
        (qn.depolarizing(0.3, 2), aer_noise.depolarizing_error(0.3, 2)),
        (qn.depolarizing(16 / 15, 2), aer_noise.depolarizing_error(16 / 15, 2)),
        (qn.amplitude_damping(0.27), aer_noise.amplitude_damping_error(0.27)),
        (qn.phase_damping(0.4), aer_noise.phase_damping_error(0.4)),
        (qn.thermal_relaxation(50e-6, 30e-6, 1e-6), aer_noise.thermal_relaxation_error(50e-6, 30e-6, 1e-6)),
        (qn.thermal_relaxation(50e-6, 90e-6, 3e-6), aer_noise.thermal_relaxation_error(50e-6, 90e-6, 3e-6)),
        (qn.thermal_relaxation(50e-6, 90e-6, 3e-6, 0.1), aer_noise.thermal_relaxation_error(50e-6, 90e-6, 3e-6, 0.1)),
        (qn.thermal_relaxation(np.inf, 40e-6, 2e-6), aer_noise.thermal_relaxation_error(np.inf, 40e-6, 2e-6)),
    ],
    ids=["dep1", "dep2", "dep2-max", "amp", "phase", "t2<t1", "t1<t2", "excited", "t1=inf"],
)
def test_channels_act_like_aer(ours, theirs):
    d = ours.kraus.shape[-1]
    for seed in range(3):
        rho = random_density_matrix(d, seed=seed).data
        np.testing.assert_allclose(_act(ours, rho), _aer_act(theirs, rho), atol=1e-12)


def test_composition_and_tensor_products_match_aer():
    a, b = qn.amplitude_damping(0.2), qn.phase_damping(0.3)
    rho = random_density_matrix(2, seed=4).data
    expected = _aer_act(aer_noise.amplitude_damping_error(0.2).compose(aer_noise.phase_damping_error(0.3)), rho)
    np.testing.assert_allclose(_act(a.then(b), rho), expected, atol=1e-12)
    # tensor: ours puts `a` on the more significant qubit, Qiskit's a.tensor(b) too (b on qubit 0)
    rho2 = random_density_matrix(4, seed=5).data
    aer = aer_noise.amplitude_damping_error(0.2).tensor(aer_noise.phase_damping_error(0.3))
    np.testing.assert_allclose(_act(a.tensor(b), rho2), _aer_act(aer, rho2), atol=1e-12)
    assert len(a.then(b).minimal().kraus) <= 4


def test_average_gate_fidelity_matches_qiskit():
    ch = qn.thermal_relaxation(80e-6, 60e-6, 300e-9).tensor(qn.thermal_relaxation(70e-6, 100e-6, 300e-9))
    assert qn.average_gate_fidelity(ch) == pytest.approx(average_gate_fidelity(Kraus(list(ch.kraus))), abs=1e-14)


def test_device_depolarizing_reproduces_the_reported_gate_error():
    relax = qn.thermal_relaxation(100e-6, 80e-6, 300e-9).tensor(qn.thermal_relaxation(120e-6, 90e-6, 300e-9))
    depol = qn.device_depolarizing(0.01, 2, relax)
    total = depol.then(relax)
    assert 1 - average_gate_fidelity(Kraus(list(total.kraus))) == pytest.approx(0.01, abs=1e-12)
    assert qn.device_depolarizing(1e-6, 2, relax) is None  # relaxation alone already explains the error


def test_out_of_range_noise_parameters_are_refused():
    with pytest.raises(ConfigError, match=r"depolarizing_1q=1.5 is invalid"):
        qn.depolarizing(1.5, 1)
    with pytest.raises(ConfigError, match=r"amplitude_damping=-0.1 is invalid"):
        qn.amplitude_damping(-0.1)
    with pytest.raises(ConfigError, match=r"T2 ≤ 2·T1"):
        qn.thermal_relaxation(10e-6, 30e-6, 1e-7)
    with pytest.raises(ConfigError, match="readout_error=1.2"):
        qn.readout_confusion(1.2)
    with pytest.raises(ConfigError, match="trace preserving"):
        qn.Channel(np.array([[1.0, 0], [0, 0.5]]))


def test_model_rules_on_exact_wires_override_the_general_ones():
    dep = qn.depolarizing(0.1)
    amp = qn.amplitude_damping(0.2)
    model = (
        qn.NoiseModel()
        .with_gate_error(dep, arity=1)
        .with_gate_error(amp, "CX", wires=[0, 1])
        .with_gate_error(qn.depolarizing(0.2, 2), "cx")
    )
    assert model.channels_after("RX", (2,)) == ((dep, (2,)),)
    assert model.channels_after("CNOT", (0, 1)) == ((amp, (0,)), (amp, (1,)))
    assert len(model.channels_after("CNOT", (1, 0))) == 1 and model.channels_after("CNOT", (1, 0))[0][1] == (1, 0)
    assert model.channels_after("CZ", (0, 1)) == ()


@pytest.fixture(scope="module")
def hanoi():
    from qiskit_ibm_runtime.fake_provider import FakeHanoiV2

    return FakeHanoiV2()


def test_t2_above_twice_t1_is_clipped_with_a_warning_as_aer_does(hanoi):
    with pytest.warns(UserWarning, match=r"T2 > 2·T1 .* clipped to 2·T1"):
        device = qn.device_noise(hanoi)
    assert device.clipped
    q = device.clipped[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        aer = aer_noise.NoiseModel.from_backend(hanoi)
    ours = device.gates[("sx", (q,))]
    rho0 = random_density_matrix(2, seed=6).data
    rho = rho0
    for channel, _ in ours:  # depolarizing, then relaxation with the clipped T2
        rho = _act(channel, rho)
    np.testing.assert_allclose(rho, _aer_act(aer._local_quantum_errors["sx"][(q,)], rho0), atol=1e-12)


def test_device_readout_is_aers_from_backend_readout():
    from qiskit_aer.noise.device import basic_device_readout_errors
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    dev = FakeManilaV2()
    ours = qn.device_noise(dev).readout
    theirs = {qs[0]: np.asarray(e.probabilities) for qs, e in basic_device_readout_errors(target=dev.target)}
    assert set(ours) == set(theirs)
    for q in theirs:
        np.testing.assert_allclose(ours[q], theirs[q], atol=1e-15)
