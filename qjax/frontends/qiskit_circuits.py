"""A PUB's ``QuantumCircuit`` as the qjax primitives run it: converted once, keyed by its content.

:func:`prepare` turns a Qiskit circuit into a :class:`PreparedCircuit`: the qjax
:class:`~qjax.ir.circuit.Circuit` (Qiskit qubit k = wire k, via
:func:`qjax.interop.qiskit.from_qiskit`), the map from a PUB's parameter values to
that circuit's parameters, and where each classical bit's final measurement comes
from. qjax angles are linear in the parameters; an angle that is not (a feature
map's ``2*(pi - x0)*(pi - x1)``) becomes a parameter of its own whose value
Qiskit computes for every parameter set, so any bound-able circuit runs.

:func:`circuit_key` is a hashable fingerprint of a circuit's content (gates,
qubits, clbits, parameter expressions, custom gates' definitions): Qiskit circuits
are mutable, so the primitives cache by content, never by object identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter, ParameterExpression
from qiskit.circuit.library.standard_gates import get_standard_gate_name_mapping

from qjax.interop.qiskit import from_qiskit
from qjax.ir.circuit import Circuit

__all__ = ["CircuitKey", "PreparedCircuit", "circuit_key", "prepare", "final_measurements"]

_STANDARD = frozenset(get_standard_gate_name_mapping())
_NOT_GATES = frozenset({"measure", "barrier", "delay", "reset", "global_phase"})


def _param_key(value: Any) -> Any:
    if isinstance(value, ParameterExpression):
        # Parameters with equal names are distinct objects; their uuids tell them apart.
        symbols = tuple(sorted((p.name, str(getattr(p, "uuid", ""))) for p in value.parameters))
        return ("expr", str(value), symbols)
    if isinstance(value, np.ndarray):  # UnitaryGate's matrix
        return ("array", value.shape, value.tobytes())
    if isinstance(value, QuantumCircuit):  # control-flow bodies
        return circuit_key(value).content
    try:
        hash(value)
    except TypeError:
        return ("repr", repr(value))
    return value


class CircuitKey:
    """A circuit's content as a nested tuple, with its hash computed once (caches look it up often)."""

    __slots__ = ("content", "_hash")

    def __init__(self, content: tuple):
        self.content = content
        self._hash = hash(content)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other) -> bool:
        return isinstance(other, CircuitKey) and self._hash == other._hash and self.content == other.content


def circuit_key(qc: QuantumCircuit) -> CircuitKey:
    """A hashable fingerprint of ``qc``'s content; equal for circuits that simulate the same way.

    Custom (non-standard) gates contribute their definitions, so two different gates that
    share a name get different keys.
    """
    rows = []
    for inst in qc.data:
        op = inst.operation
        definition = None
        if op.name not in _STANDARD and op.name not in _NOT_GATES and getattr(op, "definition", None) is not None:
            definition = circuit_key(op.definition).content
        rows.append(
            (
                op.name,
                tuple(qc.find_bit(q).index for q in inst.qubits),
                tuple(qc.find_bit(c).index for c in inst.clbits),
                tuple(_param_key(p) for p in op.params),
                definition,
            )
        )
    cregs = tuple((r.name, tuple(qc.find_bit(c).index for c in r)) for r in qc.cregs)
    params = tuple(_param_key(p) for p in qc.parameters)
    return CircuitKey((qc.num_qubits, qc.num_clbits, cregs, params, tuple(rows)))


def _is_affine(value: Any) -> bool:
    if not isinstance(value, ParameterExpression) or not value.parameters:
        return True
    for p in value.parameters:
        g = value.gradient(p)
        if isinstance(g, ParameterExpression) and g.parameters:
            return False
    return True


def _has_nonlinear(qc: QuantumCircuit) -> bool:
    for inst in qc.data:
        op = inst.operation
        if not all(_is_affine(p) for p in op.params):
            return True
        if op.name not in _STANDARD and op.name not in _NOT_GATES and getattr(op, "definition", None) is not None:
            if _has_nonlinear(op.definition):
                return True
    return False


def _flatten(qc: QuantumCircuit) -> QuantumCircuit:
    """``qc`` with every non-standard composite gate replaced by its definition (recursively)."""
    while True:
        composite = {
            inst.operation.name
            for inst in qc.data
            if inst.operation.name not in _STANDARD
            and inst.operation.name not in _NOT_GATES
            and getattr(inst.operation, "definition", None) is not None
        }
        if not composite:
            return qc
        qc = qc.decompose(gates_to_decompose=sorted(composite))


