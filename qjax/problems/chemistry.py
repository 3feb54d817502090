"""Molecules: qubit Hamiltonians from PennyLane's ``qml.qchem`` (Jordan–Wigner), exact energy in the electron sector.

Building is plain Python/NumPy and works offline.
"""

from __future__ import annotations

import numpy as np

from qjax.errors import ConfigError
from qjax.ir.pauli import PauliSum
from qjax.problems.base import Problem
from qjax.schemas import BOND_LENGTH_RANGE, lih_active_orbitals

__all__ = ["molecule", "h2", "lih"]


def molecule(
    name: str,
    symbols: list[str],
    coordinates,
    *,
    basis: str = "sto-3g",
    active_electrons: int | None = None,
    active_orbitals: int | None = None,
) -> Problem:
    """A molecule's qubit Hamiltonian (PennyLane ``qml.qchem``, Jordan–Wigner) in an optional active space.

    ``coordinates``: ``(3 * atoms,)`` in ångström. The exact energy is the lowest
    eigenvalue among states with the (active) electron count, which is what a
    number-conserving ansatz such as UCC can reach.
    """
    import pennylane as qml  # heavy import, only when a molecule is built

    mol = qml.qchem.Molecule(symbols, np.asarray(coordinates, dtype=float), unit="angstrom", basis_name=basis)
    electrons = mol.n_electrons if active_electrons is None else int(active_electrons)
    hamiltonian, num_wires = qml.qchem.molecular_hamiltonian(
        mol, active_electrons=active_electrons, active_orbitals=active_orbitals
    )
    observable = PauliSum.from_pennylane(hamiltonian)
    hf = tuple(int(b) for b in qml.qchem.hf_state(electrons, num_wires))
    return Problem(name, observable, num_wires, _sector_ground_energy(observable, num_wires, electrons), electrons, hf)


def _sector_states(num_wires: int, electrons: int) -> np.ndarray:
    """Sorted basis-state indices with exactly ``electrons`` ones, enumerated without touching all ``2**n``."""
    from itertools import combinations

    states = [sum(1 << k for k in ones) for ones in combinations(range(num_wires), electrons)]
    return np.array(sorted(states), dtype=np.int64)


def _sector_ground_energy(observable: PauliSum, num_wires: int, electrons: int) -> float:
    """Lowest eigenvalue of ``observable`` among basis states with ``electrons`` ones (exact).

    Only the sector's block is built, term by term (``P|b> = i**ny (-1)**popcount(b & z) |b ^ f>``,
    ``f`` the X/Y wires, ``z`` the Y/Z wires), so memory and time grow with the sector's size, not
    with ``2**n``: H2 in cc-pVDZ (20 qubits, 2951 terms) has 190 states where the whole space's
    sparse matrix ran out of memory.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import eigsh

    states = _sector_states(num_wires, electrons)
    m = len(states)
    rows, cols, vals = [], [], []
    for coeff, word in observable.terms:
        flip = phase = ny = 0
        for wire, pauli in word:
            bit = 1 << (num_wires - 1 - wire)  # wire 0 is the most significant bit
            flip |= bit if pauli in "XY" else 0
            phase |= bit if pauli in "YZ" else 0
            ny += pauli == "Y"
        target = states ^ flip
        at = np.minimum(np.searchsorted(states, target), m - 1)
        inside = states[at] == target  # number-conserving sums map the sector to itself; single terms may not
        signs = 1 - 2 * (np.bitwise_count((states & phase).astype(np.uint64)) & 1).astype(np.int64)
        rows.append(at[inside])
        cols.append(np.nonzero(inside)[0])
        vals.append(coeff * (1j**ny) * signs[inside])
    block = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m, m)).tocsr()
    if m <= 1024:
        return float(np.linalg.eigvalsh(block.toarray()).min())
    return float(eigsh(block, k=1, which="SA")[0][0])


def _check_bond_length(bond_length: float, default: float) -> None:
    lo, hi = BOND_LENGTH_RANGE
    if not lo <= bond_length <= hi:
        raise ConfigError(
            f"problem.bond_length={bond_length} is invalid: must be a float in {lo}..{hi} (ångström) "
            f"(e.g. problem.bond_length={default})"
        )


def h2(bond_length: float = 0.7414, basis: str = "sto-3g") -> Problem:
    """H2 along z with the given bond length (Å, in :data:`~qjax.schemas.BOND_LENGTH_RANGE`): 4 qubits
    (Jordan–Wigner), 15 Pauli terms."""
    _check_bond_length(bond_length, 0.7414)
    return molecule("h2", ["H", "H"], [0.0, 0.0, -bond_length / 2, 0.0, 0.0, bond_length / 2], basis=basis)


def lih(
    bond_length: float = 1.5949, basis: str = "sto-3g", active_electrons: int = 2, active_orbitals: int = 3
) -> Problem:
    """LiH along z in an active space: ``2 * active_orbitals`` qubits (6 by default, 62 Pauli terms)."""
    _check_bond_length(bond_length, 1.5949)
    if active_electrons not in (2, 4):
        raise ConfigError(
            f"problem.active_electrons={active_electrons} is invalid for LiH: must be 2 or 4 (a closed "
            f"shell) (e.g. problem.active_electrons=2)"
        )
    if active_orbitals not in lih_active_orbitals(active_electrons):
        allowed = lih_active_orbitals(active_electrons)
        raise ConfigError(
            f"problem.active_orbitals={active_orbitals} is invalid for LiH with {active_electrons} active "
            f"electrons: must be {allowed[0]}..{allowed[-1]} (e.g. problem.active_orbitals={allowed[0] + 1})"
        )
    return molecule(
        "lih",
        ["Li", "H"],
        [0.0, 0.0, 0.0, 0.0, 0.0, bond_length],
        basis=basis,
        active_electrons=active_electrons,
        active_orbitals=active_orbitals,
    )
