"""Problems: Hamiltonians and exact energies against independent references."""

import functools

import numpy as np
import pennylane as qml
import pytest

from qjax.errors import ConfigError
from qjax.problems.chemistry import h2
from qjax.problems.spin import tfim

# Exact H2/STO-3G ground energies (Ha) measured independently with PennyLane's
# qml.qchem + dense diagonalisation (shared/REFERENCES.md).
H2_REFERENCE = {0.5: -1.0551598, 0.7414: -1.1372702, 1.0: -1.1011503, 1.5: -0.9981494, 2.0: -0.9486411}


@pytest.mark.parametrize("bond_length", sorted(H2_REFERENCE))
def test_h2_exact_energy_matches_reference(bond_length):
    problem = h2(bond_length)
    assert problem.num_wires == 4 and problem.electrons == 2
    assert len(problem.observable.terms) == 15
    # reference values are printed to 1e-7 Ha
    assert problem.exact_energy == pytest.approx(H2_REFERENCE[bond_length], abs=2e-7)


def test_h2_hamiltonian_matches_pennylane_matrix():
    problem = h2(0.7414)
    coords = np.array([0, 0, -0.3707, 0, 0, 0.3707])
    ham, _ = qml.qchem.molecular_hamiltonian(qml.qchem.Molecule(["H", "H"], coords, unit="angstrom"))
    expected = qml.matrix(ham, wire_order=range(4))
    np.testing.assert_allclose(problem.observable.to_matrix(sparse=False), expected, atol=1e-10)
    assert problem.hf_state == (1, 1, 0, 0)


def _dense_tfim(n, J, h, periodic):
    """Independent dense build with Kronecker products, wire 0 = leftmost factor."""
    x, z, eye = np.array([[0, 1], [1, 0]]), np.diag([1.0, -1.0]), np.eye(2)

    def op(single):  # single: {wire: matrix}
        return functools.reduce(np.kron, [single.get(w, eye) for w in range(n)])

    bonds = [(i, i + 1) for i in range(n - 1)] + ([(n - 1, 0)] if periodic else [])
    return -J * sum(op({i: z, j: z}) for i, j in bonds) - h * sum(op({i: x}) for i in range(n))


@pytest.mark.parametrize("n,J,h,periodic", [(2, 1.0, 1.0, False), (5, 1.0, 0.7, False), (6, 0.5, 1.3, True)])
def test_tfim_exact_energy_matches_dense_diagonalisation(n, J, h, periodic):
    problem = tfim(n, J, h, periodic)
    ham = _dense_tfim(n, J, h, periodic)
    np.testing.assert_allclose(problem.observable.to_matrix(sparse=False), ham, atol=1e-12)
    assert problem.exact_energy == pytest.approx(np.linalg.eigvalsh(ham)[0], abs=1e-9)


def test_tfim_large_uses_sparse_diagonalisation():
    # n=12 is past the dense path; the independent reference is the free-fermion
    # (Jordan-Wigner + Bogoliubov) solution E0 = -Σ_{ε>0} ε / 2 of the BdG matrix.
    n, J, h = 12, 1.0, 1.0
    A = np.zeros((n, n))
    B = np.zeros((n, n))
    for i in range(n):
        A[i, i] = 2 * h
    for i in range(n - 1):
        A[i, i + 1] = A[i + 1, i] = -J
        B[i, i + 1], B[i + 1, i] = -J, J
    bdg = np.block([[A, B], [-B, -A]])
    eps = np.linalg.eigvalsh(bdg)
    e0 = -0.5 * np.sum(eps[eps > 0])
    assert tfim(n, J, h).exact_energy == pytest.approx(e0, abs=1e-8)


def test_bad_sizes_are_refused():
    with pytest.raises(ConfigError, match="bond_length"):
        h2(-1.0)
    with pytest.raises(ConfigError, match="n ≥ 2"):
        tfim(1)
