"""The shallow tapered-molecule ansatz (ansatz.form=real_amplitudes) against Qiskit and exact diagonalisation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from qjax.errors import CircuitError
from qjax.ir.ansatze import real_amplitudes
from qjax.problems import chemistry, tapering
from qjax.problems.base import basis_state_energy
from qjax.sim.compile import compile as compile_circuit


@pytest.fixture(scope="module")
def lih():
    """LiH (2e, 3o) at 3.0 Å, tapered to 3 qubits (PennyLane's tapering takes seconds: built once)."""
    return tapering.taper(chemistry.lih(3.0))


def _qiskit_state(n, reps, start_bits, params):
    """Qiskit's RealAmplitudes (linear entanglement) after X on ``start_bits``, in qjax's order (wire 0 = MSB)."""
    from qiskit import QuantumCircuit
    from qiskit.circuit.library import real_amplitudes as qiskit_real_amplitudes
    from qiskit.quantum_info import Statevector

    qc = QuantumCircuit(n)
    for w, bit in enumerate(start_bits):
        if bit:
            qc.x(w)
    ansatz = qiskit_real_amplitudes(n, reps=reps, entanglement="linear")
    qc.compose(ansatz.assign_parameters(params), inplace=True)
    # Qiskit is little-endian (qubit 0 least significant); qjax's wire 0 is the most significant bit
    return np.asarray(Statevector(qc).reverse_qargs().data)


@pytest.mark.parametrize("n, reps, reference", [(3, 2, (1, 1, 0)), (3, 1, (0, 1, 1)), (4, 3, (1, 0, 1, 0))])
def test_matches_qiskit_real_amplitudes_and_starts_at_the_reference(n, reps, reference):
    circuit = real_amplitudes(n, reps, reference)
    assert circuit.num_params == (reps + 1) * n
    assert sum(op.gate == "CNOT" for op in circuit.operations) == reps * (n - 1)
    start = [int(op.wires[0]) for op in circuit.operations if op.gate == "X"]
    start_bits = [1 if w in start else 0 for w in range(n)]
    params = np.random.default_rng(n + reps).normal(size=circuit.num_params)
    got = np.asarray(compile_circuit(circuit).state(jnp.asarray(params, jnp.float32)))
    assert np.allclose(got, _qiskit_state(n, reps, start_bits, params), atol=1e-5)  # complex64 rounding
    # parameters 0 give the reference basis state exactly (REM's Hartree–Fock state)
    at_zero = np.asarray(compile_circuit(circuit).state(jnp.zeros(circuit.num_params, jnp.float32)))
    index = int("".join(map(str, reference)), 2)  # wire 0 is the most significant bit
    assert abs(at_zero[index]) == pytest.approx(1.0, abs=1e-6)


def test_one_wire_is_one_rotation():
    circuit = real_amplitudes(1, 2, (1,))
    assert [op.gate for op in circuit.operations] == ["X", "RY"] and circuit.num_params == 1


def test_bad_reference_is_refused():
    with pytest.raises(CircuitError, match="reference must be 3 bits"):
        real_amplitudes(3, 2, (1, 2, 0))


def test_lih_tapered_reaches_the_exact_energy_with_4_cnots(lih):
    """At 3.0 Å the 4-CNOT circuit's minimum is within chemical accuracy of exact diagonalisation (the tapered
    excitations need 36 CNOTs), and parameters 0 give the Hartree–Fock energy (≈16 mHa above)."""
    circuit = real_amplitudes(lih.num_wires, 2, lih.hf_state)
    assert sum(op.gate == "CNOT" for op in circuit.operations) == 4
    matrix = np.asarray(lih.observable.to_matrix(sparse=False))
    ground = float(np.linalg.eigvalsh(matrix).min())  # the tapered ground energy = the full one (test_tapering)
    expval = jax.jit(jax.value_and_grad(compile_circuit(circuit, lih.observable).expval))

    def energy(params):
        value, grad = expval(jnp.asarray(params, jnp.float32))
        return float(value), np.asarray(grad, np.float64)

    hf = basis_state_energy(lih.observable, lih.hf_state)
    assert energy(np.zeros(circuit.num_params))[0] == pytest.approx(hf, abs=2e-5)  # complex64
    assert hf - ground > 0.015  # the geometry where Hartree–Fock is poor
    starts = [np.zeros(circuit.num_params)] + list(np.random.default_rng(1).normal(0, 0.3, (3, circuit.num_params)))
    best = min(scipy.optimize.minimize(energy, x0, jac=True, method="BFGS").fun for x0 in starts)
    assert ground - 2e-5 <= best <= ground + 1.0e-3
