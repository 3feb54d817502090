"""Problems with their own exact or classical references: molecules, spin chains, MaxCut, data sets.

Each builder returns a :class:`~qjax.problems.base.Problem` (observable, width,
exact energy, and for molecules the electron count and Hartree–Fock state).
"""

from qjax.problems.base import Problem, basis_state_energy, classical_energy
from qjax.problems.chemistry import h2, lih, molecule
from qjax.problems.maxcut import maxcut_problem
from qjax.problems.spin import tfim

__all__ = ["Problem", "basis_state_energy", "classical_energy", "h2", "lih", "maxcut_problem", "molecule", "tfim"]
