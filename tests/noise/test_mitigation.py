"""JAX mitigation pieces against independent references: Qiskit operators and density matrices,
NumPy polynomial fits, closed forms, finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from qiskit.quantum_info import DensityMatrix, Kraus, Operator, SparsePauliOp

from qjax import templates
from qjax.errors import ConfigError
from qjax.interop.qiskit import to_qiskit
from qjax.ir.circuit import Circuit, Operation, Param
from qjax.ir.gates import GATES
from qjax.noise.channels import amplitude_damping, depolarizing
from qjax.noise.density import compile_noisy
from qjax.noise.mitigation import extrapolate, fold_gates, fold_global, inverse, scale_noise

RNG = np.random.default_rng(7)
TABLE = [g for g in GATES if g not in ("Unitary",)]


def _bound(circuit: Circuit, params):
    """``to_qiskit(circuit)`` with ``params`` bound by index (unused parameters are not in the export)."""
    qc = to_qiskit(circuit)
    return qc.assign_parameters({p: params[p.index] for p in qc.parameters})


def _op(gate: str) -> Operation:
    spec = GATES[gate]
    return Operation(gate, tuple(range(spec.num_wires)), tuple(RNG.uniform(-np.pi, np.pi, spec.num_params)))


@pytest.mark.parametrize("gate", TABLE)
def test_inverse_undoes_every_gate(gate):
    op = _op(gate)
    pair = Circuit(GATES[gate].num_wires, (op, inverse(op)))
    assert Operator(to_qiskit(pair)).equiv(Operator(np.eye(2**pair.num_wires)))


def test_inverse_keeps_parameters_symbolic():
    op = Operation("RZZ", (0, 1), (2.0 * Param(1) + 0.3,))
    circuit = Circuit(2, (Operation("H", (0,)), op, inverse(op)), num_params=2)
    assert Operator(_bound(circuit, [0.4, 1.1])).equiv(Operator(to_qiskit(Circuit(2, (Operation("H", (0,)),)))))


def _noisy_density(circuit: Circuit, schedule, params) -> DensityMatrix:
    """Qiskit's density-matrix evolution: each gate (via to_qiskit), then its Kraus channels."""
    rho = DensityMatrix.from_label("0" * circuit.num_wires)
    for op, channels in zip(circuit.operations, schedule):
        rho = rho.evolve(_bound(Circuit(circuit.num_wires, (op,), num_params=circuit.num_params), params))
        for channel, wires in channels:
            # Qiskit's first qarg is its least significant bit; qjax's first wire is the most significant
            rho = rho.evolve(Kraus(list(channel.kraus)), qargs=list(reversed(wires)))
    return rho


def _schedule(circuit: Circuit, p1=0.02, p2=0.05):
    return tuple(
        ((depolarizing(p2 if len(op.wires) == 2 else p1, len(op.wires)), op.wires),)
        + ((amplitude_damping(0.01), (op.wires[0],)),)
        for op in circuit.operations
    )


@pytest.mark.parametrize("fold", [fold_global, fold_gates])
def test_folding_keeps_the_ideal_state_and_amplifies_the_noise(fold):
    circuit = templates.hardware_efficient(3, 2, rotations=("RY", "RZ"))
    params = RNG.uniform(-1, 1, circuit.num_params)
    schedule = _schedule(circuit)
    Z0 = SparsePauliOp("IIZ")  # Z on Qiskit qubit 0 = wire 0
    values = []
    for factor in (1, 3, 5):
        folded, noise = fold(circuit, schedule, factor)
        assert len(noise) == len(folded.operations)
        assert Operator(_bound(folded, params)).equiv(Operator(_bound(circuit, params)))
        values.append(float(np.real(_noisy_density(folded, noise, params).expectation_value(Z0))))
        # and qjax's density-matrix simulator runs the amplified pair as Qiskit does (complex64: 1e-5)
        ours = compile_noisy(folded, noise, "Z0", readout=[None] * 3).expval(jnp.asarray(params, jnp.float32))
        assert float(ours) == pytest.approx(values[-1], abs=1e-5)
    clean = float(np.real(DensityMatrix(_bound(circuit, params)).expectation_value(Z0)))
    assert abs(values[0] - clean) < abs(values[1] - clean) < abs(values[2] - clean)


def test_gate_folding_counts():
    circuit = templates.hardware_efficient(3, 1)  # 6 rotations + 2 CNOTs
    folded, _ = fold_gates(circuit, [()] * len(circuit.operations), 5)
    assert folded.gate_counts()["CNOT"] == 2 * 5 and len(folded.operations) == 6 + 2 * 5
    folded, _ = fold_global(circuit, [()] * len(circuit.operations), 3)
    assert len(folded.operations) == 3 * len(circuit.operations)


