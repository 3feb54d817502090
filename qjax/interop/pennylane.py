"""Import PennyLane tapes and QNodes as qjax circuits.

``from_pennylane(tape)`` or ``from_pennylane(qnode, *args, **kwargs)`` returns an
:class:`ImportedCircuit` ``(circuit, params)``: the qjax :class:`Circuit` and the
values its trainable parameters have on the tape, so that the circuit at
``params`` prepares the tape's state (up to global phase).

Which tape parameters are trainable: by default PennyLane's own
``tape.trainable_params`` (for a hand-built tape: all of them; for a QNode: the
arguments the interface tracks, e.g. ``pennylane.numpy`` arrays with
``requires_grad=True``; plain NumPy and concrete JAX arrays are *not* tracked), or
``trainable="all"`` / a list of tape parameter indices. An array-valued parameter
(template weights) contributes each element, flattened in C order; ``params`` is
their concatenation in ``tape.get_parameters(trainable_only=False)`` order. Other
parameters become constants. Each tape parameter is its own qjax parameter, even
where the QNode used one argument twice.

Wires: integer labels ``k >= 0`` become wire ``k``; other labels are numbered in
``wire_order`` (default: the QNode device's wires, else ``tape.wires``).
Measurements are ignored; so are ``GlobalPhase``, ``Identity``, ``Barrier`` and
``Snapshot``. Operations outside qjax's gate table are decomposed with
``op.decomposition()`` (recursively); the angles of the pieces must be linear in the
op's trainable parameters, which is verified numerically.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
import pennylane as qml

from qjax.errors import ConversionError
from qjax.ir.circuit import Angle, Circuit, Operation, Param

__all__ = ["ImportedCircuit", "from_pennylane"]

# PennyLane name -> qjax canonical name (None: dropped, it does not change the state up to phase).
_NAMES = {
    "Hadamard": "H", "PauliX": "X", "PauliY": "Y", "PauliZ": "Z", "S": "S", "T": "T",
    "Adjoint(S)": "Sdg", "Adjoint(T)": "Tdg", "SX": "SX", "RX": "RX", "RY": "RY", "RZ": "RZ",
    "PhaseShift": "PhaseShift", "U1": "PhaseShift", "U3": "U3", "CNOT": "CNOT", "CY": "CY",
    "CZ": "CZ", "SWAP": "SWAP", "ISWAP": "iSWAP", "CRX": "CRX", "CRY": "CRY", "CRZ": "CRZ",
    "ControlledPhaseShift": "CPhase", "IsingXX": "RXX", "IsingYY": "RYY", "IsingZZ": "RZZ",
    "Toffoli": "Toffoli", "CSWAP": "CSWAP", "QubitUnitary": "Unitary",
    "Identity": None, "GlobalPhase": None, "Barrier": None, "Snapshot": None,
}  # fmt: skip
_MAX_DEPTH = 16  # decomposition levels; PennyLane's deepest standard chains are far shorter


class ImportedCircuit(NamedTuple):
    """A converted tape: ``circuit`` and its parameter values ``params: (num_params,) float64``."""

    circuit: Circuit
    params: np.ndarray


def _check_unitary_op(op) -> None:
    kind = type(op).__name__
    if "MidMeasure" in kind or op.name.startswith("MidMeasure"):
        raise ConversionError(
            f"mid-circuit measurement {op.name} on wires {op.wires.tolist()}: qjax circuits are "
            "unitary. Remove qml.measure, or defer it (measure at the end of the circuit)"
        )
    if kind == "Conditional" or op.name.startswith("Conditional"):
        raise ConversionError(
            f"classically controlled {op.name} on wires {op.wires.tolist()}: qjax cannot condition "
            "gates on measurement results; replace qml.cond with a quantum-controlled gate"
        )


def _flatten(op, depth: int = 0) -> list:
    """``op`` as a list of PennyLane ops whose names are all in ``_NAMES``."""
    _check_unitary_op(op)
    if op.name in _NAMES:
        return [op]
    if depth >= _MAX_DEPTH or not op.has_decomposition:
        raise ConversionError(
            f"{op.name} on wires {op.wires.tolist()} is not in qjax's gate table and PennyLane "
            "gives no decomposition for it; decompose it yourself or use qml.QubitUnitary"
        )
    return [piece for sub in op.decomposition() for piece in _flatten(sub, depth + 1)]


def _signature(pieces: list) -> list:
    """What must not change when only the trainable angles change: names, wires, fixed matrices."""
    sig = []
    for p in pieces:
        fixed = np.round(np.asarray(qml.matrix(p)), 12).tobytes() if p.name == "QubitUnitary" else None
        sig.append((p.name, tuple(p.wires), len(p.data), fixed))
    return sig


def _angles(pieces: list) -> np.ndarray:
    values = [float(np.real(d)) for p in pieces if p.name != "QubitUnitary" for d in p.data]
    return np.asarray(values, dtype=float)


def _convert_op(op, trainable_slots: list, first_param: int, wire_index: dict) -> list[Operation]:
    """Convert one tape op; ``trainable_slots[k]`` says whether ``op.data[k]`` is trainable.

    The decomposed angles are an affine function ``J v + c`` of the op's trainable
    elements ``v`` (if the decomposition is linear). ``J`` is found from unit steps
    in each element and then checked at a random point, so a non-linear
    decomposition is refused instead of silently linearised.
    """
    data = [np.asarray(qml.math.toarray(d)) for d in op.data]
    sizes = [d.size if t else 0 for d, t in zip(data, trainable_slots)]
    v0 = np.concatenate([d.ravel().astype(float) for d, t in zip(data, trainable_slots) if t] or [np.zeros(0)])

    def build(v):
        new, start = [], 0
        for d, t, n in zip(data, trainable_slots, sizes):
            new.append(v[start : start + n].reshape(d.shape) if t else d)
            start += n
        return _flatten(qml.ops.functions.bind_new_parameters(op, new) if v.size else op)

    not_linear = ConversionError(
        f"the gate angles of {op.name} on wires {op.wires.tolist()} are not linear in its "
        "trainable parameters (or its decomposition changes with them), so qjax cannot keep them "
        "trainable; mark them non-trainable (trainable=[...]) or use linearly parametrised gates"
    )

    def moved(v):
        try:
            pieces = build(v)
        except ConversionError:
            raise
        except Exception:  # PennyLane validates values (e.g. a state's norm) when the op is rebuilt
            raise not_linear from None
        if _signature(pieces) != sig:
            raise not_linear
        return _angles(pieces)

    pieces = build(v0)
    sig = _signature(pieces)
    angles0 = _angles(pieces)
    J = np.zeros((angles0.size, v0.size))
    if v0.size:
        for k in range(v0.size):
            step = v0.copy()
            step[k] += 1.0  # exact for an affine map; rounding only
            J[:, k] = moved(step) - angles0
        probe = v0 + np.random.default_rng(7).uniform(-np.pi, np.pi, v0.size)
        if not np.allclose(moved(probe), angles0 + J @ (probe - v0), atol=1e-8):
            raise not_linear
    # Unit steps recover coefficients such as 1/8 up to rounding; snap it away so that
    # shared angles compare equal and constant offsets of 1e-17 do not appear.
    J = np.where(np.abs(J - np.round(J, 9)) < 1e-12, np.round(J, 9), J)
    offset = angles0 - J @ v0
    offset[np.abs(offset) < 1e-12] = 0.0
    ops: list[Operation] = []
    row = 0
    for p in pieces:
        name = _NAMES[p.name]
        if p.name == "QubitUnitary":
            ops.append(Operation("Unitary", tuple(wire_index[w] for w in p.wires), matrix=qml.matrix(p)))
            continue
        angles: list[Angle] = []
        for _ in p.data:
            a = Angle(offset=float(offset[row]))
            for col in np.flatnonzero(np.abs(J[row]) > 1e-12):
                a = a + float(J[row, col]) * Param(first_param + int(col))
            angles.append(a)
            row += 1
        if name is not None:
            ops.append(Operation(name, tuple(wire_index[w] for w in p.wires), tuple(angles)))
    return ops


def _is_index(w) -> bool:
    return isinstance(w, (int, np.integer)) and not isinstance(w, bool) and bool(w >= 0)


def _wire_index(tape, wire_order, device_wires) -> tuple[dict, int]:
    """Map each wire label of the tape to a qjax wire; also return the number of wires."""
    labels = list(tape.wires)
    if wire_order is None:
        known = labels + list(device_wires or [])
        if all(_is_index(w) for w in known):
            return {w: int(w) for w in labels}, max([int(w) + 1 for w in known] + [1])
        wire_order = list(device_wires) if device_wires else labels
    order = list(wire_order)
    missing = [w for w in labels if w not in order]
    if missing:
        raise ConversionError(f"wires {missing} of the tape are not in wire_order {order}; add them")
    return {w: k for k, w in enumerate(order)}, max(len(order), 1)


def from_pennylane(
    tape_or_qnode,
    *args,
    trainable: str | Sequence[int] | None = None,
    wire_order: Sequence | None = None,
    **kwargs,
) -> ImportedCircuit:
    """Convert a PennyLane ``QuantumScript``/``QuantumTape``, or a QNode called with
    ``*args, **kwargs``, to ``ImportedCircuit(circuit, params)``.

    ``trainable``: None (the tape's ``trainable_params``), ``"all"``, or indices into
    ``tape.get_parameters(trainable_only=False)``. ``wire_order``: wire labels in
    qjax wire order (needed only for non-integer labels; see the module docstring).
    Returns ``params: (circuit.num_params,) float64``.
    """
    device_wires = None
    if isinstance(tape_or_qnode, qml.QNode):
        tape = qml.workflow.construct_tape(tape_or_qnode, level="user")(*args, **kwargs)
        device_wires = getattr(tape_or_qnode.device, "wires", None)
    elif isinstance(tape_or_qnode, qml.tape.QuantumScript):
        if args or kwargs:
            raise ConversionError("arguments are only used with a QNode; a tape already holds its parameters")
        tape = tape_or_qnode
    else:
        raise ConversionError(
            f"from_pennylane expects a QNode or a QuantumScript/QuantumTape, got {type(tape_or_qnode).__name__}"
        )
    wire_index, num_wires = _wire_index(tape, wire_order, device_wires)

    num_data = sum(len(op.data) for op in tape.operations)
    if trainable is None:
        chosen = set(tape.trainable_params)
    elif isinstance(trainable, str) and trainable == "all":
        chosen = set(range(num_data))
    elif isinstance(trainable, str):
        raise ConversionError(f"trainable={trainable!r} is not understood; use None, 'all' or a list of indices")
    else:
        chosen = {int(i) for i in trainable}
        bad = sorted(i for i in chosen if not 0 <= i < num_data)
        if bad:
            raise ConversionError(
                f"trainable indices {bad} are out of range: the tape's gates have {num_data} parameters"
            )

    ops: list = []
    values: list = []
    index = 0
    for op in tape.operations:
        slots = [index + k in chosen for k in range(len(op.data))]
        index += len(op.data)
        if (op.name == "QubitUnitary" or _NAMES.get(op.name, "") is None) and any(slots):
            # A matrix is not an angle, and a dropped op (GlobalPhase) would leave a dead parameter.
            slots = [False] * len(slots)
        first = sum(v.size for v in values)
        ops.extend(_convert_op(op, slots, first, wire_index))
        values.extend(np.asarray(qml.math.toarray(d), dtype=float).ravel() for d, t in zip(op.data, slots) if t)
    params = np.concatenate(values) if values else np.zeros(0)
    circuit = Circuit(num_wires, tuple(ops), num_params=params.size)
    return ImportedCircuit(circuit, params)
