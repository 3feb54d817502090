"""Problems: an observable to minimise plus its exact answer (this module: the type and classical heuristics).

Each builder returns a :class:`Problem` whose ``exact_energy`` is computed there, never
typed in: by exact diagonalisation of the electron-number sector (molecules,
:mod:`qjax.problems.chemistry`), by the chain's exact free-fermion solution or sparse
diagonalisation (Ising chains, :mod:`qjax.problems.spin`), by brute force (MaxCut,
:mod:`qjax.problems.maxcut`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from qjax.ir.pauli import PauliSum

__all__ = ["Problem", "basis_state_energy", "classical_energy"]


class Problem(NamedTuple):
    """A minimisation target.

    ``observable``: the Hamiltonian (Pauli sum, Ha for molecules); ``num_wires``;
    ``exact_energy``: its ground energy by exact diagonalisation or brute force
    (``None`` where neither is affordable, or for a loss that is no energy); ``electrons``:
    number of electrons (molecules) or ``None``; ``hf_state``: the Hartree–Fock
    occupation bits (molecules) or ``None``; ``tapering``: what Z2-symmetry tapering did
    (:class:`qjax.problems.tapering.Tapering`) or ``None`` for an untapered problem.
    """

    name: str
    observable: PauliSum
    num_wires: int
    exact_energy: float | None
    electrons: int | None = None
    hf_state: tuple[int, ...] | None = None
    tapering: Any = None


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