@pytest.mark.parametrize("factor", [0, 2, 1.5, -1])
def test_folding_needs_odd_integer_factors(factor):
    circuit = templates.hardware_efficient(2, 1)
    with pytest.raises(ConfigError, match=rf"noise factor {factor} cannot be made by global folding"):
        fold_global(circuit, [()] * len(circuit.operations), factor)


@pytest.mark.parametrize("factor", [1, 2, 3, 1.5, 2.7])
def test_noise_scaling_raises_a_depolarizing_channel_to_a_power(factor):
    p = 0.1
    ((scaled, wires),) = scale_noise((((depolarizing(p, 1), (0,)),),), factor)[0]
    # closed form: depolarizing shrinks the Bloch vector by (1 - p), so E^λ by (1 - p)^λ
    rho = DensityMatrix.from_label("0").evolve(Kraus(list(scaled.kraus)))
    assert float(np.real(rho.expectation_value(SparsePauliOp("Z")))) == pytest.approx((1 - p) ** factor, abs=1e-10)


def test_noise_scaling_refuses_to_reduce_noise():
    with pytest.raises(ConfigError, match=r"noise can only be amplified"):
        scale_noise((((depolarizing(0.1, 1), (0,)),),), 0.5)


FACTORS = [1.0, 2.0, 3.0, 5.0]


@pytest.mark.parametrize("method, degree", [("linear", 1), ("polynomial_degree_2", 2), ("richardson", 3)])
def test_polynomial_extrapolators_match_numpy_polyfit(method, degree):
    values = RNG.normal(size=(len(FACTORS), 3))
    expected = [np.polyval(np.polyfit(FACTORS, values[:, j], degree), 0.0) for j in range(3)]
    assert np.allclose(extrapolate(FACTORS, jnp.asarray(values, jnp.float32), method), expected, atol=1e-4)


def test_exponential_extrapolation_is_exact_on_exponential_decay_and_falls_back_to_linear():
    lam = np.asarray(FACTORS)
    decaying = np.stack([0.8 * np.exp(-0.3 * lam), -0.5 * np.exp(-0.1 * lam)], axis=1)
    assert np.allclose(extrapolate(FACTORS, decaying, "exponential"), [0.8, -0.5], atol=1e-5)
    crossing = np.asarray([0.3, 0.1, -0.1, -0.5])  # changes sign: no exponential through it
    assert float(extrapolate(FACTORS, crossing, "exponential")) == pytest.approx(
        np.polyval(np.polyfit(FACTORS, crossing, 1), 0.0), abs=1e-5
    )


@pytest.mark.parametrize("method", ["linear", "richardson", "exponential", "polynomial_degree_2"])
def test_gradients_flow_through_extrapolation(method):
    def mitigated(theta):
        noisy = jnp.stack([jnp.cos(theta) * jnp.exp(-0.2 * f) + 0.01 * f**2 for f in FACTORS])
        return extrapolate(FACTORS, noisy, method)

    theta, h = 0.4, 1e-3
    finite = (mitigated(theta + h) - mitigated(theta - h)) / (2 * h)
    assert float(jax.grad(mitigated)(theta)) == pytest.approx(float(finite), rel=1e-2, abs=1e-3)


@pytest.mark.parametrize(
    "method, message",
    [
        ("cubic", r"extrapolator=cubic is not known"),
        ("polynomial_degree_4", r"needs more than 4 noise factors, got 4"),
    ],
)
def test_bad_extrapolators_are_refused(method, message):
    with pytest.raises(ConfigError, match=message):
        extrapolate(FACTORS, np.zeros(4), method)


# -- the noisy simulator's mitigated expectation ----------------------------------------------

from qjax.ir.pauli import PauliSum  # noqa: E402
from qjax.noise.channels import readout_confusion  # noqa: E402
from qjax.noise.mitigation import mitigated_expval  # noqa: E402
from qjax.schemas import (  # noqa: E402
    BestMitigationConfig,
    DDMitigationConfig,
    MitigationConfig,
    ReadoutMitigationConfig,
    ZNEMitigationConfig,
    ZNESettings,
)

OBS = PauliSum([(0.7, "Z0 Z1"), (0.5, "X2"), (-0.3, "Z1"), (0.2, "")])
QISKIT_OBS = OBS.to_qiskit(3)


def _setup():
    circuit = templates.hardware_efficient(3, 2, rotations=("RY", "RZ"))
    params = np.random.default_rng(3).uniform(-1, 1, circuit.num_params)
    return circuit, params, _schedule(circuit, p1=0.01, p2=0.04)


def _compile(circuit, schedule, readout):
    return compile_noisy(circuit, schedule, [OBS], readout=readout)


def _ideal(circuit, params) -> float:
    return float(np.real(DensityMatrix(_bound(circuit, params)).expectation_value(QISKIT_OBS)))


