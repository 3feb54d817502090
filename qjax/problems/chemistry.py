"""Molecules: qubit Hamiltonians from PennyLane's ``qml.qchem`` (Jordan–Wigner), exact energy in the electron sector.

Building is plain Python/NumPy and works offline.
"""

from __future__ import annotations

import numpy as np

from qjax.errors import ConfigError
from qjax.ir.pauli import PauliSum
from qjax.problems.base import Problem

__all__ = ["molecule", "h2", "lih"]


def molecule(name: str, symbols: list[str], coordinates, *, basis: str = "sto-3g",
             active_electrons: int | None = None, active_orbitals: int | None = None) -> Problem:
    """A molecule's qubit Hamiltonian (PennyLane ``qml.qchem``, Jordan–Wigner) in an optional active space.

    ``coordinates``: ``(3 * atoms,)`` in ångström. The exact energy is the lowest
    eigenvalue among states with the (active) electron count, which is what a
    number-conserving ansatz such as UCC can reach.
    """
    import pennylane as qml  # heavy import, only when a molecule is built

    mol = qml.qchem.Molecule(symbols, np.asarray(coordinates, dtype=float), unit="angstrom", basis_name=basis)
    electrons = mol.n_electrons if active_electrons is None else int(active_electrons)
    hamiltonian, num_wires = qml.qchem.molecular_hamiltonian(mol, active_electrons=active_electrons,
                                                             active_orbitals=active_orbitals)
    observable = PauliSum.from_pennylane(hamiltonian)
    hf = tuple(int(b) for b in qml.qchem.hf_state(electrons, num_wires))
    return Problem(name, observable, num_wires, _sector_ground_energy(observable, num_wires, electrons), electrons,
                   hf)


def _sector_ground_energy(observable: PauliSum, num_wires: int, electrons: int) -> float:
    """Lowest eigenvalue of ``observable`` among basis states with ``electrons`` ones (sparse, exact)."""
    from scipy.sparse.linalg import eigsh

    index = np.arange(2**num_wires)
    ones = np.zeros(2**num_wires, dtype=np.int64)
    for k in range(num_wires):
        ones += (index >> k) & 1
    keep = index[ones == electrons]
    block = observable.to_matrix(sparse=True, num_qubits=num_wires)[keep][:, keep]
    if block.shape[0] <= 1024:
        return float(np.linalg.eigvalsh(block.toarray()).min())
    return float(eigsh(block, k=1, which="SA")[0][0])


def h2(bond_length: float = 0.7414, basis: str = "sto-3g") -> Problem:
    """H2 along z with the given bond length (Å): 4 qubits (Jordan–Wigner), 15 Pauli terms."""
    if not bond_length > 0:
        raise ConfigError(f"problem.bond_length={bond_length} is invalid: must be > 0 Å (e.g. 0.7414)")
    return molecule("h2", ["H", "H"], [0.0, 0.0, -bond_length / 2, 0.0, 0.0, bond_length / 2], basis=basis)


def lih(bond_length: float = 1.5949, basis: str = "sto-3g", active_electrons: int = 2,
        active_orbitals: int = 3) -> Problem:
    """LiH along z in an active space: ``2 * active_orbitals`` qubits (6 by default, 62 Pauli terms)."""
    if not bond_length > 0:
        raise ConfigError(f"problem.bond_length={bond_length} is invalid: must be > 0 Å (e.g. 1.5949)")
    if not 0 < active_electrons <= min(4, 2 * active_orbitals):
        raise ConfigError(f"problem.active_electrons={active_electrons} is invalid for LiH: must be 1..4 and at most "
                          f"2·active_orbitals (e.g. problem.active_electrons=2)")
    return molecule("lih", ["Li", "H"], [0.0, 0.0, 0.0, 0.0, 0.0, bond_length], basis=basis,
                    active_electrons=active_electrons, active_orbitals=active_orbitals)
