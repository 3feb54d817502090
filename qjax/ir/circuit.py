"""The circuit IR: an immutable, hashable description of a parametrised circuit.

A :class:`Circuit` is a tuple of :class:`Operation` s on ``num_wires`` wires. Every
gate angle is an :class:`Angle`: a linear expression ``Σ a_i params[i] + Σ b_j x[j] + c``
of the trainable parameters ``params`` and the data inputs ``x`` (for encoders).
This linear map lets one parameter drive several gates (shared parameters) and is
what the simulator compiles into a single matrix product.

Nothing here holds JAX arrays: circuits are plain Python data, so they can be
hashed, compared, cached and sent over the wire.

Example::

    from qjax import Circuit, Param
    c = Circuit(2).h(0).ry(Param(0), 1).cnot(0, 1).rz(2 * Param(0) + 0.5, 1)
"""

from __future__ import annotations

import math
import numbers
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from qjax.errors import CircuitError, WireError
from qjax.ir.gates import GATES, canonical_name, gate_spec

__all__ = ["Angle", "Param", "Input", "Operation", "Circuit", "LinearMap"]

Number = float  # what mypy understands for "a real number" (int, float, numpy scalars at run time)


def _merge(terms: Iterable[tuple[int, float]]) -> tuple[tuple[int, float], ...]:
    acc: dict[int, float] = {}
    for index, coeff in terms:
        acc[index] = acc.get(index, 0.0) + float(coeff)
    return tuple(sorted((i, c) for i, c in acc.items() if c != 0.0))


@dataclass(frozen=True)
class Angle:
    """A gate angle ``Σ coeff·params[i] + Σ coeff·x[j] + offset`` (radians).

    Build it from :func:`Param`, :func:`Input` and numbers with ``+ - * /``.
    """

    params: tuple[tuple[int, float], ...] = ()
    inputs: tuple[tuple[int, float], ...] = ()
    offset: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "params", _merge(self.params))
        object.__setattr__(self, "inputs", _merge(self.inputs))
        object.__setattr__(self, "offset", float(self.offset))
        for index, _ in self.params + self.inputs:
            if index < 0:
                raise CircuitError(f"parameter/input index {index} is negative; indices start at 0")
        if not math.isfinite(self.offset):
            raise CircuitError(f"angle offset {self.offset} is not finite")

    @staticmethod
    def of(value: "Angle | Number") -> "Angle":
        """``value`` as an Angle (numbers become constant angles)."""
        if isinstance(value, Angle):
            return value
        if isinstance(value, numbers.Real) or (isinstance(value, np.ndarray) and value.shape == ()):
            return Angle(offset=float(value))
        raise CircuitError(
            f"a gate angle must be a number, qjax.Param(i), qjax.Input(j) or a linear "
            f"combination of them; got {value!r} of type {type(value).__name__}"
        )

    @property
    def is_constant(self) -> bool:
        return not self.params and not self.inputs

    def __add__(self, other):
        other = Angle.of(other)
        return Angle(self.params + other.params, self.inputs + other.inputs, self.offset + other.offset)

    __radd__ = __add__

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-Angle.of(other))

    def __rsub__(self, other):
        return Angle.of(other) - self

    def __mul__(self, k):
        if not isinstance(k, numbers.Real):
            raise CircuitError(f"angles are linear: they can be scaled by numbers only, not by {k!r}")
        k = float(k)
        return Angle(
            tuple((i, c * k) for i, c in self.params),
            tuple((j, c * k) for j, c in self.inputs),
            self.offset * k,
        )

    __rmul__ = __mul__

    def __truediv__(self, k):
        return self * (1.0 / float(k))

    def __repr__(self):
        parts = [f"{c:g}*p[{i}]" for i, c in self.params] + [f"{c:g}*x[{j}]" for j, c in self.inputs]
        if self.offset or not parts:
            parts.append(f"{self.offset:g}")
        return " + ".join(parts)


def Param(index: int) -> Angle:
    """The trainable parameter ``params[index]`` as an :class:`Angle`."""
    return Angle(params=((int(index), 1.0),))


def Input(index: int) -> Angle:
    """The data feature ``x[index]`` as an :class:`Angle` (for encoders)."""
    return Angle(inputs=((int(index), 1.0),))


