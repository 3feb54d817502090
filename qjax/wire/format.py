"""The wire format of the execution service and its client: evaluation batches as versioned JSON.

A batch (``version: 1``) names a ``target`` backend (and optionally its
``device``), a circuit, its observables, a ``(B, P)`` list of parameter sets,
``shots`` (null = exact where the target allows it), a ``seed`` and a
``mitigation`` setting (a name such as ``"zne"`` or a mapping like the
``mitigation`` config group, e.g. ``{"name": "zne", "zne": {"noise_factors": [1, 3]}}``).

Its ``kind`` is ``"expectations"`` (the default: the observables' values at every
parameter set) or ``"samples"``: ``shots`` measurements of every wire at ONE
parameter set, raw (no observables, no mitigation), taken by a noisy or hardware
target on the device and layout its expectation jobs of the same circuit use.

The circuit is either qjax's IR::

    {"format": "qjax.circuit", "version": 1, "num_wires": 2, "num_params": 1,
     "operations": [{"gate": "RY", "wires": [0], "angles": [{"params": [[0, 1.0]], "const": 0.0}]},
                    {"gate": "CNOT", "wires": [0, 1]}]}

where an angle is a number or ``{"params": [[index, coeff], ...], "const": c}``
(``Unitary`` operations add ``"matrix": [[[re, im], ...], ...]``), or OpenQASM 3::

    {"format": "openqasm3", "source": "OPENQASM 3.0; include \\"stdgates.inc\\"; input float[64] a; ..."}

whose ``input float`` variables are the parameters, ordered by name. An
observable is a list of ``[coeff, "Z0 Z1"]`` pairs (wires named explicitly).

:func:`decode_batch` turns a parsed request into a :class:`Batch` or raises
:class:`RequestError` naming the offending field; :func:`encode_circuit` and
:func:`encode_observable` are what the client (``backend=remote``) sends.
"""

from __future__ import annotations

import functools
import json
import math
import re
from typing import Any, NamedTuple

import numpy as np

from qjax.errors import QjaxError
from qjax.ir.circuit import Angle, Circuit, Operation
from qjax.ir.pauli import PauliSum
from qjax.schemas import MAX_SHOTS

__all__ = [
    "KINDS",
    "Batch",
    "Limits",
    "RequestError",
    "decode_batch",
    "encode_circuit",
    "decode_circuit",
    "encode_observable",
    "decode_observable",
    "every_wire",
    "mitigation_config",
    "WIRE_VERSION",
    "IR_FORMAT",
    "QASM3_FORMAT",
]

WIRE_VERSION = 1
IR_FORMAT, QASM3_FORMAT = "qjax.circuit", "openqasm3"
#: What a batch asks for: expectation values of its observables, or measurement samples of every wire.
KINDS = ("expectations", "samples")


# A refusal quotes at most this much of the request (a 1 MB Pauli word once came back whole).
_MAX_MESSAGE = 500


class RequestError(Exception):
    """A request the service refuses: ``field`` names what is wrong, ``status`` is the HTTP code (4xx)."""

    def __init__(self, field: str, message: str, status: int = 422):
        field, message = str(field)[:100], message if len(message) <= _MAX_MESSAGE else message[:_MAX_MESSAGE] + "…"
        super().__init__(f"{field}: {message}" if field else message)
        self.field, self.message, self.status = field, message, status


class Limits(NamedTuple):
    """What one batch may ask for (the service's settings); each is checked before anything of that size exists.

    ``max_terms`` counts the Pauli terms of all the batch's observables together: the
    simulator's compile time grows faster than linearly in them (measured here at 12
    qubits with random X/Y/Z words: 100 terms 7 s, 1,000 terms 33 s, 5,000 over 8 min).
    ``max_operations`` counts a QASM program's operations after expanding its gate
    definitions and register broadcasts; ``max_qasm_bytes`` bounds its source (Qiskit's
    OpenQASM 3 parser read 300 kB, 20,000 gates, in 7 s here) and
    ``max_qasm_gate_calls`` its calls of gates the converter must decompose (1-4 ms
    each). ``max_nesting`` bounds brackets in JSON bodies and QASM expressions (both
    parsers recurse). ``max_work`` bounds what one job may simulate and
    ``max_state_bytes`` the simulator state one parameter set holds (see
    :func:`qjax.serve.targets.job_work`, :func:`~qjax.serve.targets.state_bytes`): at
    1e11 a job runs about two minutes on 2 CPU cores.
    """

    max_qubits: int = 20
    max_batch: int = 4096
    max_params: int = 10_000
    max_operations: int = 20_000
    max_terms: int = 2_000
    max_observables: int = 64
    max_shots: int = MAX_SHOTS  # per parameter set: a final evaluation sized for backend.final_precision fits
    max_qasm_bytes: int = 256 * 1024
    max_qasm_gate_calls: int = 2_000
    max_nesting: int = 64
    max_work: float = 1e11
    max_state_bytes: int = 4 << 30