@pytest.mark.parametrize(
    "amplifier, extrapolator",
    [
        ("gate_folding", "linear"),
        ("global_folding", "richardson"),
        ("noise_scaling", "exponential"),
        ("noise_scaling", "polynomial_degree_2"),
    ],
)
def test_zne_brings_the_energy_closer_to_the_ideal_one(amplifier, extrapolator):
    circuit, params, schedule = _setup()
    zne = ZNEMitigationConfig("zne", ZNESettings(amplifier=amplifier, extrapolator=extrapolator))
    mitigated, raw = mitigated_expval(circuit, schedule, [None] * 3, zne, _compile)
    p = jnp.asarray(params, jnp.float32)
    ideal = _ideal(circuit, params)
    # gate folding amplifies only the two-qubit gates' share of the noise, so it removes less of it
    assert abs(float(mitigated(p)[0]) - ideal) < abs(float(raw(p)[0]) - ideal) / 2


def test_zne_extrapolates_each_term_of_the_qiskit_values():
    circuit, params, schedule = _setup()
    zne = ZNEMitigationConfig("zne", ZNESettings(amplifier="global_folding", extrapolator="linear"))
    mitigated, _ = mitigated_expval(circuit, schedule, [None] * 3, zne, _compile)
    # reference: Qiskit density matrices of the folded circuits, then numpy's line through each term
    terms = [SparsePauliOp(label) for label in ("IZZ", "XII", "IZI")]  # Z0 Z1, X2, Z1 (Qiskit qubit k = wire k)
    coeffs = [0.7, 0.5, -0.3]
    per_factor = []
    for factor in (1, 3, 5):
        rho = _noisy_density(*fold_global(circuit, schedule, factor), params)
        per_factor.append([float(np.real(rho.expectation_value(t))) for t in terms])
    fits = [np.polyval(np.polyfit([1, 3, 5], np.asarray(per_factor)[:, j], 1), 0.0) for j in range(3)]
    expected = 0.2 + float(np.dot(coeffs, fits))
    assert float(mitigated(jnp.asarray(params, jnp.float32))[0]) == pytest.approx(expected, abs=2e-5)


def test_readout_mitigation_inverts_the_calibration():
    circuit, params, schedule = _setup()
    readout = [readout_confusion(0.04, 0.08), readout_confusion(0.02, 0.05), readout_confusion(0.03, 0.03)]
    mitigated, raw = mitigated_expval(circuit, schedule, readout, ReadoutMitigationConfig("readout"), _compile)
    p = jnp.asarray(params, jnp.float32)
    without_readout_error = float(np.real(_noisy_density(circuit, schedule, params).expectation_value(QISKIT_OBS)))
    assert float(mitigated(p)[0]) == pytest.approx(without_readout_error, abs=1e-5)
    assert abs(float(raw(p)[0]) - without_readout_error) > 1e-3  # the readout error was really there


@pytest.mark.parametrize(
    "mitigation",
    [
        ZNEMitigationConfig("zne", ZNESettings(amplifier="gate_folding", extrapolator="exponential")),
        BestMitigationConfig("best"),
    ],
)
def test_gradient_of_the_mitigated_energy_matches_finite_differences(mitigation):
    circuit, params, schedule = _setup()
    readout = [readout_confusion(0.03, 0.05)] * 3
    mitigated, _ = mitigated_expval(circuit, schedule, readout, mitigation, _compile)
    energy = jax.jit(lambda p: mitigated(p)[0])
    p = jnp.asarray(params, jnp.float32)
    grad = np.asarray(jax.grad(energy)(p))
    h = 1e-2  # central differences: O(h²) ≈ 1e-4 truncation, well above complex64 rounding
    for i in (0, 5, circuit.num_params - 1):
        step = jnp.zeros_like(p).at[i].set(h)
        finite = (float(energy(p + step)) - float(energy(p - step))) / (2 * h)
        assert grad[i] == pytest.approx(finite, abs=2e-3)


@pytest.mark.parametrize(
    "mitigation, message",
    [
        (DDMitigationConfig("dd"), r"mitigation=dd is an IBM runtime technique"),
        (ZNEMitigationConfig("zne", ZNESettings(amplifier="pea")), r"amplifier=pea is IBM-only"),
        (
            ZNEMitigationConfig("zne", ZNESettings(extrapolator="double_exponential", noise_factors=(1, 3, 5, 7, 9))),
            r"extrapolator=double_exponential is IBM-only",
        ),
        (
            ZNEMitigationConfig("zne", ZNESettings(noise_factors=(1, 2, 3))),
            r"noise factor 2 cannot be made by gate folding",
        ),
    ],
)
def test_settings_the_simulator_cannot_honour_are_refused(mitigation, message):
    circuit, _, schedule = _setup()
    with pytest.raises(ConfigError, match=message):
        mitigated_expval(circuit, schedule, [None] * 3, mitigation, _compile)


def test_no_mitigation_is_the_raw_expectation():
    circuit, params, schedule = _setup()
    mitigated, raw = mitigated_expval(circuit, schedule, [None] * 3, MitigationConfig("none"), _compile)
    assert mitigated is raw
