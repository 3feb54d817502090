"""Problems: an observable to minimise plus its exact answer.

Each builder returns a :class:`Problem` whose ``exact_energy`` is computed here by
exact diagonalisation, never typed in. Building is plain Python/NumPy (PennyLane's
``qml.qchem`` for molecules, which works offline).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from qjax.errors import ConfigError
from qjax.observables import PauliSum

__all__ = ["Problem", "h2", "lih", "molecule", "tfim", "maxcut", "classical_energy"]


class Problem(NamedTuple):
    """A minimisation target.

    ``observable``: the Hamiltonian (Pauli sum, Ha for molecules); ``num_wires``;
    ``exact_energy``: its ground energy by exact diagonalisation or brute force
    (``None`` where neither is affordable, or for a loss that is no energy); ``electrons``:
    number of electrons (molecules) or ``None``; ``hf_state``: the Hartree–Fock
    occupation bits (molecules) or ``None``.
    """

    name: str
    observable: PauliSum
    num_wires: int
    exact_energy: float | None
    electrons: int | None = None
    hf_state: tuple[int, ...] | None = None


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


def tfim(n: int = 6, J: float = 1.0, h: float = 1.0, periodic: bool = False) -> Problem:
    """Transverse-field Ising chain ``H = -J Σ Z_i Z_{i+1} - h Σ X_i`` on ``n`` wires."""
    if n < 2:
        raise ConfigError(f"problem.n={n} is invalid: the Ising chain needs n ≥ 2 spins")
    bonds = [(i, i + 1) for i in range(n - 1)] + ([(n - 1, 0)] if periodic and n > 2 else [])
    terms = [(-J, {i: "Z", j: "Z"}) for i, j in bonds] + [(-h, {i: "X"}) for i in range(n)]
    observable = PauliSum(terms)
    return Problem("tfim", observable, n, observable.ground_energy())


def maxcut(graph) -> Problem:
    """MaxCut on a :class:`qjax.maxcut.Graph`: minimise ``H_P = Σ w Z_i Z_j``; exact by brute force (n ≤ 20)."""
    from qjax.maxcut import BRUTE_FORCE_MAX_NODES, brute_force, cost_observable

    exact = None
    if graph.n <= BRUTE_FORCE_MAX_NODES:
        exact = graph.total_weight - 2 * brute_force(graph)[0]
    return Problem("maxcut", cost_observable(graph), graph.n, exact)


def basis_state_energy(observable: PauliSum, bits) -> float:
    """``⟨b|H|b⟩`` of the computational basis state ``bits`` (wire 0 first): only Z-only terms count."""
    total = 0.0
    for coeff, word in observable.terms:
        if all(p == "Z" for _, p in word):
            total += coeff * (-1) ** sum(int(bits[w]) for w, _ in word)
    return total


def classical_energy(problem: Problem) -> tuple[float, str]:
    """A classical heuristic for the energy, with its name: Hartree–Fock for molecules, else the best basis state.

    The last resort of a hardware run whose every backend failed. The best basis
    state is found by brute force (≤ 20 wires) or is the all-zeros state.
    """
    if problem.hf_state is not None:
        return basis_state_energy(problem.observable, problem.hf_state), "hartree_fock"
    n = problem.num_wires
    diagonal = PauliSum([(c, w) for c, w in problem.observable.terms if all(p == "Z" for _, p in w)], n)
    if n <= 20 and diagonal.terms:
        return float(np.min(diagonal.diagonal(n))), "best_basis_state"
    return basis_state_energy(problem.observable, [0] * n), "zero_state"
