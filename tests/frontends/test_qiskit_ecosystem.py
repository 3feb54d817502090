"""The qjax Estimator handed to Qiskit's own libraries: qiskit-machine-learning and qiskit-algorithms."""

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit.library import real_amplitudes, zz_feature_map
from qiskit.primitives import StatevectorEstimator
from qiskit.quantum_info import SparsePauliOp
from qiskit_algorithms import VQE
from qiskit_algorithms.gradients import ParamShiftEstimatorGradient
from qiskit_algorithms.optimizers import L_BFGS_B as AlgorithmsLBFGSB
from qiskit_machine_learning.algorithms import NeuralNetworkRegressor
from qiskit_machine_learning.neural_networks import EstimatorQNN
from qiskit_machine_learning.optimizers import L_BFGS_B

from qjax.primitives import Estimator


def qnn(estimator) -> EstimatorQNN:
    """A 2-qubit QNN: ZZ feature map (angles non-linear in the inputs), RealAmplitudes weights."""
    features, ansatz = zz_feature_map(2, reps=1), real_amplitudes(2, reps=1)
    qc = QuantumCircuit(2)
    qc.compose(features, inplace=True)
    qc.compose(ansatz, inplace=True)
    return EstimatorQNN(
        circuit=qc,
        estimator=estimator,
        observables=SparsePauliOp("ZZ"),
        input_params=features.parameters,
        weight_params=ansatz.parameters,
        default_precision=0.0,  # exact values (its default, 1/64, asks estimators for noise)
    )


def test_estimator_qnn_forward_backward_and_training():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (12, 2))
    truth = rng.uniform(-np.pi, np.pi, 4)
    reference = qnn(StatevectorEstimator())
    y = reference.forward(x, truth)  # targets the model can fit exactly: loss 0 at `truth`

    ours = qnn(Estimator())
    start = truth + rng.normal(0, 0.4, 4)
    np.testing.assert_allclose(ours.forward(x, start), reference.forward(x, start), atol=1e-6)
    np.testing.assert_allclose(ours.backward(x, start)[1], reference.backward(x, start)[1], atol=1e-6)

    regressor = NeuralNetworkRegressor(ours, loss="squared_error", optimizer=L_BFGS_B(maxiter=30), initial_point=start)
    initial_loss = np.mean((ours.forward(x, start) - y) ** 2)
    regressor.fit(x, y)
    final_loss = np.mean((ours.forward(x, regressor.weights) - y) ** 2)
    assert initial_loss > 1e-2 and final_loss < 1e-4 * initial_loss
    assert regressor.score(x, y) > 0.999  # R² on the training set


def test_qiskit_algorithms_vqe_reaches_exact_ground_energy():
    # H2 at 0.735 Å in its 2-qubit (parity-reduced) form, as in Qiskit's tutorials.
    hamiltonian = SparsePauliOp.from_list(
        [
            ("II", -1.052373245772859),
            ("IZ", 0.39793742484318045),
            ("ZI", -0.39793742484318045),
            ("ZZ", -0.01128010425623538),
            ("XX", 0.18093119978423156),
        ]
    )
    exact = np.linalg.eigvalsh(hamiltonian.to_matrix()).min()  # exact diagonalisation
    estimator = Estimator()
    vqe = VQE(
        estimator,
        real_amplitudes(2, reps=2),
        AlgorithmsLBFGSB(maxiter=100),
        gradient=ParamShiftEstimatorGradient(estimator),
        initial_point=np.full(6, 0.1),
    )
    result = vqe.compute_minimum_eigenvalue(hamiltonian)
    # complex64 rounds the energy at ~1e-7 (it may land that far below the exact value).
    assert abs(result.eigenvalue - exact) < 1e-5