class Batch(NamedTuple):
    """A validated evaluation batch: ``params (B, P)`` float64; ``mitigation`` a plain mapping; ``kind`` one of
    :data:`KINDS` (a ``samples`` batch has one parameter set, shots, no mitigation, and as its one observable Z on
    every wire: what its counts are of)."""

    target: str
    device: str | None
    circuit: Circuit
    observables: tuple[PauliSum, ...]
    params: np.ndarray
    shots: int | None
    seed: int | None
    mitigation: dict
    kind: str = "expectations"

    @property
    def requested_shots(self) -> int:
        """Shots the batch asks for before mitigation overheads: ``B · k · shots`` (0 when exact)."""
        return 0 if self.shots is None else int(self.params.shape[0] * len(self.observables) * self.shots)


# --- circuits -------------------------------------------------------------------


def _encode_angle(angle: Angle) -> Any:
    if angle.inputs:
        raise ValueError("the service evaluates parameter sets only: bind data inputs before sending a circuit")
    if not angle.params:
        return float(angle.offset)
    return {"params": [[int(i), float(c)] for i, c in angle.params], "const": float(angle.offset)}


def encode_circuit(circuit: Circuit) -> dict:
    """``circuit`` in the JSON IR (data inputs must be bound)."""
    ops = []
    for op in circuit.operations:
        row: dict[str, Any] = {"gate": op.gate, "wires": list(op.wires)}
        if op.angles:
            row["angles"] = [_encode_angle(a) for a in op.angles]
        if op.matrix is not None:
            row["matrix"] = [[[float(v.real), float(v.imag)] for v in line] for line in op.matrix]
        ops.append(row)
    return {
        "format": IR_FORMAT,
        "version": WIRE_VERSION,
        "num_wires": circuit.num_wires,
        "num_params": circuit.num_params,
        "operations": ops,
    }


def _integer(value: Any, field: str, lo: int, hi: int) -> int:
    if isinstance(value, float) and value.is_integer():  # JSON (Schema) makes no difference between 2 and 2.0
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(field, f"must be an integer, got {_kind(value)}")
    if not lo <= value <= hi:
        raise RequestError(field, f"must be between {lo} and {hi}, got {value}")
    return value


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(field, f"must be a number, got {_kind(value)}")
    if not math.isfinite(value):
        raise RequestError(field, "must be a finite number")
    return float(value)


def _list(value: Any, field: str, max_length: int, min_length: int = 0) -> list:
    if not isinstance(value, list):
        raise RequestError(field, f"must be a list, got {_kind(value)}")
    if not min_length <= len(value) <= max_length:
        raise RequestError(
            field,
            f"must have between {min_length} and {max_length} entries, got {len(value)}",
            413 if len(value) > max_length else 422,
        )
    return value


