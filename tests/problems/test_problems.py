"""Problems: Hamiltonians and exact energies against independent references."""

import functools

import numpy as np
import pennylane as qml
import pytest

from qjax.errors import ConfigError
from qjax.problems import base, chemistry, spin
from qjax.problems.chemistry import h2, lih
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


def test_tfim_large_open_chain_matches_the_bdg_solution():
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


@pytest.mark.parametrize("n", range(2, 9))
@pytest.mark.parametrize("J,h", [(1.0, 1.0), (-1.0, 0.4), (0.3, -2.0), (-0.7, -0.7), (0.0, 1.0), (1.0, 0.0)])
def test_open_chain_free_fermion_energy_matches_dense_diagonalisation(n, J, h):
    """Any sign of J and h: the free-fermion solution is the chain's exact ground energy."""
    assert tfim(n, J, h).exact_energy == pytest.approx(np.linalg.eigvalsh(_dense_tfim(n, J, h, False))[0], abs=1e-9)


def test_periodic_chain_is_diagonalised_up_to_the_limit_and_has_no_exact_energy_beyond(monkeypatch):
    n, J, h = 11, 0.8, 1.1  # past the dense path (sparse Lanczos), against an independent dense build
    assert tfim(n, J, h, True).exact_energy == pytest.approx(
        np.linalg.eigvalsh(_dense_tfim(n, J, h, True))[0], abs=1e-8
    )
    monkeypatch.setattr(spin, "EXACT_DIAGONALISATION_MAX_QUBITS", 4)
    assert tfim(5, J, h, True).exact_energy is None
    assert tfim(5, J, h, False).exact_energy is not None  # open chains are solved at any width


def test_wide_open_chain_gets_its_exact_energy_without_diagonalising():
    # 40 spins: 2**40 basis states; at h = J the chain is critical and E0/n tends to -4/π
    problem = tfim(40, 1.0, 1.0)
    assert problem.exact_energy / 40 == pytest.approx(-4 / np.pi, abs=0.02)


def _full_space_sector_energy(observable, num_wires, electrons):
    """Independent reference: the whole 2**n matrix (Qiskit), restricted to the sector's basis states."""
    matrix = observable.to_matrix(sparse=False, num_qubits=num_wires)
    keep = [b for b in range(2**num_wires) if bin(b).count("1") == electrons]
    return float(np.linalg.eigvalsh(matrix[np.ix_(keep, keep)]).min())


@pytest.mark.parametrize(
    "build",
    [
        lambda: h2(0.7414),
        lambda: h2(2.0),
        lambda: h2(0.7414, "6-31g"),
        lambda: lih(1.5949),
        lambda: lih(3.0, active_electrons=4, active_orbitals=4),
    ],
    ids=["h2", "h2-stretched", "h2-6-31g", "lih", "lih-4e-4o"],
)
def test_sector_energy_is_built_from_the_sector_alone_and_matches_the_full_matrix(build):
    problem = build()
    for electrons in range(problem.num_wires + 1):
        assert chemistry._sector_ground_energy(problem.observable, problem.num_wires, electrons) == pytest.approx(
            _full_space_sector_energy(problem.observable, problem.num_wires, electrons), abs=1e-9
        )


@pytest.mark.parametrize(
    "builder,length",
    [(h2, 1e-12), (h2, 0.19), (h2, 5.01), (h2, float("inf")), (h2, float("nan")), (lih, 0.01), (lih, 100.0)],
)
def test_meaningless_geometries_are_refused(builder, length):
    with pytest.raises(ConfigError, match=r"^problem\.bond_length=.* must be a float in 0\.2\.\.5\.0"):
        builder(length)


@pytest.mark.parametrize("length", [0.2, 0.5, 0.7414, 1.0, 1.5, 2.0, 5.0])
def test_h2_geometries_in_range_build_with_a_variational_exact_energy(length):
    problem = h2(length)  # at 0.2 Å the nuclear repulsion wins: E > 0, as it should
    assert problem.exact_energy <= base.classical_energy(problem)[0] + 1e-9  # below Hartree–Fock


@pytest.mark.parametrize("electrons,orbitals", [(1, 3), (3, 3), (2, 1), (2, 6), (4, 2)])
def test_lih_active_spaces_pennylane_cannot_build_are_refused(electrons, orbitals):
    with pytest.raises(ConfigError, match=r"^problem\.active_"):
        lih(1.5949, active_electrons=electrons, active_orbitals=orbitals)
