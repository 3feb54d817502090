"""The gate table: every gate qjax knows, keyed by canonical name.

Each entry gives the number of wires, the number of angles and a function that
builds the gate's unitary from its angles. Matrices use PennyLane's convention:
within a gate the first wire is the most significant bit, so for ``CNOT`` the
first wire is the control. Angles are radians.

Adding a gate means adding one entry here; the simulator, converters and
gradient code look gates up by name and need no other change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax.numpy as jnp
import numpy as np

from qjax.errors import UnknownGateError
from qjax.ir.pauli import PAULI_MATRICES

__all__ = ["GateSpec", "GATES", "gate_spec", "canonical_name"]

MatrixFn = Callable[[jnp.ndarray, jnp.dtype], jnp.ndarray]


@dataclass(frozen=True)
class GateSpec:
    """One gate: ``matrix(angles, dtype)`` returns its ``(2**k, 2**k)`` unitary.

    ``angles`` is a ``(num_params,)`` real array. ``diagonal`` marks gates whose
    unitary is diagonal in the computational basis for every angle. ``phase``, for a
    one-angle diagonal gate whose diagonal is ``exp(iθ · phase)`` (RZ, PhaseShift,
    CRZ, CPhase, RZZ), is that generator: a run of such gates is one phase sum
    (:mod:`qjax.sim.fusion`). ``trig = (s, A, B, C)``, for a one-angle gate whose matrix is
    ``A + B cos(sθ) + C sin(sθ)`` (numpy; every one-angle table gate, whose matrix
    function is built from it), lets the simulator build all occurrences of the gate
    in a few array operations (:func:`trig_matrices`).
    """

    name: str
    num_wires: int
    num_params: int
    matrix: MatrixFn
    diagonal: bool = False
    aliases: tuple[str, ...] = ()
    phase: tuple[float, ...] | None = None
    trig: tuple | None = None

    @property
    def constant(self) -> np.ndarray | None:
        """An angle-free table gate's matrix (complex128 numpy, read-only), else None."""
        return getattr(self.matrix, "array", None)


class _Constant:
    """An angle-free gate's matrix function; ``array`` is the matrix as complex128
    numpy, so the simulator builds fixed gates without running JAX."""

    def __init__(self, m):
        self.array = np.asarray(m, dtype=np.complex128)
        self.array.setflags(write=False)

    def __call__(self, angles, dtype):
        return jnp.asarray(self.array, dtype=dtype)


def _const(m) -> _Constant:
    return _Constant(m)


_P0, _P1 = np.diag([1.0, 0.0]), np.diag([0.0, 1.0])  # |0><0|, |1><1|


def _controlled_matrix(m: np.ndarray) -> np.ndarray:
    """``|0><0| ⊗ I + |1><1| ⊗ m`` with the control as the first wire."""
    return np.kron(_P0, np.eye(len(m))) + np.kron(_P1, m)


def _controlled(base: _Constant) -> _Constant:
    return _Constant(_controlled_matrix(base.array))


def trig_matrices(trig: tuple, angles, dtype, diagonal: bool = False):
    """``A + B cos(sθ) + C sin(sθ)`` (``GateSpec.trig``) for ``angles (m, 1)``: the
    ``(m, 2**k, 2**k)`` matrices of a one-angle gate, or their ``(m, 2**k)`` diagonals.
    A few array operations for all occurrences at once."""
    s, *abc = trig
    a, b, c = (jnp.asarray(np.diag(t) if diagonal else t, dtype) for t in abc)
    t = (angles[:, 0] * s).astype(jnp.finfo(dtype).dtype)
    lead = (slice(None),) + (None,) * a.ndim
    return a + jnp.cos(t)[lead] * b + jnp.sin(t)[lead] * c


def _one_angle(name: str, num_wires: int, trig: tuple, **kw) -> "GateSpec":
    """A one-angle gate defined by its ``trig`` form; its matrix function follows."""
    return GateSpec(
        name, num_wires, 1, lambda angles, dtype: trig_matrices(trig, angles[None], dtype)[0], trig=trig, **kw
    )


def _u3(angles, dtype):
    theta, phi, lam = angles[0], angles[1], angles[2]
    c, s = jnp.cos(theta / 2), jnp.sin(theta / 2)
    return jnp.stack(
        [
            jnp.stack([c + 0j, -jnp.exp(1j * lam) * s]),
            jnp.stack([jnp.exp(1j * phi) * s, jnp.exp(1j * (phi + lam)) * c]),
        ]
    ).astype(dtype)


def _unitary(angles, dtype):  # the matrix itself lives on the Operation
    raise TypeError("Unitary has no table matrix; use Operation.matrix")


def _rotation_trig(pauli: np.ndarray) -> tuple:
    """``exp(-iθ/2 P) = I cos(θ/2) - iP sin(θ/2)`` for ``P`` squaring to I."""
    return 0.5, np.zeros_like(pauli, dtype=complex), np.eye(len(pauli), dtype=complex), -1j * pauli


def _controlled_trig(trig: tuple) -> tuple:
    """The control as the first wire: ``|0><0| ⊗ I + |1><1| ⊗ (A + B cos + C sin)``."""
    s, a, b, c = trig
    return s, _controlled_matrix(a), np.kron(_P1, b), np.kron(_P1, c)