def _as_matrix_tuple(matrix) -> tuple[tuple[complex, ...], ...]:
    m = np.asarray(matrix, dtype=np.complex128)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 2 or (m.shape[0] & (m.shape[0] - 1)):
        raise CircuitError(f"a Unitary needs a square 2**k x 2**k matrix, got shape {m.shape}")
    if not np.allclose(m.conj().T @ m, np.eye(m.shape[0]), atol=1e-6):
        raise CircuitError("the matrix given to Unitary is not unitary (U†U ≠ I within 1e-6)")
    return tuple(tuple(complex(v) for v in row) for row in m)


@dataclass(frozen=True)
class Operation:
    """One gate application: canonical ``gate`` name, ``wires`` and ``angles``.

    ``matrix`` holds the fixed unitary of a ``Unitary`` operation (as nested tuples,
    so the operation stays hashable) and is ``None`` for table gates.
    """

    gate: str
    wires: tuple[int, ...]
    angles: tuple[Angle, ...] = ()
    # any square array-like is accepted and stored as nested tuples
    matrix: tuple[tuple[complex, ...], ...] | np.ndarray | None = None

    def __post_init__(self):
        gate = canonical_name(self.gate)
        object.__setattr__(self, "gate", gate)
        try:
            wires = tuple(int(w) for w in self.wires)
        except (TypeError, ValueError):
            raise WireError(f"{gate}: wires must be integers, got {self.wires!r}") from None
        object.__setattr__(self, "wires", wires)
        object.__setattr__(self, "angles", tuple(Angle.of(a) for a in self.angles))
        spec = GATES[gate]
        if gate == "Unitary":
            if self.matrix is None:
                raise CircuitError("Unitary needs a matrix: Operation('Unitary', wires, matrix=U)")
            object.__setattr__(self, "matrix", _as_matrix_tuple(self.matrix))
            expected_wires = int(np.log2(len(self.matrix)))
        else:
            if self.matrix is not None:
                raise CircuitError(f"{gate} is a table gate and takes no matrix; use 'Unitary'")
            expected_wires = spec.num_wires
        if len(wires) != expected_wires:
            raise WireError(f"{gate} acts on {expected_wires} wire(s), got wires {wires}")
        if len(set(wires)) != len(wires):
            raise WireError(f"{gate} got repeated wires {wires}; each wire may appear once per gate")
        if any(w < 0 for w in wires):
            raise WireError(f"{gate} got negative wire in {wires}; wires are 0 .. num_wires-1")
        if len(self.angles) != spec.num_params:
            raise CircuitError(f"{gate} takes {spec.num_params} angle(s), got {len(self.angles)}")

    def matrix_array(self) -> np.ndarray:
        """The fixed matrix of a ``Unitary`` operation as a complex128 array."""
        return np.asarray(self.matrix, dtype=np.complex128)


