"""Spin models: the transverse-field Ising chain, exact by diagonalisation."""

from __future__ import annotations

from qjax.errors import ConfigError
from qjax.ir.pauli import PauliSum
from qjax.problems.base import Problem

__all__ = ["tfim"]


def tfim(n: int = 6, J: float = 1.0, h: float = 1.0, periodic: bool = False) -> Problem:
    """Transverse-field Ising chain ``H = -J Σ Z_i Z_{i+1} - h Σ X_i`` on ``n`` wires."""
    if n < 2:
        raise ConfigError(f"problem.n={n} is invalid: the Ising chain needs n ≥ 2 spins")
    bonds = [(i, i + 1) for i in range(n - 1)] + ([(n - 1, 0)] if periodic and n > 2 else [])
    terms = [(-J, {i: "Z", j: "Z"}) for i, j in bonds] + [(-h, {i: "X"}) for i in range(n)]
    observable = PauliSum(terms)
    return Problem("tfim", observable, n, observable.ground_energy())
