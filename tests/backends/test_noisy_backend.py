"""``backend=noisy_simulator``: the digital twin of a fake device, config checks, objectives, the CLI.

Oracles: Aer's density-matrix simulator with ``NoiseModel.from_backend(FakeManilaV2())``
on the same transpiled circuit; readout through the ``ReadoutError`` s that
``from_backend`` uses (``basic_device_readout_errors``), applied with NumPy here; and
``backend=ibm_fake`` itself (slow), within its shot noise.
"""

import json
import subprocess
import sys
import warnings

import jax
import numpy as np
import pytest
from hydra import compose, initialize_config_module
from qiskit.quantum_info import DensityMatrix
from qiskit_aer import AerSimulator
from qiskit_aer.noise import NoiseModel as AerNoiseModel
from qiskit_aer.noise.device import basic_device_readout_errors
from qiskit_ibm_runtime.fake_provider import FakeManilaV2

from qjax import templates
from qjax.backends import make_backend
from qjax.backends.noisy_simulator import NoisySimulatorBackend
from qjax.config import validate
from qjax.errors import BackendError, ConfigError
from qjax.ir.circuit import Circuit, Param
from qjax.ir.pauli import PauliSum
from qjax.noise.density import compile_noisy
from qjax.schemas import MitigationConfig, ZNEMitigationConfig

H2_TERMS = "-0.1 + 0.17 Z0 + 0.17 Z1 - 0.22 Z2 - 0.22 Z3 + 0.17 Z0 Z1 + 0.12 Z0 Z2 + 0.17 Z0 Z3 + 0.045 X0 X1 Y2 Y3"


def _circuits():
    hea = templates.hardware_efficient(4, 2)
    ucc = templates.uccsd(4, 2)
    ghz = Circuit(3).h(0).cnot(0, 1).cnot(1, 2).ry(Param(0), 2).rz(Param(1), 0)
    return [("hea", hea, H2_TERMS), ("ucc", ucc, H2_TERMS), ("ghz", ghz, "Z0 Z1 + X0 X1 X2 - 0.5 Y2")]


@pytest.fixture(scope="module")
def aer_manila():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return AerSimulator(method="density_matrix", noise_model=AerNoiseModel.from_backend(FakeManilaV2()))


def _aer_state(sim, isa, columns, angles):
    bound = isa.assign_parameters(dict(zip(isa.parameters, np.asarray(angles)[columns])))
    bound.save_density_matrix()
    return DensityMatrix(np.asarray(sim.run(bound).result().data()["density_matrix"]))


@pytest.mark.parametrize(
    "name,circuit,obs",
    [pytest.param(*c, id=c[0], marks=[pytest.mark.slow] if c[0] == "ucc" else []) for c in _circuits()],
)
def test_fake_device_twin_matches_aer_from_backend(aer_manila, name, circuit, obs):
    backend = NoisySimulatorBackend(device="FakeManilaV2")
    observable = PauliSum(obs, circuit.num_wires)
    twin = backend.twin(circuit, [observable])
    params = np.random.default_rng(0).uniform(-1, 1, circuit.num_params)
    angles = circuit.linear_map().A @ params + circuit.linear_map().c
    rho = _aer_state(aer_manila, twin.isa, twin.columns, angles)
    laid_out = observable.to_qiskit(circuit.num_wires).apply_layout(twin.isa.layout)
    expected = rho.expectation_value(laid_out).real
    # without readout: the pre-measurement state, exactly what Aer's density matrix holds
    bare = compile_noisy(twin.circuit, twin.schedule, twin.observables[0], readout=None)
    got = float(jax.jit(bare.expval)(jax.numpy.asarray(angles[twin.columns])))
    assert got == pytest.approx(expected, abs=1e-3)  # the bound; measured ≤ 2e-6 in complex64
    assert abs(got - expected) < 1e-5
    # the objective adds the device's readout errors: check the Z part through Aer's readout matrices
    z_only = PauliSum([(c, w) for c, w in observable.terms if all(p == "Z" for _, p in w)], circuit.num_wires)
    noisy = backend.compile(backend.twin(circuit, [z_only]))
    probs = np.real(np.diag(rho.data))  # Qiskit order: index bit q = physical qubit q
    t = probs.reshape((2,) * 5)  # axis 4 - q is qubit q
    errors = dict(
        (qs[0], np.asarray(e.probabilities)) for qs, e in basic_device_readout_errors(target=FakeManilaV2().target)
    )
    for q, m in errors.items():
        t = np.moveaxis(np.tensordot(t, m, axes=([4 - q], [0])), -1, 4 - q)
    measured = t.reshape(-1)
    z_laid = z_only.to_qiskit(circuit.num_wires).apply_layout(twin.isa.layout)
    diag = np.real(np.diag(z_laid.to_matrix()))
    assert float(jax.jit(noisy.expval)(jax.numpy.asarray(angles[twin.columns]))[0]) == pytest.approx(
        float(measured @ diag), abs=1e-5
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,circuit,obs",
    [
        ("ry", Circuit(1).ry(Param(0), 0), "Z0"),
        ("ry-x", Circuit(1).ry(Param(0), 0), "X0"),
        ("bell", Circuit(2).ry(Param(0), 0).cnot(0, 1), "Z0 Z1 + Z0 + X0 X1"),
        ("ucc", templates.uccsd(4, 2), H2_TERMS),
    ],
    ids=["ry", "ry-x", "bell", "ucc"],
)
def test_twin_predicts_ibm_fake_within_shot_noise(name, circuit, obs):
    observable = PauliSum(obs, circuit.num_wires)
    lm = circuit.linear_map()
    angles = (lm.A @ np.linspace(0.4, 1.1, circuit.num_params) + lm.c)[None]
    fake = make_backend("ibm_fake", device="FakeManilaV2", shots=100_000, seed_simulator=1)
    measured = fake.executor(circuit, [observable]).submit(angles, mitigate=False).result()
    twin = make_backend("noisy_simulator", device="FakeManilaV2", seed_simulator=1)  # same seed: same transpilation
    predicted = twin.executor(circuit, [observable]).submit(angles).result().values
    assert predicted[0, 0] == pytest.approx(measured.values[0, 0], abs=5 * measured.stds[0, 0])