@dataclass(frozen=True)
class LinearMap:
    """The circuit's angle map compiled to arrays: ``angles = A @ params + B @ x + c``.

    ``A: (G, P)``, ``B: (G, F)``, ``c: (G,)`` where G is the total number of gate
    angles in operation order; ``slices[k]`` is the range of operation k's angles.
    """

    A: np.ndarray
    B: np.ndarray
    c: np.ndarray
    slices: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Circuit:
    """An immutable circuit on ``num_wires`` wires.

    ``num_params`` and ``num_inputs`` default to one more than the largest index
    referenced; pass them to declare unused trailing parameters. Builder methods
    (``c.rx(theta, 0)``, ``c.cnot(0, 1)``, one per gate, angles first as in Qiskit
    and PennyLane) return a new circuit.
    """

    num_wires: int
    operations: tuple[Operation, ...] = ()
    # None means "derive from the operations"; __post_init__ always stores an int
    num_params: int = None  # type: ignore[assignment]
    num_inputs: int = None  # type: ignore[assignment]
    _max_refs: tuple[int, int] = field(default=(0, 0), init=False, repr=False, compare=False)

    def __post_init__(self):
        if not isinstance(self.num_wires, numbers.Integral) or self.num_wires < 1:
            raise WireError(f"num_wires must be a positive integer, got {self.num_wires!r}")
        ops = tuple(self.operations)
        object.__setattr__(self, "operations", ops)
        max_p = max_x = 0
        for op in ops:
            if not isinstance(op, Operation):
                raise CircuitError(f"operations must be qjax.Operation, got {type(op).__name__}")
            bad = [w for w in op.wires if w >= self.num_wires]
            if bad:
                raise WireError(
                    f"{op.gate} on wires {op.wires}: wire {bad[0]} is out of range for a "
                    f"{self.num_wires}-wire circuit (valid wires are 0..{self.num_wires - 1}); "
                    "use more wires or fix the gate's wires"
                )
            for a in op.angles:
                for i, _ in a.params:
                    max_p = max(max_p, i + 1)
                for j, _ in a.inputs:
                    max_x = max(max_x, j + 1)
        for name, declared, used in (("num_params", self.num_params, max_p), ("num_inputs", self.num_inputs, max_x)):
            if declared is None:
                object.__setattr__(self, name, used)
            elif declared < used:
                raise CircuitError(f"{name}={declared} but the circuit references index {used - 1}")

    # -- building -------------------------------------------------------------

    def append(self, gate: str, wires: int | Sequence[int], angles: Sequence = (), *, matrix=None) -> "Circuit":
        """A new circuit with one more operation."""
        targets = (int(wires),) if isinstance(wires, numbers.Integral) else tuple(wires)  # type: ignore[arg-type]
        op = Operation(gate, targets, tuple(angles), matrix)
        return self.extend([op])

    def extend(self, operations: Iterable[Operation]) -> "Circuit":
        """A new circuit with ``operations`` appended (parameter counts re-derived)."""
        return Circuit(self.num_wires, self.operations + tuple(operations))

    def unitary(self, matrix, wires: int | Sequence[int]) -> "Circuit":
        """Append a fixed ``Unitary`` matrix acting on ``wires`` (first wire = MSB)."""
        return self.append("Unitary", wires, (), matrix=matrix)

    def __add__(self, other: "Circuit") -> "Circuit":
        if not isinstance(other, Circuit):
            return NotImplemented
        if other.num_wires != self.num_wires:
            raise WireError(f"cannot join a {self.num_wires}-wire and a {other.num_wires}-wire circuit")
        return self.extend(other.operations)

    # -- inspection -------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.operations)

    def gate_counts(self) -> dict[str, int]:
        """Number of operations per canonical gate name."""
        return dict(Counter(op.gate for op in self.operations))

    def depth(self) -> int:
        """Circuit depth: the longest chain of operations sharing wires."""
        level = [0] * self.num_wires
        for op in self.operations:
            d = 1 + max(level[w] for w in op.wires)
            for w in op.wires:
                level[w] = d
        return max(level, default=0)

    def linear_map(self) -> LinearMap:
        """Compile every gate angle into ``A @ params + B @ x + c`` (see :class:`LinearMap`)."""
        angles = [a for op in self.operations for a in op.angles]
        g = len(angles)
        A = np.zeros((g, int(self.num_params)))
        B = np.zeros((g, int(self.num_inputs)))
        c = np.zeros(g)
        for row, a in enumerate(angles):
            for i, coeff in a.params:
                A[row, i] += coeff
            for j, coeff in a.inputs:
                B[row, j] += coeff
            c[row] = a.offset
        slices, start = [], 0
        for op in self.operations:
            slices.append((start, start + len(op.angles)))
            start += len(op.angles)
        return LinearMap(A, B, c, tuple(slices))


def _builder(spec_name: str):
    spec = gate_spec(spec_name)

    def method(self: Circuit, *args) -> Circuit:
        expected = spec.num_params + spec.num_wires
        if len(args) != expected:
            names = ["angle"] * spec.num_params + ["wire"] * spec.num_wires
            raise CircuitError(f"{spec.name} takes {expected} arguments ({', '.join(names)}), got {len(args)}")
        return self.append(spec.name, args[spec.num_params :], args[: spec.num_params])

    method.__name__ = spec.name.lower()
    method.__doc__ = (
        f"Append {spec.name}: {spec.num_params} angle(s) then {spec.num_wires} wire(s); returns a new Circuit."
    )
    return method


for _spec in GATES.values():
    if _spec.name != "Unitary":
        setattr(Circuit, _spec.name.lower(), _builder(_spec.name))
for _alias, _target in (("cx", "CNOT"), ("p", "PhaseShift"), ("u", "U3"), ("ccx", "Toffoli"), ("cp", "CPhase")):
    setattr(Circuit, _alias, _builder(_target))