def _mapping(value: Any, field: str) -> dict:
    if not isinstance(value, dict):
        raise RequestError(field, f"must be an object, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _decode_angle(value: Any, field: str, max_params: int) -> Angle:
    if not isinstance(value, dict):
        return Angle.of(_number(value, field))
    unknown = set(value) - {"params", "const"}
    if unknown:
        raise RequestError(f"{field}.{sorted(unknown)[0]}", "unknown key (an angle has params and const)")
    terms = []
    for j, pair in enumerate(_list(value.get("params", []), f"{field}.params", 64)):
        if not isinstance(pair, list) or len(pair) != 2:
            raise RequestError(f"{field}.params[{j}]", "must be an [index, coeff] pair")
        terms.append(
            (
                _integer(pair[0], f"{field}.params[{j}][0]", 0, max_params - 1),
                _number(pair[1], f"{field}.params[{j}][1]"),
            )
        )
    try:
        return Angle(tuple(terms), (), _number(value.get("const", 0.0), f"{field}.const"))
    except QjaxError as exc:
        raise RequestError(field, str(exc)) from None


def decode_circuit(doc: Any, limits: Limits = Limits(), field: str = "circuit") -> Circuit:
    """A :class:`Circuit` from the JSON IR or OpenQASM 3 form; :class:`RequestError` names the bad field."""
    doc = _mapping(doc, field)
    fmt = doc.get("format")
    if fmt == QASM3_FORMAT:
        return _decode_qasm(doc, limits, field)
    if fmt != IR_FORMAT:
        raise RequestError(f"{field}.format", f"must be {IR_FORMAT!r} or {QASM3_FORMAT!r}, got {fmt!r}")
    unknown = set(doc) - {"format", "version", "num_wires", "num_params", "operations"}
    if unknown:
        raise RequestError(f"{field}.{sorted(unknown)[0]}", "unknown key of a qjax.circuit document")
    if doc.get("version", WIRE_VERSION) != WIRE_VERSION:
        raise RequestError(f"{field}.version", f"this service reads version {WIRE_VERSION}, got {doc.get('version')!r}")
    n = _integer(doc.get("num_wires"), f"{field}.num_wires", 1, 2**63)
    if n > limits.max_qubits:
        raise RequestError(f"{field}.num_wires", f"{n} qubits exceed this service's limit of {limits.max_qubits}")
    num_params = doc.get("num_params")
    if num_params is not None:
        num_params = _integer(num_params, f"{field}.num_params", 0, limits.max_params)
    ops = []
    for k, row in enumerate(_list(doc.get("operations"), f"{field}.operations", limits.max_operations)):
        where = f"{field}.operations[{k}]"
        row = _mapping(row, where)
        unknown = set(row) - {"gate", "wires", "angles", "matrix"}
        if unknown:
            raise RequestError(
                f"{where}.{sorted(unknown)[0]}", "unknown key (an operation has gate, wires, angles, matrix)"
            )
        gate = row.get("gate")
        if not isinstance(gate, str):
            raise RequestError(f"{where}.gate", f"must be a gate name, got {_kind(gate)}")
        wires = [
            _integer(w, f"{where}.wires[{j}]", 0, n - 1)
            for j, w in enumerate(_list(row.get("wires"), f"{where}.wires", 8, 1))
        ]
        angles = [
            _decode_angle(a, f"{where}.angles[{j}]", limits.max_params)
            for j, a in enumerate(_list(row.get("angles", []), f"{where}.angles", 8))
        ]
        matrix = None
        if "matrix" in row:
            matrix = _decode_matrix(row["matrix"], f"{where}.matrix")
        try:
            ops.append(Operation(gate, tuple(wires), tuple(angles), matrix))
        except QjaxError as exc:
            raise RequestError(where, str(exc)) from None
    try:
        return Circuit(n, tuple(ops), num_params=num_params)
    except QjaxError as exc:
        raise RequestError(field, str(exc)) from None


def _decode_matrix(value: Any, field: str) -> np.ndarray:
    rows = _list(value, field, 16, 2)
    out = np.zeros((len(rows), len(rows)), dtype=np.complex128)
    for i, row in enumerate(rows):
        for j, entry in enumerate(_list(row, f"{field}[{i}]", len(rows), len(rows))):
            if not isinstance(entry, list) or len(entry) != 2:
                raise RequestError(f"{field}[{i}][{j}]", "must be a [re, im] pair")
            out[i, j] = complex(_number(entry[0], f"{field}[{i}][{j}][0]"), _number(entry[1], f"{field}[{i}][{j}][1]"))
    return out


def _decode_qasm(doc: dict, limits: Limits, field: str) -> Circuit:
    source = doc.get("source")
    if not isinstance(source, str) or not source.strip():
        raise RequestError(f"{field}.source", "must be a non-empty OpenQASM 2 or 3 program")
    unknown = set(doc) - {"format", "version", "source"}
    if unknown:
        raise RequestError(
            f"{field}.{sorted(unknown)[0]}", "unknown key (an openqasm3 circuit has format, version and source)"
        )
    if len(source) > limits.max_qasm_bytes:
        raise RequestError(
            f"{field}.source",
            f"has {len(source):,} characters; this service reads OpenQASM programs "
            f"of up to {limits.max_qasm_bytes:,}; send large circuits in the {IR_FORMAT} format",
            413,
        )
    return _parse_qasm(source, limits, field)


# A job's program is read when it is accepted and again by the worker; a circuit of 20,000 operations holds about
# 10 MB, so only the last few are kept.
@functools.lru_cache(maxsize=8)
def _parse_qasm(source: str, limits: Limits, field: str) -> Circuit:
    from qjax.interop.qiskit import from_qasm
    from qjax.wire.qasm import QasmRefused, bound_program

    try:
        bound_program(
            source,
            max_qubits=limits.max_qubits,
            max_operations=limits.max_operations,
            max_gate_calls=limits.max_qasm_gate_calls,
            max_params=limits.max_params,
            max_nesting=limits.max_nesting,
        )
    except QasmRefused as exc:
        raise RequestError(f"{field}.source", exc.message, exc.status) from None
    try:
        circuit = from_qasm(source, allow_includes=False)
    except QjaxError as exc:
        raise RequestError(f"{field}.source", _parser_message(str(exc))) from None
    except Exception as exc:  # noqa: BLE001 - the QASM parser's own errors: name them, no traceback
        raise RequestError(
            f"{field}.source", f"is not valid OpenQASM ({_parser_message(str(exc), type(exc))})"
        ) from None
    if len(circuit.operations) > limits.max_operations:  # bound_program's count is an upper bound: cannot happen
        raise RequestError(
            f"{field}.source",
            f"expands to {len(circuit.operations):,} operations; this service's limit is {limits.max_operations:,}",
            413,
        )
    return circuit


# Where a parser message points: Qiskit's OpenQASM 2 parser writes "<input>:line,col:" for the request itself and
# "<file>:line,col:" for an included file; OpenQASM 3's writes "line,col:". Only the request's own text is echoed.
_PARSER_PLACE = re.compile(r"^(?:cannot parse OpenQASM \d: )?[\"']?(?P<place>[^\s:\"']*?):?\d+,\d+:")


def _parser_message(message: str, kind: type | None = None) -> str:
    """The first line of a parser's message, unless it comes from anything but the request's own text."""
    first = message.strip().splitlines()[0][:300] if message.strip() else ""
    where = _PARSER_PLACE.match(first)
    if not first or (where is not None and where.group("place") not in ("", "<input>")):
        return f"the parser refused it ({kind.__name__ if kind else 'error'} outside the program's own text)"
    return first


# --- observables ------------------------------------------------------------------

# "X12 " is 4 characters a wire; 16 leaves room for identities and spacing, and bounds the parser's input.
_WORD_CHARS_PER_QUBIT = 16


def encode_observable(obs: PauliSum) -> list:
    """``obs`` as ``[[coeff, "X0 Z2"], ...]`` (the empty word is the identity; the zero sum is ``[[0.0, ""]]``,
    since a batch's observable needs a term). The wire carries terms only: an observable acts on the circuit's
    wires."""
    return [[float(c), " ".join(f"{p}{w}" for w, p in word)] for c, word in obs.terms] or [[0.0, ""]]


def decode_observable(value: Any, field: str, num_wires: int, limits: Limits = Limits()) -> PauliSum:
    """A :class:`PauliSum` from ``[[coeff, "Z0 Z1"], ...]`` on at most ``num_wires`` wires (:class:`RequestError`)."""
    terms = []
    longest = _WORD_CHARS_PER_QUBIT * max(num_wires, 1) + 32
    for j, pair in enumerate(_list(value, field, limits.max_terms, 1)):
        if not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[1], str):
            raise RequestError(f"{field}[{j}]", 'must be a [coeff, "Z0 Z1"] pair')
        if len(pair[1]) > longest:
            raise RequestError(
                f"{field}[{j}][1]",
                f"is a Pauli word of {len(pair[1]):,} characters; on {num_wires} wires it needs at most {longest}",
            )
        terms.append((_number(pair[0], f"{field}[{j}][0]"), pair[1]))
    try:
        obs = PauliSum(terms)
    except QjaxError as exc:
        raise RequestError(field, str(exc)) from None
    if obs.num_wires > num_wires:
        raise RequestError(field, f"acts on wire {obs.num_wires - 1} but the circuit has {num_wires} wires")
    return obs


