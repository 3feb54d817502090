"""Problems: an observable to minimise plus its exact answer.

Each builder returns a :class:`Problem` whose ``exact_energy`` is computed here, never
typed in: by exact diagonalisation of the electron-number sector (molecules), by the
chain's exact free-fermion solution (open Ising chains) or by sparse diagonalisation
(periodic chains up to :data:`EXACT_DIAGONALISATION_MAX_QUBITS`). Building is plain
Python/NumPy (PennyLane's ``qml.qchem`` for molecules, which works offline).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from qjax.errors import ConfigError
from qjax.observables import PauliSum
from qjax.schemas import BOND_LENGTH_RANGE, lih_active_orbitals

__all__ = ["Problem", "h2", "lih", "molecule", "tfim", "maxcut", "classical_energy", "open_chain_ground_energy",
           "EXACT_DIAGONALISATION_MAX_QUBITS"]

#: Widest periodic Ising chain whose exact energy comes from sparse diagonalisation of the whole
#: ``2**n`` space; wider ones get ``exact_energy=None``. Measured (2-core EPYC, loaded): n = 16
#: 9 s, 18 21 s, 20 44 s and 1.6 GiB; n = 22 passed 90 s, and each two wires cost about 4× more.
EXACT_DIAGONALISATION_MAX_QUBITS = 20


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
        raise ConfigError(f"problem.bond_length={bond_length} is invalid: must be a float in {lo}..{hi} (ångström) "
                          f"(e.g. problem.bond_length={default})")


def h2(bond_length: float = 0.7414, basis: str = "sto-3g") -> Problem:
    """H2 along z with the given bond length (Å, in :data:`~qjax.schemas.BOND_LENGTH_RANGE`): 4 qubits
    (Jordan–Wigner), 15 Pauli terms."""
    _check_bond_length(bond_length, 0.7414)
    return molecule("h2", ["H", "H"], [0.0, 0.0, -bond_length / 2, 0.0, 0.0, bond_length / 2], basis=basis)


def lih(bond_length: float = 1.5949, basis: str = "sto-3g", active_electrons: int = 2,
        active_orbitals: int = 3) -> Problem:
    """LiH along z in an active space: ``2 * active_orbitals`` qubits (6 by default, 62 Pauli terms)."""
    _check_bond_length(bond_length, 1.5949)
    if active_electrons not in (2, 4):
        raise ConfigError(f"problem.active_electrons={active_electrons} is invalid for LiH: must be 2 or 4 (a closed "
                          f"shell) (e.g. problem.active_electrons=2)")
    if active_orbitals not in lih_active_orbitals(active_electrons):
        allowed = lih_active_orbitals(active_electrons)
        raise ConfigError(f"problem.active_orbitals={active_orbitals} is invalid for LiH with {active_electrons} active "
                          f"electrons: must be {allowed[0]}..{allowed[-1]} (e.g. problem.active_orbitals={allowed[0] + 1})")
    return molecule("lih", ["Li", "H"], [0.0, 0.0, 0.0, 0.0, 0.0, bond_length], basis=basis,
                    active_electrons=active_electrons, active_orbitals=active_orbitals)


def tfim(n: int = 6, J: float = 1.0, h: float = 1.0, periodic: bool = False) -> Problem:
    """Transverse-field Ising chain ``H = -J Σ Z_i Z_{i+1} - h Σ X_i`` on ``n`` wires.

    The exact energy of an open chain is its free-fermion solution (any ``n``, in microseconds);
    a periodic chain is diagonalised up to :data:`EXACT_DIAGONALISATION_MAX_QUBITS` wires and has
    ``exact_energy=None`` beyond.
    """
    if n < 2:
        raise ConfigError(f"problem.n={n} is invalid: the Ising chain needs n ≥ 2 spins")
    ring = periodic and n > 2
    bonds = [(i, i + 1) for i in range(n - 1)] + ([(n - 1, 0)] if ring else [])
    terms = [(-J, {i: "Z", j: "Z"}) for i, j in bonds] + [(-h, {i: "X"}) for i in range(n)]
    observable = PauliSum(terms)
    if not ring:
        exact = open_chain_ground_energy(n, J, h)
    elif n <= EXACT_DIAGONALISATION_MAX_QUBITS:
        exact = observable.ground_energy()
    else:
        exact = None  # 2**n basis states: more than exact diagonalisation affords
    return Problem("tfim", observable, n, exact)


def open_chain_ground_energy(n: int, J: float, h: float) -> float:
    """Ground energy of the open chain ``-J Σ Z_i Z_{i+1} - h Σ X_i``, exactly, from its free fermions.

    Jordan–Wigner maps the chain to Majorana fermions coupled by the bidiagonal ``n × n`` matrix
    ``M`` (``h`` on the diagonal, ``J`` above it); its single-particle energies are ``2 σ_k(M)``
    and the ground energy is ``-Σ_k σ_k(M)`` (Lieb, Schultz & Mattis 1961; Pfeuty 1970), for
    either sign of ``J`` and ``h``. Checked against exact diagonalisation in the tests.
    """
    m = np.diag(np.full(n, float(h))) + np.diag(np.full(n - 1, float(J)), 1)
    return float(-np.linalg.svd(m, compute_uv=False).sum())


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
