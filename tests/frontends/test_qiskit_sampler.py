"""qjax.primitives.Sampler against Qiskit's StatevectorSampler and exact Statevector probabilities."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit import ParameterVector
from qiskit.primitives import BaseSamplerV2, BitArray, PrimitiveResult, SamplerPubResult, StatevectorSampler
from qiskit.quantum_info import Statevector
from scipy.stats import chisquare

from qjax.errors import ConversionError, PrecisionError
from qjax.primitives import Sampler


def registers_circuit() -> QuantumCircuit:
    """A basis state spread over two registers in a scrambled order, one bit never measured."""
    q = QuantumRegister(4, "q")
    alpha, beta = ClassicalRegister(3, "alpha"), ClassicalRegister(2, "beta")
    qc = QuantumCircuit(q, alpha, beta)
    qc.x([0, 2])
    qc.measure(q[0], alpha[2])
    qc.measure(q[1], alpha[0])
    qc.measure(q[3], beta[0])
    qc.measure(q[2], beta[1])
    # alpha[1] is never written: it reads 0
    return qc


def test_bit_order_and_registers_equal_statevector_sampler():
    qc = registers_circuit()
    ours = Sampler(seed=1).run([qc], shots=5).result()[0]
    reference = StatevectorSampler(seed=1).run([qc], shots=5).result()[0]
    for name in ("alpha", "beta"):
        assert getattr(ours.data, name) == getattr(reference.data, name)
    assert ours.data.alpha.get_counts() == {"100": 5}  # clbit 0 is the rightmost character
    assert ours.data.beta.get_counts() == {"10": 5}


def parameterised_circuit(n: int, seed: int) -> QuantumCircuit:
    rng = np.random.default_rng(seed)
    t = ParameterVector("t", 2 * n)
    qc = QuantumCircuit(n)
    for k in range(n):
        qc.ry(t[k], k)
    for k in range(n - 1):
        qc.cx(k, k + 1)
    for k in range(n):
        qc.rx(t[n + k] + float(rng.uniform(-1, 1)), k)
    qc.cp(t[0] * t[1], 0, n - 1)  # not linear in the parameters
    qc.measure_all()
    return qc


def exact_probabilities(qc: QuantumCircuit, values) -> np.ndarray:
    """Qiskit's exact outcome probabilities, index = the measured bitstring read as an integer."""
    bound = qc.remove_final_measurements(inplace=False).assign_parameters(values)
    return Statevector(bound).probabilities()


def test_counts_are_consistent_with_exact_probabilities():
    n, shots = 3, 4000
    qc = parameterised_circuit(n, seed=4)
    values = np.random.default_rng(4).uniform(-np.pi, np.pi, (2, 3, 2 * n))
    result = Sampler(seed=123).run([(qc, values)], shots=shots).result()[0]
    bits = result.data.meas
    assert isinstance(bits, BitArray) and bits.shape == (2, 3) and bits.num_shots == shots and bits.num_bits == n
    for pos in np.ndindex(2, 3):
        p = exact_probabilities(qc, values[pos])
        observed = np.bincount(bits.array[pos][:, 0], minlength=2**n)  # one byte: the bitstring's integer
        keep = p * shots > 5  # chi-square needs expected counts of at least ~5: pool the rare outcomes
        f_exp, f_obs = p[keep] * shots, observed[keep]
        if not keep.all():
            f_exp, f_obs = np.append(f_exp, p[~keep].sum() * shots), np.append(f_obs, observed[~keep].sum())
        # A fixed seed: deterministic; a bit-order or probability error gives p-values below 1e-30.
        assert chisquare(f_obs, f_exp).pvalue > 1e-4


def test_seed_shots_shapes_containers_and_metadata():
    qc = parameterised_circuit(2, seed=1)
    qc.metadata = {"tag": 1}
    values = np.random.default_rng(1).uniform(-1, 1, (5, 4))
    sampler = Sampler(default_shots=64, seed=9)
    result = sampler.run([(qc, values), (qc, values[0], 10)]).result()
    again = Sampler(seed=9).run([(qc, values), (qc, values[0], 10)], shots=64).result()
    assert isinstance(sampler, BaseSamplerV2) and isinstance(result, PrimitiveResult)
    assert result.metadata == {"version": 2} and all(isinstance(r, SamplerPubResult) for r in result)
    assert result[0].data.meas.shape == (5,) and result[0].data.meas.num_shots == 64
    assert result[1].data.meas.shape == () and result[1].data.meas.num_shots == 10
    assert result[1].metadata == {
        "shots": 10,
        "circuit_metadata": {"tag": 1},
        "simulator": "qjax",
        "dtype": "complex64",
    }
    for a, b in zip(result, again):
        assert a.data.meas == b.data.meas  # same seed, same shots


def test_complex128_and_its_x64_error():
    assert not jax.config.jax_enable_x64
    with pytest.raises(PrecisionError, match="jax_enable_x64"):
        Sampler(dtype=jnp.complex128)
    qc = registers_circuit()
    with jax.enable_x64(True):
        result = Sampler(dtype=jnp.complex128).run([qc], shots=3).result()[0]
    assert result.metadata["dtype"] == "complex128" and result.data.alpha.get_counts() == {"100": 3}


def test_bad_pubs_are_refused():
    qc = parameterised_circuit(2, seed=1)
    with pytest.raises(ValueError, match=r"Length of .* inconsistent with last dimension"):
        Sampler().run([(qc, np.zeros((3, 2)))])
    mid = QuantumCircuit(1, 1)
    mid.measure(0, 0)
    mid.x(0)
    mid.measure(0, 0)
    with pytest.raises(ConversionError, match="mid-circuit measurement"):
        Sampler().run([mid]).result()