# --- batches ----------------------------------------------------------------------


def mitigation_config(mitigation: dict):
    """The validated ``MitigationConfig`` of a request's ``mitigation`` mapping (cached: every step sends the same)."""
    return _mitigation_config(json.dumps(mitigation, sort_keys=True))


@functools.lru_cache(maxsize=256)
def _mitigation_config(text: str):
    from qjax.config import group_config

    return group_config("mitigation", json.loads(text))


def _decode_observables(value: Any, num_wires: int, limits: Limits) -> tuple[PauliSum, ...]:
    """The batch's observables; their terms together within ``limits.max_terms``."""
    entries = _list(value, "observables", limits.max_observables, 1)
    budget, out = limits.max_terms, []
    for j, entry in enumerate(entries):
        if isinstance(entry, list) and len(entry) > budget:
            raise RequestError(
                f"observables[{j}]",
                f"brings the batch's Pauli terms past {limits.max_terms:,}, this "
                "service's limit for all observables together; send fewer or shorter observables",
                413,
            )
        out.append(decode_observable(entry, f"observables[{j}]", num_wires, limits))
        budget -= len(entry)
    return tuple(out)


# The largest mitigation setting (as JSON) a batch may carry; validated ones are cached, so they stay small.
_MAX_MITIGATION_CHARS = 4096
_BATCH_KEYS = {"version", "kind", "target", "device", "circuit", "observables", "params", "shots", "seed", "mitigation"}