def test_objective_trains_through_the_density_matrix():
    backend = make_backend("noisy_simulator", device="FakeManilaV2")
    _, circuit, obs = _circuits()[2]
    objective = backend.objective(circuit, PauliSum(obs, 3))
    p = jax.numpy.array([0.4, -0.3])
    value, grad = objective.value_and_grad(p)
    assert float(value) == pytest.approx(float(objective.value(p)), abs=1e-6)
    eps = 1e-2  # central differences in float32: O(eps²) bias, O(1e-7/eps) round-off
    fd = [(objective.value(p + eps * e) - objective.value(p - eps * e)) / (2 * eps) for e in np.eye(2)]
    np.testing.assert_allclose(np.asarray(grad), np.asarray(fd), atol=2e-3)
    described = backend.describe()
    assert described["device"] == "FakeManilaV2" and described["transpiled"]["layout"]
    assert "calibration" in described and backend.stats()["num_jobs"] == 0


def test_shots_sample_within_the_error_bar_and_use_parameter_shift():
    circuit = Circuit(2).ry(Param(0), 0).cnot(0, 1).rx(Param(1), 1)
    obs = PauliSum("Z0 Z1 + 0.5 X1 + 0.2", 2)
    noise = {"depolarizing_1q": 0.01, "depolarizing_2q": 0.05, "readout_error": 0.03}
    exact = make_backend("noisy_simulator", noise=noise).objective(circuit, obs)
    sampled = make_backend("noisy_simulator", noise=noise, shots=4000, seed_simulator=3).objective(circuit, obs)
    p = np.array([0.4, -0.7])
    report = sampled.report(p)
    assert report["energy"] == pytest.approx(float(exact.value(p)), abs=5 * report["energy_std"])
    value, grad = sampled.value_and_grad(p)
    assert np.asarray(grad).shape == (2,)
    np.testing.assert_allclose(grad, np.asarray(exact.value_and_grad(jax.numpy.asarray(p))[1]), atol=0.15)


def test_parameter_shift_gradient_equals_backprop_through_the_density_matrix():
    circuit = Circuit(2).ry(Param(0), 0).cnot(0, 1).rx(Param(1), 1).crz(Param(0), 1, 0)
    obs = PauliSum("Z0 Z1 + 0.5 X1", 2)
    noise = {"depolarizing_2q": 0.05, "t1": 50.0, "t2": 40.0, "readout_error": 0.02}
    p = jax.numpy.array([0.4, -0.7])
    backprop = make_backend("noisy_simulator", noise=noise).objective(circuit, obs).value_and_grad(p)
    shifted = make_backend("noisy_simulator", noise=noise).objective(circuit, obs, gradient="parameter_shift")
    np.testing.assert_allclose(np.asarray(shifted.value_and_grad(p)[1]), np.asarray(backprop[1]), atol=2e-6)


def test_noiseless_noisy_simulator_equals_the_statevector_simulator():
    circuit = templates.hardware_efficient(3, 1)
    obs = PauliSum("Z0 Z1 + 0.3 X2 - 0.2 Y0 Y1", 3)
    p = jax.numpy.asarray(np.random.default_rng(1).uniform(-1, 1, circuit.num_params), jax.numpy.float32)
    a = make_backend("noisy_simulator").objective(circuit, obs).value_and_grad(p)
    b = make_backend("simulator").objective(circuit, obs).value_and_grad(p)
    assert float(a[0]) == pytest.approx(float(b[0]), abs=2e-6)
    np.testing.assert_allclose(np.asarray(a[1]), np.asarray(b[1]), atol=5e-6)


