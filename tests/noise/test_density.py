"""The noisy simulator's engines against Qiskit Aer and Qiskit ``Statevector``.

Oracles: ``AerSimulator(method="density_matrix")`` with the SAME noise built from
``qiskit_aer.noise`` (density matrices, and shifted-angle evaluations for
gradients); readout is checked against Aer's pre-measurement state read through
confusion matrices with NumPy, written out here independently of qjax.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import DensityMatrix, SparsePauliOp, Statevector
from qiskit_aer import AerSimulator
from qiskit_aer import noise as aer_noise

import qjax
from qjax import noise as qn
from qjax.errors import PrecisionError
from qjax.interop.qiskit import from_qiskit
from qjax.noise.density import compile_noisy

ONE_QUBIT = ["rx", "ry", "rz", "h", "sx", "x", "t"]
TWO_QUBIT = ["cx", "cz", "rzz"]
# Settings in seconds; both simulators get them.
SETTINGS = dict(
    depolarizing_1q=0.01,
    depolarizing_2q=0.05,
    amplitude_damping=0.02,
    phase_damping=0.03,
    t1=50e-6,
    t2=70e-6,
    gate_time_1q=50e-9,
    gate_time_2q=300e-9,
)


def random_circuit(n, depth, seed, params=False):
    rng = np.random.default_rng(seed)
    qc = QuantumCircuit(n)
    for _ in range(depth):
        g = rng.choice(ONE_QUBIT + TWO_QUBIT)
        if g in TWO_QUBIT:
            a, b = (int(v) for v in rng.choice(n, 2, replace=False))
            if g == "rzz":
                qc.rzz(float(rng.uniform(-3, 3)), a, b)
            else:
                getattr(qc, g)(a, b)
        elif g in ("rx", "ry", "rz"):
            getattr(qc, g)(float(rng.uniform(-3, 3)), int(rng.integers(n)))
        else:
            getattr(qc, g)(int(rng.integers(n)))
    return qc


def aer_model(s=SETTINGS, readout=None):
    """The same noise as :meth:`qjax.noise.NoiseModel.from_settings`, built with qiskit_aer.noise."""
    th1 = aer_noise.thermal_relaxation_error(s["t1"], s["t2"], s["gate_time_1q"])
    th2 = aer_noise.thermal_relaxation_error(s["t1"], s["t2"], s["gate_time_2q"])
    amp, ph = (
        aer_noise.amplitude_damping_error(s["amplitude_damping"]),
        aer_noise.phase_damping_error(s["phase_damping"]),
    )
    e1 = aer_noise.depolarizing_error(s["depolarizing_1q"], 1).compose(amp).compose(ph).compose(th1)
    e2 = (
        aer_noise.depolarizing_error(s["depolarizing_2q"], 2)
        .compose(amp.tensor(amp))
        .compose(ph.tensor(ph))
        .compose(th2.tensor(th2))
    )
    model = aer_noise.NoiseModel()
    model.add_all_qubit_quantum_error(e1, ONE_QUBIT)
    model.add_all_qubit_quantum_error(e2, TWO_QUBIT)
    return model


def aer_density(qc, model):
    """Aer's density matrix in qjax's order (wire 0 = most significant bit)."""
    qc = qc.copy()
    qc.save_density_matrix()
    sim = AerSimulator(method="density_matrix", noise_model=model, precision="double")
    rho = sim.run(qc, basis_gates=None, optimization_level=0).result().data()["density_matrix"]
    return DensityMatrix(np.asarray(rho)).reverse_qargs().data


@pytest.mark.parametrize("n,seed", [(2, 0), (3, 1), (4, 2)])
def test_density_matrix_matches_aer_complex128(n, seed):
    qc = random_circuit(n, 14, seed)
    expected = aer_density(qc, aer_model())
    with jax.enable_x64(True):
        comp = compile_noisy(from_qiskit(qc), qn.NoiseModel.from_settings(**SETTINGS), dtype=jnp.complex128)
        rho = np.asarray(jax.jit(comp.density)(None))
    assert rho.dtype == np.complex128
    np.testing.assert_allclose(rho, expected, atol=1e-5, rtol=0)  # the bound; measured ~1e-15
    assert np.abs(rho - expected).max() < 1e-12


def test_density_matrix_matches_aer_complex64():
    qc = random_circuit(4, 20, 7)
    expected = aer_density(qc, aer_model())
    comp = compile_noisy(from_qiskit(qc), qn.NoiseModel.from_settings(**SETTINGS))
    rho = np.asarray(jax.jit(comp.density)(None))
    assert rho.dtype == np.complex64
    np.testing.assert_allclose(rho, expected, atol=1e-5, rtol=0)  # float32 round-off over ~20 superoperators


def test_expectations_match_aer_and_stay_real():
    qc = random_circuit(3, 12, 3)
    obs = SparsePauliOp.from_list([("IZZ", 1.0), ("XII", 0.5), ("YXI", -0.3), ("ZYX", 0.2), ("III", 0.7)])
    expected = DensityMatrix(aer_density(qc, aer_model())).reverse_qargs().expectation_value(obs).real
    with jax.enable_x64(True):
        comp = compile_noisy(from_qiskit(qc), qn.NoiseModel.from_settings(**SETTINGS), obs, dtype=jnp.complex128)
        assert float(jax.jit(comp.expval)(None)) == pytest.approx(expected, abs=1e-12)


HADAMARD = np.array([[1, 1], [1, -1]]) / np.sqrt(2)
SDG = np.diag([1, -1j])


def _read_through(probs_big_endian, confusions):
    """Measured distribution when wire w's bit goes through confusion[w] (row: prepared, column: read)."""
    n = len(confusions)
    t = probs_big_endian.reshape((2,) * n)
    for w, m in enumerate(confusions):
        t = np.moveaxis(np.tensordot(t, m, axes=([w], [0])), -1, w)
    return t.reshape(-1)