def every_wire(num_wires: int) -> PauliSum:
    """Z on every wire: the observable of a ``samples`` batch (its counts are of every wire's measurement)."""
    return PauliSum([(1.0, ((w, "Z"),)) for w in range(num_wires)], num_wires)


def decode_batch(doc: Any, targets: tuple[str, ...], limits: Limits = Limits()) -> Batch:
    """Validate a parsed request body against ``targets`` and ``limits``; :class:`RequestError` when refused."""
    doc = _mapping(doc, "body")
    unknown = set(doc) - _BATCH_KEYS
    if unknown:
        raise RequestError(sorted(unknown)[0], f"unknown key; a batch has {', '.join(sorted(_BATCH_KEYS))}")
    if doc.get("version", WIRE_VERSION) != WIRE_VERSION:
        raise RequestError("version", f"this service reads version {WIRE_VERSION}, got {doc.get('version')!r}")
    kind = doc.get("kind", "expectations")
    if kind not in KINDS:
        raise RequestError("kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    target = doc.get("target")
    if target not in targets:
        raise RequestError("target", f"must be one of {', '.join(targets)} (this service's backends), got {target!r}")
    device = doc.get("device")
    if device is not None and (not isinstance(device, str) or not 0 < len(device) <= 100):
        raise RequestError("device", f"must be a device name or null, got {_kind(device)}")
    if "circuit" not in doc:
        raise RequestError("circuit", "is missing")
    circuit = decode_circuit(doc["circuit"], limits)
    if circuit.num_inputs:
        raise RequestError("circuit", "has data inputs; bind them (the service evaluates parameter sets)")
    if circuit.num_wires > limits.max_qubits:
        raise RequestError(
            "circuit.num_wires", f"{circuit.num_wires} qubits exceed this service's limit of {limits.max_qubits}"
        )
    if kind == "samples":
        if "observables" in doc:
            raise RequestError("observables", "a samples batch measures every wire; leave observables out")
        observables: tuple[PauliSum, ...] = (every_wire(circuit.num_wires),)
    else:
        observables = _decode_observables(doc.get("observables"), circuit.num_wires, limits)
    rows = _list(doc.get("params"), "params", limits.max_batch, 1)
    if kind == "samples" and len(rows) != 1:
        raise RequestError("params", f"a samples batch takes one parameter set, got {len(rows)}")
    values = []  # checked row by row, so memory follows what was sent, not B × P
    for b, row in enumerate(rows):
        row = _list(row, f"params[{b}]", limits.max_params)
        if len(row) != circuit.num_params:
            raise RequestError(
                f"params[{b}]", f"has {len(row)} values but the circuit has {circuit.num_params} parameters"
            )
        values.append([_number(v, f"params[{b}][{j}]") for j, v in enumerate(row)])
    params = np.array(values, dtype=float).reshape(len(rows), circuit.num_params)
    shots = doc.get("shots")
    if shots is not None:
        shots = _integer(shots, "shots", 1, limits.max_shots)
    elif kind == "samples":
        raise RequestError("shots", f"a samples batch needs shots: an integer between 1 and {limits.max_shots}")
    seed = doc.get("seed")
    if seed is not None:
        seed = _integer(seed, "seed", 0, 2**32 - 1)
    mitigation = doc.get("mitigation", "none")
    if isinstance(mitigation, str):
        mitigation = {"name": mitigation}
    mitigation = _mapping(mitigation, "mitigation")
    size = len(json.dumps(mitigation))
    if size > _MAX_MITIGATION_CHARS:  # valid settings are small; a long list of noise factors is not
        raise RequestError(
            "mitigation", f"is {size:,} characters of JSON; a mitigation setting fits in {_MAX_MITIGATION_CHARS:,}", 413
        )
    try:
        mitigation_config(mitigation)
    except QjaxError as exc:
        raise RequestError("mitigation", str(exc)) from None
    except TypeError:  # not JSON-able after all: cannot happen for a parsed body
        raise RequestError("mitigation", "must be a JSON object") from None
    if kind == "samples" and mitigation.get("name", "none") != "none":
        raise RequestError("mitigation", "samples are raw measurements; send mitigation none (or leave it out)")
    return Batch(target, device, circuit, observables, params, shots, seed, mitigation, kind)