def test_backend_refusals():
    circuit = templates.hardware_efficient(6, 1)
    obs = PauliSum("Z0", 6)
    with pytest.raises(BackendError, match="has 5"):
        make_backend("noisy_simulator", device="FakeManilaV2").check(circuit, obs)
    with pytest.raises(BackendError, match="backend.max_qubits"):
        make_backend("noisy_simulator", max_qubits=4).check(circuit, obs)
    with pytest.raises(BackendError, match="set backend.shots=null"):  # JAX mitigation needs exact expectations
        make_backend("noisy_simulator", shots=100, mitigation=ZNEMitigationConfig("zne"))
    make_backend("noisy_simulator", mitigation=MitigationConfig("none"))
    with pytest.raises(BackendError, match="gradient=adjoint"):
        make_backend("noisy_simulator").objective(Circuit(1).rx(Param(0), 0), PauliSum("Z0"), gradient="adjoint")
    with pytest.raises(BackendError, match="did you mean FakeManilaV2"):
        make_backend("noisy_simulator", device="FakeManila").check(Circuit(1).x(0), PauliSum("Z0"))
    with pytest.raises(BackendError, match="calibration"):
        make_backend("noisy_simulator", device="FakeManilaV2", noise={"depolarizing_1q": 0.1})


@pytest.fixture(scope="module")
def hydra_ctx():
    with initialize_config_module(config_module="qjax.conf", version_base="1.3"):
        yield


@pytest.mark.parametrize(
    "override,needle",
    [
        ("backend.noise.depolarizing_1q=1.5", "backend.noise.depolarizing_1q=1.5 is invalid: must be a probability"),
        ("backend.noise.amplitude_damping=-0.1", "backend.noise.amplitude_damping=-0.1 is invalid"),
        ("backend.noise.readout_error=2", "backend.noise.readout_error=2.0 is invalid"),
        (
            "backend.noise.t1=100 backend.noise.t2=250",
            "backend.noise.t2=250.0 is invalid: must be at most 2·backend.noise.t1",
        ),
        ("backend.noise.t1=-5", "backend.noise.t1=-5.0 is invalid"),
        ("backend.shots=0", "backend.shots=0 is invalid: must be null (exact) or an integer in 1..10000000"),
        (
            "backend.method=exact",
            "backend.method='exact' is invalid: must be one of auto, density_matrix, trajectories",
        ),
        ("backend.trajectories=0", "backend.trajectories=0 is invalid"),
    ],
)
def test_out_of_range_values_are_refused_naming_the_key(hydra_ctx, override, needle):
    cfg = compose(config_name="config", overrides=["+experiment=vqe", "backend=noisy_simulator", *override.split()])
    with pytest.raises(ConfigError) as info:
        validate(cfg)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_config_builds_the_backend(hydra_ctx):
    cfg = compose(
        config_name="config",
        overrides=["+experiment=vqe", "backend=noisy_simulator", "backend.device=FakeManilaV2", "backend.shots=100"],
    )
    rc = validate(cfg)
    assert rc.backend.name == "noisy_simulator" and rc.backend.noise.t1 is None
    options = {k: v for k, v in vars(rc.backend).items() if k != "name"}
    backend = make_backend("noisy_simulator", **options)
    assert backend.describe()["device"] == "FakeManilaV2" and backend.shots == 100


SMALL = ["problem=tfim", "problem.n=2", "ansatz=hea", "ansatz.layers=1"]


def _train(tmp_path, *overrides):
    cmd = [
        sys.executable,
        "-m",
        "qjax.train",
        "+experiment=vqe",
        "backend=noisy_simulator",
        "trainer.steps=3",
        f"hydra.run.dir={tmp_path / 'run'}",
        f"checkpoint.dir={tmp_path / 'ck'}",
        *overrides,
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((tmp_path / "run" / "result.json").read_text())


def test_cli_trains_with_explicit_noise(tmp_path):
    result = _train(
        tmp_path,
        *SMALL,
        "backend.noise.depolarizing_2q=0.02",
        "backend.noise.t1=100",
        "backend.noise.t2=80",
        "backend.noise.readout_error=0.02",
    )
    assert result["backend"] == "noisy_simulator" and result["steps"] == 3
    assert result["energy"] > result["exact_energy"]  # noise keeps the energy above the ground state


@pytest.mark.slow
def test_cli_trains_h2_on_the_fake_manila_twin(tmp_path):
    result = _train(tmp_path, "backend.device=FakeManilaV2")
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["backend"]["device"] == "FakeManilaV2"
    assert result["energy"] > result["exact_energy"]


def test_cli_refuses_out_of_range_noise_in_one_line(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "qjax.train",
        "+experiment=vqe",
        "backend=noisy_simulator",
        "backend.noise.depolarizing_2q=1.2",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "backend.noise.depolarizing_2q=1.2 is invalid" in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