def test_readout_error_on_probabilities_and_pauli_expectations():
    n = 3
    qc = random_circuit(n, 10, 4)
    conf = [np.array([[0.97, 0.03], [0.08, 0.92]]), None, np.array([[0.9, 0.1], [0.1, 0.9]])]
    model = qn.NoiseModel.from_settings(**SETTINGS)
    for w, m in enumerate(conf):
        if m is not None:
            model = model.with_readout_error(m, [w])
    ident = np.eye(2)
    full = [m if m is not None else ident for m in conf]
    aer = aer_model()
    with jax.enable_x64(True):
        words = ["Z0 Z2", "X0 Y1 Z2", "Y2", "X0"]
        comp = compile_noisy(from_qiskit(qc), model, words, dtype=jnp.complex128)
        np.testing.assert_allclose(
            np.asarray(jax.jit(comp.probs)(None)),
            _read_through(np.real(np.diag(aer_density(qc, aer))), full),
            atol=1e-12,
        )
        got = np.asarray(jax.jit(comp.expval)(None))
    for word, value in zip(words, got):
        rotated = qc.copy()  # measure the word: rotate its X/Y factors to Z (noiselessly: a 'unitary'
        for tok in word.split():  # instruction has no error in the model), read every bit through the confusion
            p, w = tok[0], int(tok[1:])
            if p in "XY":
                rotated.unitary(HADAMARD @ (SDG if p == "Y" else np.eye(2)), [w])
        measured = _read_through(np.real(np.diag(aer_density(rotated, aer))), full)
        support = [int(tok[1:]) for tok in word.split()]
        signs = np.array([(-1) ** sum((b >> (n - 1 - w)) & 1 for w in support) for b in range(2**n)])
        assert value == pytest.approx(float(measured @ signs), abs=1e-12), word


def test_noiseless_equals_statevector():
    qc = random_circuit(4, 16, 5)
    psi = Statevector(qc).reverse_qargs().data
    comp = compile_noisy(from_qiskit(qc), None, "Z0 X1 + 0.5 Y2 Z3")
    np.testing.assert_allclose(np.asarray(jax.jit(comp.density)(None)), np.outer(psi, psi.conj()), atol=2e-6)
    exact = jax.jit(qjax.compile(from_qiskit(qc), "Z0 X1 + 0.5 Y2 Z3").expval)(None)
    assert float(jax.jit(comp.expval)(None)) == pytest.approx(float(exact), abs=2e-6)


def test_trajectories_converge_to_the_density_matrix():
    qc = random_circuit(3, 12, 6)
    obs = "Z0 Z1 + 0.5 X2 - 0.3 Y0"
    model = qn.NoiseModel.from_settings(**{**SETTINGS, "amplitude_damping": 0.1, "depolarizing_2q": 0.1})
    exact = float(jax.jit(compile_noisy(from_qiskit(qc), model, obs).expval)(None))
    T = 2000
    traj = compile_noisy(from_qiskit(qc), model, obs, method="trajectories", trajectories=T, seed=1)
    assert traj.method == "trajectories" and traj.density is None
    # each trajectory's value lies in [-1.8, 1.8], so its std is ≤ 1.8: 4 standard errors
    assert float(jax.jit(traj.expval)(None)) == pytest.approx(exact, abs=4 * 1.8 / np.sqrt(T))


