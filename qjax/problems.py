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

__all__ = ["Problem", "h2", "tfim", "classical_energy"]


class Problem(NamedTuple):
    """A minimisation target.

    ``observable``: the Hamiltonian (Pauli sum, Ha for molecules); ``num_wires``;
    ``exact_energy``: its ground energy by exact diagonalisation; ``electrons``:
    number of electrons (molecules) or ``None``; ``hf_state``: the Hartree–Fock
    occupation bits (molecules) or ``None``.
    """

    name: str
    observable: PauliSum
    num_wires: int
    exact_energy: float
    electrons: int | None = None
    hf_state: tuple[int, ...] | None = None


def h2(bond_length: float = 0.7414, basis: str = "sto-3g") -> Problem:
    """H2 along z with the given bond length (Å): 4 qubits (Jordan–Wigner), 15 Pauli terms."""
    if not bond_length > 0:
        raise ConfigError(f"problem.bond_length={bond_length} is invalid: must be > 0 Å (e.g. 0.7414)")
    import pennylane as qml  # heavy import, only when a molecule is built

    coordinates = np.array([0.0, 0.0, -bond_length / 2, 0.0, 0.0, bond_length / 2])
    molecule = qml.qchem.Molecule(["H", "H"], coordinates, unit="angstrom", basis_name=basis)
    hamiltonian, num_wires = qml.qchem.molecular_hamiltonian(molecule)
    observable = PauliSum.from_pennylane(hamiltonian)
    electrons = 2
    hf = tuple(int(b) for b in qml.qchem.hf_state(electrons, num_wires))
    return Problem("h2", observable, num_wires, observable.ground_energy(), electrons, hf)


def tfim(n: int = 6, J: float = 1.0, h: float = 1.0, periodic: bool = False) -> Problem:
    """Transverse-field Ising chain ``H = -J Σ Z_i Z_{i+1} - h Σ X_i`` on ``n`` wires."""
    if n < 2:
        raise ConfigError(f"problem.n={n} is invalid: the Ising chain needs n ≥ 2 spins")
    bonds = [(i, i + 1) for i in range(n - 1)] + ([(n - 1, 0)] if periodic and n > 2 else [])
    terms = [(-J, {i: "Z", j: "Z"}) for i, j in bonds] + [(-h, {i: "X"}) for i in range(n)]
    observable = PauliSum(terms)
    return Problem("tfim", observable, n, observable.ground_energy())


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