def _linearize(qc: QuantumCircuit) -> tuple[QuantumCircuit, tuple[Parameter, ...], tuple[ParameterExpression, ...]]:
    """``qc`` with each non-linear angle replaced by a fresh Parameter; those Parameters and their expressions."""
    flat = _flatten(qc)
    out = flat.copy_empty_like()
    found: dict[str, tuple[Parameter, ParameterExpression]] = {}
    for inst in flat.data:
        op = inst.operation
        if not all(_is_affine(p) for p in op.params):
            new_params = []
            for p in op.params:
                if _is_affine(p):
                    new_params.append(p)
                    continue
                key = str(p) + repr(sorted(str(getattr(s, "uuid", s.name)) for s in p.parameters))
                if key not in found:
                    found[key] = (Parameter(f"_qjax_nonlinear_{len(found)}"), p)
                new_params.append(found[key][0])
            op = op.to_mutable() if hasattr(op, "to_mutable") else op.copy()
            op.params = new_params
        out.append(op, inst.qubits, inst.clbits, copy=False)
    aux = tuple(found.values())
    return out, tuple(a for a, _ in aux), tuple(e for _, e in aux)


@dataclass(frozen=True, eq=False)
class PreparedCircuit:
    """A Qiskit circuit converted for the primitives.

    Fields: ``circuit`` (the qjax Circuit; its Param(i) are the columns of
    :meth:`parameter_matrix`), ``parameters`` (the Qiskit circuit's parameters in
    ``qc.parameters`` order: the columns of a PUB's ``BindingsArray.as_array``),
    ``columns`` (for each qjax parameter, its column in ``[values, nonlinear values]``),
    ``expressions`` (the non-linear angles, evaluated per parameter set), ``key``
    (:func:`circuit_key` of the Qiskit circuit), ``names`` (the parameters' names, as
    a ``BindingsArray`` keys them).
    """

    circuit: Circuit
    parameters: tuple[Parameter, ...]
    columns: tuple[int, ...]
    expressions: tuple[ParameterExpression, ...]
    key: CircuitKey
    names: tuple[str, ...]

    def parameter_matrix(self, values: np.ndarray) -> np.ndarray:
        """``values: (..., len(parameters))`` → ``(B, circuit.num_params)`` float64 (B = prod(...)), the qjax
        parameters."""
        values = np.asarray(values, dtype=np.float64)
        values = values.reshape(int(np.prod(values.shape[:-1])), len(self.parameters))
        if self.expressions:
            extra = np.empty((values.shape[0], len(self.expressions)))
            for b, row in enumerate(values):
                binding = dict(zip(self.parameters, row.tolist()))
                for j, expr in enumerate(self.expressions):
                    extra[b, j] = np.real(complex(expr.bind_all(binding)))
            values = np.concatenate([values, extra], axis=1)
        return values[:, list(self.columns)]


def prepare(qc: QuantumCircuit, key: CircuitKey | None = None) -> PreparedCircuit:
    """Convert ``qc`` (final measurements are dropped; mid-circuit ones raise ``ConversionError``)."""
    key = circuit_key(qc) if key is None else key
    parameters = tuple(qc.parameters)
    aux: tuple[Parameter, ...] = ()
    expressions: tuple[ParameterExpression, ...] = ()
    linear = qc
    if _has_nonlinear(qc):
        linear, aux, expressions = _linearize(qc)
    position = {p: i for i, p in enumerate(parameters)}
    position.update({a: len(parameters) + j for j, a in enumerate(aux)})
    columns = tuple(position[p] for p in linear.parameters)
    names = tuple(p.name for p in parameters)
    return PreparedCircuit(from_qiskit(linear), parameters, columns, expressions, key, names)


def final_measurements(qc: QuantumCircuit) -> dict[str, list[int | None]]:
    """For each classical register (by name), the qubit whose final measurement each of its bits holds.

    ``None`` for a bit no final measurement writes (it reads 0). Follows Qiskit's
    ``StatevectorSampler``: scanning backwards, a measurement is final when no later
    operation (but barriers and delays) touches its qubit or overwrites its clbit.
    """
    active_qubits, active_clbits = set(range(qc.num_qubits)), set(range(qc.num_clbits))
    source: dict[int, int] = {}
    for inst in reversed(qc.data):
        name = inst.operation.name
        if name == "measure":
            c, q = qc.find_bit(inst.clbits[0]).index, qc.find_bit(inst.qubits[0]).index
            if c in active_clbits and q in active_qubits:
                source[c] = q
            active_clbits.discard(c)
        elif name not in ("barrier", "delay"):
            active_qubits -= {qc.find_bit(q).index for q in inst.qubits}
        if not active_clbits or not active_qubits:
            break
    return {r.name: [source.get(qc.find_bit(c).index) for c in r] for r in qc.cregs}
