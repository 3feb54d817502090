"""Backends behind the one protocol: the simulator's Objective against Qiskit and
PennyLane, compiled once, and its refusals."""

import jax
import jax.numpy as jnp
import numpy as np
import pennylane as qml
import pytest
from qiskit.quantum_info import SparsePauliOp, Statevector

import qjax
from qjax.backends import Backend, make_backend
from qjax.errors import BackendError, ConfigError
from qjax.problems.spin import tfim

N = 3


def _problem():
    """A 3-qubit circuit with 6 parameters (one shared by two gates) and an Ising Hamiltonian."""
    p = qjax.Param
    circuit = (
        qjax.Circuit(N)
        .ry(p(0), 0)
        .ry(p(1), 1)
        .ry(p(2), 2)
        .cnot(0, 1)
        .cnot(1, 2)
        .cnot(2, 0)
        .rz(p(3), 0)
        .rx(p(4), 1)
        .crz(p(5), 2, 0)
        .rzz(0.5 * p(3) - 0.2, 1, 2)
    )
    return circuit, tfim(N, J=1.0, h=0.6).observable


def _pennylane_energy(observable):
    @qml.qnode(qml.device("default.qubit", wires=N))
    def energy(p):
        qml.RY(p[0], 0), qml.RY(p[1], 1), qml.RY(p[2], 2)
        qml.CNOT([0, 1]), qml.CNOT([1, 2]), qml.CNOT([2, 0])
        qml.RZ(p[3], 0), qml.RX(p[4], 1), qml.CRZ(p[5], [2, 0]), qml.IsingZZ(0.5 * p[3] - 0.2, [1, 2])
        return qml.expval(observable.to_pennylane())

    return energy


def test_simulator_objective_matches_qiskit_and_pennylane():
    circuit, observable = _problem()
    backend = make_backend("simulator")
    assert isinstance(backend, Backend)
    objective = backend.objective(circuit, observable)
    params = np.random.default_rng(0).uniform(-np.pi, np.pi, circuit.num_params)

    # Qiskit: bound circuit, Statevector expectation (Qiskit qubit k = wire k, observable wires kept)
    qc = qjax.to_qiskit(circuit)
    bound = qc.assign_parameters(dict(zip(qc.parameters, params)))
    want = Statevector(bound).expectation_value(SparsePauliOp.from_list(observable.to_qiskit().to_list())).real
    value, grad = objective.value_and_grad(jnp.asarray(params, jnp.float32))
    assert float(objective.value(jnp.asarray(params, jnp.float32))) == pytest.approx(want, abs=1e-5)
    assert float(value) == pytest.approx(want, abs=1e-5)  # complex64 rounding over ~20 gates

    energy = _pennylane_energy(observable)
    want_grad = qml.grad(energy)(qml.numpy.array(params, requires_grad=True))
    np.testing.assert_allclose(np.asarray(grad), want_grad, atol=1e-5)

    batch = np.stack([params, params + 0.1, params - 0.2])
    np.testing.assert_allclose(
        np.asarray(objective.values(jnp.asarray(batch, jnp.float32))), [energy(b) for b in batch], atol=1e-5
    )


def test_objective_compiles_once():
    circuit, observable = _problem()
    objective = make_backend("simulator").objective(circuit, observable)
    for seed in range(4):
        objective.value_and_grad(jax.random.normal(jax.random.PRNGKey(seed), (circuit.num_params,)))
    assert objective.value_and_grad._cache_size() == 1


def test_stats_and_description():
    backend = make_backend("simulator", max_qubits=10)
    assert backend.stats() == {"num_jobs": 0, "shots_total": 0}
    assert backend.describe()["name"] == "simulator"


@pytest.mark.parametrize(
    "build,error,message",
    [
        (
            lambda: make_backend("warp_drive"),
            ConfigError,
            r"backend=warp_drive is not available; choose one of simulator",
        ),
        (lambda: make_backend("simulator", shots=100), BackendError, r"backend.shots=null"),
        (
            lambda: make_backend("simulator", max_qubits=2).objective(*_problem()),
            BackendError,
            r"needs 3 qubits .* limited to 2 \(backend.max_qubits\)",
        ),
        (
            lambda: make_backend("simulator").objective(*_problem(), gradient="spsa"),
            BackendError,
            r"gradient=spsa is not available on backend=simulator",
        ),
    ],
)
def test_refusals_name_the_fix(build, error, message):
    with pytest.raises(error, match=message):
        build()
