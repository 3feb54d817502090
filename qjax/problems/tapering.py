"""Qubit tapering of molecular Hamiltonians with their Z2 symmetries (Bravyi et al. 2017), through PennyLane's qchem.

:func:`taper` turns a molecular :class:`~qjax.problems.base.Problem` into one on fewer
qubits with the same ground energy in the electron sector: ``qml.symmetry_generators``
finds the Z2 symmetries of the Jordan–Wigner Hamiltonian, ``qml.paulix_ops`` the single-qubit
X operators that rotate each onto one qubit, ``qml.qchem.optimal_sector`` the eigenvalues of
the Hartree–Fock sector, ``qml.taper`` the tapered Hamiltonian and ``qml.qchem.taper_hf`` the
tapered Hartree–Fock state. The UCC singles and doubles are tapered with
``qml.qchem.taper_operation``; each becomes a product of Pauli rotations on the kept qubits
(those that break the symmetry vanish), which :func:`tapered_ucc` lays out as a circuit.

H2 in STO-3G goes from 4 qubits to 1 (``-0.3287 I + 0.7880 Z + 0.1813 X`` at 0.7414 Å, one
rotation); LiH (2e, 3o) from 6 qubits and 62 terms to 3 and 34.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from qjax.errors import ConfigError
from qjax.ir.circuit import Angle, Circuit, Operation, Param
from qjax.ir.pauli import PauliSum
from qjax.problems.base import Problem

__all__ = ["Tapering", "taper", "tapered_ucc", "pauli_rotation"]

#: A Pauli word on the tapered wires, ``((wire, "X"|"Y"|"Z"), ...)``, with the rotation angle per unit parameter.
Rotation = tuple[float, tuple[tuple[int, str], ...]]


class Tapering(NamedTuple):
    """What tapering did, for the manifest and the ansatz.

    ``generators``: the Z2 symmetry generators (PennyLane's strings, on the full wires);
    ``paulix``: the qubit each generator was rotated onto (its ``X`` is removed);
    ``sector``: the ±1 eigenvalue of each generator in the Hartree–Fock sector;
    ``kept``: the full-problem wire of each tapered wire; ``qubits_before`` / ``qubits_after``;
    ``terms_before`` / ``terms_after``: Pauli terms; ``excitations``: each UCC excitation that
    survives tapering as a product of Pauli rotations ``exp(-i θ k P / 2)`` (``(k, P)`` pairs), in
    ``qml.qchem.excitations`` order, doubles first (as :func:`qjax.ir.ansatze.uccsd` lays them out).
    """

    generators: tuple[str, ...]
    paulix: tuple[int, ...]
    sector: tuple[int, ...]
    kept: tuple[int, ...]
    qubits_before: int
    qubits_after: int
    terms_before: int
    terms_after: int
    excitations: tuple[tuple[Rotation, ...], ...]

    def describe(self) -> dict:
        """The manifest's ``tapering`` entry (JSON-able)."""
        out = self._asdict()
        out.pop("excitations")
        out["excitations_kept"] = len(self.excitations)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def _word(op, wire_of: dict[int, int]) -> tuple[tuple[int, str], ...]:
    """A PennyLane Pauli word (with a Pauli representation) on tapered wires ``wire_of``."""
    ((word, _),) = op.pauli_rep.items()
    return tuple(sorted((wire_of[int(w)], p) for w, p in word.items()))


def _tapered_excitation(qml, kind, generators, paulix, sector, wire_order, wires, wire_of) -> tuple[Rotation, ...]:
    """``kind(θ, wires)`` tapered: Pauli rotations ``(k, P)`` with ``exp(-i θ k P / 2)``, in application order."""
    tapered = qml.qchem.taper_operation(kind, generators, paulix, sector, wire_order=wire_order, op_wires=wires)
    with qml.queuing.AnnotatedQueue() as queue:
        tapered(1.0)  # the exponents are linear in θ: read them at θ = 1
    rotations = []
    for op in qml.tape.QuantumScript.from_queue(queue).operations:
        coeff = complex(op.coeff)  # exp(coeff · P) with coeff = -i k / 2
        if abs(coeff.real) > 1e-12:
            raise ConfigError(f"tapering {kind.__name__}{list(wires)} gave a non-unitary factor {op}")
        rotations.append((-2.0 * coeff.imag, _word(op.base, wire_of)))
    return tuple(rotations)


def taper(problem: Problem) -> Problem:
    """``problem`` tapered by its Z2 symmetries (a molecule's; see the module docstring).

    The result keeps ``exact_energy`` (the full problem's ground energy in the electron
    sector, which the tapered Hamiltonian's ground energy equals) and ``electrons``; its
    ``hf_state`` is the tapered Hartree–Fock state and ``tapering`` says what was done.
    A problem without electrons, or whose Hamiltonian has no Z2 symmetry, is refused.
    """
    if problem.electrons is None or problem.hf_state is None:
        raise ConfigError(
            f"problem.taper=true needs a molecule (its Z2 symmetries fix the electron sector); problem="
            f"{problem.name} has none to taper: set problem.taper=false (or auto)"
        )
    import pennylane as qml  # heavy import, only when tapering

    n = problem.num_wires
    hamiltonian = problem.observable.to_pennylane()
    wire_order = list(range(n))
    generators = qml.symmetry_generators(hamiltonian)
    if not generators:
        raise ConfigError(
            f"problem.taper=true: the Hamiltonian of problem={problem.name} has no Z2 symmetry to taper; "
            "set problem.taper=false"
        )
    paulix = qml.paulix_ops(generators, n)
    sector = [int(s) for s in qml.qchem.optimal_sector(hamiltonian, generators, problem.electrons)]
    tapered = qml.taper(hamiltonian, generators, paulix, sector)
    removed = {int(op.wires[0]) for op in paulix}
    kept = tuple(w for w in wire_order if w not in removed)
    wire_of = {w: i for i, w in enumerate(kept)}
    terms = [(float(c), {wire_of[int(w)]: p for w, p in word.items()}) for word, c in tapered.pauli_rep.items()]
    observable = PauliSum(terms, len(kept))
    hf = qml.qchem.taper_hf(generators, paulix, sector, problem.electrons, n)
    singles, doubles = qml.qchem.excitations(problem.electrons, n)
    excitations = [
        _tapered_excitation(qml, kind, generators, paulix, sector, wire_order, wires, wire_of)
        for kind, group in ((qml.DoubleExcitation, doubles), (qml.SingleExcitation, singles))
        for wires in group
    ]
    info = Tapering(
        generators=tuple(str(g) for g in generators),
        paulix=tuple(int(op.wires[0]) for op in paulix),
        sector=tuple(sector),
        kept=kept,
        qubits_before=n,
        qubits_after=len(kept),
        terms_before=len(problem.observable.terms),
        terms_after=len(observable.terms),
        excitations=tuple(e for e in excitations if e),
    )
    return problem._replace(
        observable=observable, num_wires=len(kept), hf_state=tuple(int(b) for b in hf), tapering=info
    )


def pauli_rotation(theta, word: tuple[tuple[int, str], ...]) -> list[Operation]:
    """``exp(-i θ P / 2)`` for the Pauli word ``P`` as table gates (``θ``: a number or a parameter expression).

    One wire: ``RX``, ``RY`` or ``RZ``. More: each factor rotated to Z (``H`` for X, ``RX(π/2)`` for Y),
    a CNOT ladder onto the last wire, ``RZ(θ)`` there, and everything undone.
    """
    if len(word) == 1:
        ((wire, pauli),) = word
        return [Operation(f"R{pauli}", (wire,), (theta,))]
    into, out = [], []
    for wire, pauli in word:
        if pauli == "X":
            into.append(Operation("H", (wire,)))
            out.append(Operation("H", (wire,)))
        elif pauli == "Y":
            into.append(Operation("RX", (wire,), (Angle(offset=math.pi / 2),)))
            out.append(Operation("RX", (wire,), (Angle(offset=-math.pi / 2),)))
    wires = [w for w, _ in word]
    ladder = [Operation("CNOT", (a, b)) for a, b in zip(wires, wires[1:])]
    return into + ladder + [Operation("RZ", (wires[-1],), (theta,))] + ladder[::-1] + out


def tapered_ucc(problem: Problem) -> Circuit:
    """The UCC singles and doubles of a tapered ``problem`` (:func:`taper`) on its tapered wires.

    X on the tapered Hartree–Fock state's ones, then one parameter per surviving excitation
    (doubles, then singles), each a product of :func:`pauli_rotation`; parameters 0 give the
    tapered Hartree–Fock state, as :func:`qjax.ir.ansatze.uccsd` gives the full one.
    """
    info = problem.tapering
    if info is None or problem.hf_state is None:
        raise ConfigError(f"problem={problem.name} is not tapered; build the ansatz with qjax.ir.ansatze.uccsd")
    ops = [Operation("X", (w,)) for w, bit in enumerate(problem.hf_state) if bit]
    for k, excitation in enumerate(info.excitations):
        for scale, word in excitation:
            ops.extend(pauli_rotation(scale * Param(k), word))
    return Circuit(problem.num_wires, tuple(ops), num_params=len(info.excitations))