_X, _Y, _Z = (PAULI_MATRICES[p] for p in "XYZ")
_SWAP = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
_SQRT2 = np.sqrt(0.5)
# PhaseShift = diag(1, e^{iθ}) = diag(1, 0) + diag(0, 1) cos θ + diag(0, i) sin θ
_PHASE_TRIG = (1.0, np.diag([1.0, 0.0]).astype(complex), np.diag([0.0, 1.0]).astype(complex), np.diag([0, 1j]))

_SPECS = [
    GateSpec("I", 1, 0, _const(np.eye(2)), diagonal=True, aliases=("Identity", "id")),
    GateSpec("H", 1, 0, _const(_SQRT2 * np.array([[1, 1], [1, -1]])), aliases=("Hadamard",)),
    GateSpec("X", 1, 0, _const(_X), aliases=("PauliX",)),
    GateSpec("Y", 1, 0, _const(_Y), aliases=("PauliY",)),
    GateSpec("Z", 1, 0, _const(_Z), diagonal=True, aliases=("PauliZ",)),
    GateSpec("S", 1, 0, _const(np.diag([1, 1j])), diagonal=True),
    GateSpec("Sdg", 1, 0, _const(np.diag([1, -1j])), diagonal=True),
    GateSpec("T", 1, 0, _const(np.diag([1, np.exp(0.25j * np.pi)])), diagonal=True),
    GateSpec("Tdg", 1, 0, _const(np.diag([1, np.exp(-0.25j * np.pi)])), diagonal=True),
    GateSpec("SX", 1, 0, _const(0.5 * np.array([[1 + 1j, 1 - 1j], [1 - 1j, 1 + 1j]]))),
    _one_angle("RX", 1, _rotation_trig(_X)),
    _one_angle("RY", 1, _rotation_trig(_Y)),
    _one_angle("RZ", 1, _rotation_trig(_Z), diagonal=True, phase=(-0.5, 0.5)),
    _one_angle("PhaseShift", 1, _PHASE_TRIG, diagonal=True, aliases=("P", "U1", "Phase"), phase=(0.0, 1.0)),
    GateSpec("U3", 1, 3, _u3, aliases=("U",)),
    GateSpec("CNOT", 2, 0, _controlled(_const(_X)), aliases=("CX",)),
    GateSpec("CY", 2, 0, _controlled(_const(_Y))),
    GateSpec("CZ", 2, 0, _controlled(_const(_Z)), diagonal=True),
    GateSpec("SWAP", 2, 0, _const(_SWAP)),
    GateSpec("iSWAP", 2, 0, _const([[1, 0, 0, 0], [0, 0, 1j, 0], [0, 1j, 0, 0], [0, 0, 0, 1]])),
    _one_angle("CRX", 2, _controlled_trig(_rotation_trig(_X))),
    _one_angle("CRY", 2, _controlled_trig(_rotation_trig(_Y))),
    _one_angle("CRZ", 2, _controlled_trig(_rotation_trig(_Z)), diagonal=True, phase=(0.0, 0.0, -0.5, 0.5)),
    _one_angle(
        "CPhase",
        2,
        _controlled_trig(_PHASE_TRIG),
        diagonal=True,
        aliases=("ControlledPhaseShift", "CP", "CU1"),
        phase=(0.0, 0.0, 0.0, 1.0),
    ),
    _one_angle("RXX", 2, _rotation_trig(np.kron(_X, _X)), aliases=("IsingXX",)),
    _one_angle("RYY", 2, _rotation_trig(np.kron(_Y, _Y)), aliases=("IsingYY",)),
    _one_angle(
        "RZZ", 2, _rotation_trig(np.kron(_Z, _Z)), diagonal=True, aliases=("IsingZZ",), phase=(-0.5, 0.5, 0.5, -0.5)
    ),
    GateSpec("Toffoli", 3, 0, _controlled(_controlled(_const(_X))), aliases=("CCX", "CCNOT")),
    GateSpec("CSWAP", 3, 0, _controlled(_const(_SWAP)), aliases=("Fredkin",)),
    GateSpec("Unitary", 0, 0, _unitary, aliases=("QubitUnitary",)),
]

GATES: dict[str, GateSpec] = {spec.name: spec for spec in _SPECS}
"""Canonical gate name → :class:`GateSpec`. ``Unitary`` takes any number of wires."""

_LOOKUP: dict[str, str] = {}
for _spec in _SPECS:
    for _name in (_spec.name, *_spec.aliases):
        _LOOKUP[_name.lower()] = _spec.name


def canonical_name(name: str) -> str:
    """Canonical table name of ``name`` or one of its aliases (case-insensitive)."""
    try:
        return _LOOKUP[str(name).lower()]
    except KeyError:
        known = ", ".join(GATES)
        raise UnknownGateError(
            f"unknown gate {name!r}; qjax supports {known} (and aliases such as CX, P, U, CCX). "
            "Decompose it into these gates or pass its matrix as a Unitary."
        ) from None


def gate_spec(name: str) -> GateSpec:
    """The :class:`GateSpec` of ``name`` (canonical or alias)."""
    return GATES[canonical_name(name)]