@pytest.mark.slow
def test_trajectory_probabilities_converge():
    qc = random_circuit(3, 12, 6)
    model = qn.NoiseModel.from_settings(**{**SETTINGS, "amplitude_damping": 0.1, "depolarizing_2q": 0.1})
    T = 4000
    p_exact = np.asarray(jax.jit(compile_noisy(from_qiskit(qc), model).probs)(None))
    p_traj = np.asarray(
        jax.jit(compile_noisy(from_qiskit(qc), model, method="trajectories", trajectories=T).probs)(None)
    )
    assert np.abs(p_traj - p_exact).max() < 4 * 0.5 / np.sqrt(T)


def test_gradient_through_the_density_matrix_matches_aer_parameter_shift():
    from qiskit.circuit import Parameter

    thetas = [Parameter(f"t{i}") for i in range(3)]
    qc = QuantumCircuit(3)
    qc.ry(thetas[0], 0)
    qc.cx(0, 1)
    qc.rx(thetas[1], 1)
    qc.cz(1, 2)
    qc.ry(thetas[2], 2)
    qc.cx(2, 0)
    obs = SparsePauliOp.from_list([("ZZI", 1.0), ("XIX", 0.4)])
    values = np.array([0.3, -1.1, 0.8])
    aer = aer_model()

    def aer_energy(v):
        bound = qc.assign_parameters(dict(zip(thetas, v)))
        return DensityMatrix(aer_density(bound, aer)).reverse_qargs().expectation_value(obs).real

    reference = [(aer_energy(values + np.pi / 2 * e) - aer_energy(values - np.pi / 2 * e)) / 2 for e in np.eye(3)]
    with jax.enable_x64(True):
        comp = compile_noisy(from_qiskit(qc), qn.NoiseModel.from_settings(**SETTINGS), obs, dtype=jnp.complex128)
        value, grad = jax.jit(jax.value_and_grad(comp.expval))(jnp.asarray(values))
        assert float(value) == pytest.approx(aer_energy(values), abs=1e-12)
        np.testing.assert_allclose(np.asarray(grad), reference, atol=1e-10)


@pytest.mark.slow
def test_trajectory_gradient_is_parameter_shift_over_the_same_keys():
    from qiskit.circuit import Parameter

    thetas = [Parameter(f"t{i}") for i in range(2)]
    qc = QuantumCircuit(2)
    qc.ry(thetas[0], 0)
    qc.cx(0, 1)
    qc.rx(thetas[1], 1)
    obs = "Z0 Z1 + 0.4 X1"
    values = jnp.array([0.3, -1.1])
    model = qn.NoiseModel.from_settings(**{**SETTINGS, "amplitude_damping": 0.1})
    exact = compile_noisy(from_qiskit(qc), model, obs)
    traj = compile_noisy(from_qiskit(qc), model, obs, method="trajectories", trajectories=4000)
    # each shifted estimate lies in [-1.4, 1.4]; the rule takes half the difference of two of them
    np.testing.assert_allclose(
        np.asarray(jax.jit(jax.grad(traj.expval))(values)),
        np.asarray(jax.jit(jax.grad(exact.expval))(values)),
        atol=4 * 1.4 / np.sqrt(4000),
    )


def test_jit_does_not_retrace_and_vmap_batches():
    qc = from_qiskit(random_circuit(3, 8, 8))
    from qjax.ir.circuit import Circuit, Param

    c = Circuit(3).ry(Param(0), 0).cnot(0, 1).rz(Param(1), 1).extend(qc.operations)
    comp = compile_noisy(c, qn.NoiseModel.from_settings(**SETTINGS), "Z0 Z1")
    traces = []

    def f(p):
        traces.append(1)
        return comp.expval(p)

    jf = jax.jit(f)
    jf(jnp.array([0.1, 0.2]))
    jf(jnp.array([0.3, -0.2]))
    assert len(traces) == 1
    batch = jnp.array([[0.1, 0.2], [0.3, -0.2]])
    np.testing.assert_allclose(jax.jit(jax.vmap(comp.expval))(batch), [jf(b) for b in batch], atol=1e-6)


def test_complex128_without_x64_is_refused():
    assert not jax.config.jax_enable_x64
    with pytest.raises(PrecisionError, match="x64"):
        compile_noisy(from_qiskit(random_circuit(2, 3, 0)), None, dtype=jnp.complex128)


def test_sample_draws_from_the_readout_noisy_distribution():
    qc = QuantumCircuit(2)
    qc.x(0)
    model = qn.NoiseModel().with_readout_error(qn.readout_confusion(0.1, 0.2))
    comp = compile_noisy(from_qiskit(qc), model)
    bits = np.asarray(jax.jit(comp.sample, static_argnums=2)(jax.random.PRNGKey(0), None, 20000))
    # wire 0 prepared in 1 is read as 0 with p=0.2; wire 1 prepared in 0 is read as 1 with p=0.1
    assert bits[:, 0].mean() == pytest.approx(0.8, abs=0.015)
    assert bits[:, 1].mean() == pytest.approx(0.1, abs=0.015)
