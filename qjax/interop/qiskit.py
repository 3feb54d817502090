"""Convert between qjax circuits and Qiskit ``QuantumCircuit`` s (hence OpenQASM 2 and 3).

Qubit order: Qiskit qubit ``k`` is qjax wire ``k``. Within a gate, Qiskit's
argument order is kept (``cx(c, t)`` becomes ``CNOT`` on wires ``(c, t)``), so
multi-qubit gates need no reordering; only ``UnitaryGate`` matrices, which Qiskit
writes little-endian, are permuted. For a Qiskit circuit ``qc`` the qjax state of
``from_qiskit(qc)`` equals ``Statevector(qc).reverse_qargs().data``.

Parameters: every Qiskit ``Parameter`` becomes a trainable parameter, numbered in
the order of ``qc.parameters`` (Qiskit sorts them by name, ``ParameterVector``
elements by index), unless it is named as a data input. Gate angles may be any
expression linear in the parameters (``2*a + 0.5``, ``a - b``); the linear map is
kept exactly, so shared parameters stay shared.

What is dropped: the circuit's global phase (qjax states are defined up to it),
barriers, delays and final measurements. Gates outside qjax's table are
decomposed by ``qiskit.transpile`` into table gates (global phase dropped too).
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np
from qiskit import QuantumCircuit, qasm2, qasm3, transpile
from qiskit.circuit import (
    ControlFlowOp,
    Gate,
    Parameter,
    ParameterExpression,
    ParameterVector,
)
from qiskit.circuit import library as lib
from qiskit.quantum_info import Operator

from qjax.errors import ConversionError, ParameterShapeError
from qjax.ir.circuit import Angle, Circuit, Input, Operation, Param

__all__ = ["from_qiskit", "from_qasm", "qasm_version", "to_qiskit", "to_qasm"]

# qjax canonical name -> Qiskit gate class (constructor takes the angles in qjax order).
_TO_QISKIT = {
    "I": lib.IGate, "H": lib.HGate, "X": lib.XGate, "Y": lib.YGate, "Z": lib.ZGate,
    "S": lib.SGate, "Sdg": lib.SdgGate, "T": lib.TGate, "Tdg": lib.TdgGate, "SX": lib.SXGate,
    "RX": lib.RXGate, "RY": lib.RYGate, "RZ": lib.RZGate, "PhaseShift": lib.PhaseGate,
    "U3": lib.UGate, "CNOT": lib.CXGate, "CY": lib.CYGate, "CZ": lib.CZGate,
    "SWAP": lib.SwapGate, "iSWAP": lib.iSwapGate, "CRX": lib.CRXGate, "CRY": lib.CRYGate,
    "CRZ": lib.CRZGate, "CPhase": lib.CPhaseGate, "RXX": lib.RXXGate, "RYY": lib.RYYGate,
    "RZZ": lib.RZZGate, "Toffoli": lib.CCXGate, "CSWAP": lib.CSwapGate,
}  # fmt: skip

# Qiskit gate name -> (Qiskit class, qjax name). Matching class *and* name rejects
# open-controlled variants (``cx_o0`` is a CXGate) that the table does not hold.
_FROM_QISKIT = {
    "id": (lib.IGate, "I"), "h": (lib.HGate, "H"), "x": (lib.XGate, "X"),
    "y": (lib.YGate, "Y"), "z": (lib.ZGate, "Z"), "s": (lib.SGate, "S"),
    "sdg": (lib.SdgGate, "Sdg"), "t": (lib.TGate, "T"), "tdg": (lib.TdgGate, "Tdg"),
    "sx": (lib.SXGate, "SX"), "rx": (lib.RXGate, "RX"), "ry": (lib.RYGate, "RY"),
    "rz": (lib.RZGate, "RZ"), "p": (lib.PhaseGate, "PhaseShift"),
    "u1": (lib.U1Gate, "PhaseShift"), "u": (lib.UGate, "U3"), "u3": (lib.U3Gate, "U3"),
    "cx": (lib.CXGate, "CNOT"), "cy": (lib.CYGate, "CY"), "cz": (lib.CZGate, "CZ"),
    "swap": (lib.SwapGate, "SWAP"), "iswap": (lib.iSwapGate, "iSWAP"),
    "crx": (lib.CRXGate, "CRX"), "cry": (lib.CRYGate, "CRY"), "crz": (lib.CRZGate, "CRZ"),
    "cp": (lib.CPhaseGate, "CPhase"), "cu1": (lib.CU1Gate, "CPhase"),
    "rxx": (lib.RXXGate, "RXX"), "ryy": (lib.RYYGate, "RYY"), "rzz": (lib.RZZGate, "RZZ"),
    "ccx": (lib.CCXGate, "Toffoli"), "cswap": (lib.CSwapGate, "CSWAP"),
}  # fmt: skip
_BASIS = sorted({"id", "h", "x", "y", "z", "s", "sdg", "t", "tdg", "sx", "rx", "ry", "rz", "p",
                 "u", "cx", "cy", "cz", "swap", "iswap", "crx", "cry", "crz", "cp", "rxx",
                 "ryy", "rzz", "ccx", "cswap"})  # fmt: skip
_IGNORED = {"barrier", "delay", "global_phase"}


def _reverse_qubit_order(matrix: np.ndarray) -> np.ndarray:
    """Permute a ``(2**k, 2**k)`` gate matrix between little- and big-endian qubit order."""
    k = int(np.log2(matrix.shape[0]))
    perm = list(range(k))[::-1]
    tensor = np.asarray(matrix).reshape([2] * (2 * k))
    return tensor.transpose(perm + [k + p for p in perm]).reshape(matrix.shape)


# -- Qiskit -> qjax ------------------------------------------------------------------


def _real(value, what: str) -> float:
    value = complex(value)
    if abs(value.imag) > 1e-12:
        raise ConversionError(f"{what} is complex ({value}); gate angles must be real")
    return value.real


def _angle(value, index_of: dict, instruction: str) -> Angle:
    """A Qiskit gate parameter (number or linear ParameterExpression) as an Angle."""
    if not isinstance(value, ParameterExpression):
        return Angle(offset=_real(value, f"angle of {instruction}"))
    if not value.parameters:
        return Angle(offset=_real(value.numeric(), f"angle of {instruction}"))
    angle = Angle()
    for p in value.parameters:
        # A constant gradient in every parameter means the expression is affine.
        g = value.gradient(p)
        if isinstance(g, ParameterExpression):
            if g.parameters:
                raise ConversionError(
                    f"{instruction}: angle {value} is not linear in its parameters; qjax angles "
                    "are linear maps of parameters. Rewrite it as a linear expression or bind "
                    "those parameters (qc.assign_parameters) before converting"
                )
            g = g.numeric()
        angle = angle + _real(g, f"coefficient of {p} in {value}") * index_of[p]
    offset = value.bind({p: 0.0 for p in value.parameters}).numeric()
    return angle + _real(offset, f"constant part of {value}")


def _table_equivalent(op: Gate) -> str | None:
    """The qjax name of ``op`` if it is a table gate, else None.

    Standard Qiskit classes match directly. A custom gate that merely carries a
    standard name (OpenQASM 3 exports ``rzz``/``iswap`` as ``gate`` definitions) is
    accepted only if its definition equals the standard gate at random angles.
    """
    if op.name not in _FROM_QISKIT:
        return None
    cls, name = _FROM_QISKIT[op.name]
    if isinstance(op, cls):  # standard gates are singleton subclasses of their class
        return name
    try:
        standard_qubits = cls(*op.params).num_qubits
    except (TypeError, ValueError):  # a different number or kind of arguments than the standard gate
        return None
    if op.definition is None or op.num_qubits != standard_qubits:
        return None
    rng = np.random.default_rng(1234)
    symbols = {p for v in op.params if isinstance(v, ParameterExpression) for p in v.parameters}
    binding = {p: float(rng.uniform(-np.pi, np.pi)) for p in symbols}
    values = [v.bind(binding).numeric() if isinstance(v, ParameterExpression) and v.parameters
              else v for v in op.params]  # fmt: skip
    if any(isinstance(v, complex) for v in values):
        return None
    definition = op.definition.assign_parameters(
        {p: binding[p] for p in op.definition.parameters if p in binding}, inplace=False
    )
    if definition.parameters:
        return None
    ok = Operator(definition).equiv(Operator(cls(*[float(np.real(v)) for v in values])))
    return name if ok else None


def _final_measurements(qc: QuantumCircuit) -> set[int]:
    """Indices into ``qc.data`` of measurements with no later gate on their qubit."""
    touched: set = set()
    final: set[int] = set()
    for k in range(len(qc.data) - 1, -1, -1):
        inst = qc.data[k]
        qubits = {qc.find_bit(q).index for q in inst.qubits}
        if inst.operation.name == "measure":
            if not qubits & touched:
                final.add(k)
        elif inst.operation.name not in _IGNORED:
            touched |= qubits
    return final


def _convert_into(
    qc: QuantumCircuit, wires: list[int], index_of: dict, out: list, final: set, transpiled: bool = False
) -> None:
    """Append the qjax operations of ``qc`` (acting on ``wires``) to ``out``.

    ``final`` holds the indices of measurements to drop; ``transpiled`` marks a
    circuit already in the table basis (so decomposition cannot recurse forever).
    """
    for k, inst in enumerate(qc.data):
        op = inst.operation
        qubits = tuple(wires[qc.find_bit(q).index] for q in inst.qubits)
        where = f"'{op.name}' on qubits {list(qubits)} (instruction {k})"
        if op.name in _IGNORED:
            continue
        if op.name == "measure":
            if k in final:
                continue
            raise ConversionError(
                f"mid-circuit measurement {where}: qjax circuits are unitary. Move "
                "measurements to the end of the circuit (or drop them)"
            )
        if op.name == "reset":
            raise ConversionError(f"reset {where}: qjax circuits are unitary and start in |0...0>; remove it")
        if isinstance(op, ControlFlowOp) or getattr(op, "condition", None) is not None:
            raise ConversionError(
                f"classically controlled operation {where}: qjax cannot condition gates on "
                "measurement results. Remove the control flow or use the deferred-measurement "
                "principle (replace the classical control with a quantum-controlled gate)"
            )
        if op.name == "unitary" and isinstance(op, lib.UnitaryGate):
            out.append(Operation("Unitary", qubits, matrix=_reverse_qubit_order(op.to_matrix())))
            continue
        if isinstance(op, Gate):
            name = _table_equivalent(op)
            if name is not None:
                angles = tuple(_angle(v, index_of, where) for v in op.params)
                out.append(Operation(name, qubits, angles))
                continue
            if transpiled:
                raise ConversionError(f"{where} is outside qjax's gate table even after transpiling")
            sub = QuantumCircuit(op.num_qubits)
            sub.append(op, range(op.num_qubits))
            try:
                sub = transpile(sub, basis_gates=_BASIS, optimization_level=0)
            except Exception as err:  # Qiskit raises several types for undecomposable gates
                raise ConversionError(
                    f"cannot decompose {where} into qjax gates ({err}); give it a definition "
                    "or pass its matrix as a UnitaryGate"
                ) from None
            _convert_into(sub, list(qubits), index_of, out, set(), transpiled=True)
            continue
        if op.definition is not None and not inst.clbits:
            _convert_into(op.definition, list(qubits), index_of, out, set())
            continue
        raise ConversionError(f"{where} is not a unitary gate qjax can convert; remove it or replace it with gates")


def _input_indices(qc: QuantumCircuit, inputs) -> dict:
    """Map each data-input Parameter of ``qc`` to its feature index."""
    if inputs is None:
        return {}
    if isinstance(inputs, str):
        # ParameterVector elements x[j], and x_j / _x_j_ as written by OpenQASM 3 export.
        pattern = re.compile(rf"_?{re.escape(inputs)}_(\d+)_?")
        found = {}
        for p in qc.parameters:
            vector = getattr(p, "vector", None)
            if vector is not None and vector.name == inputs:
                found[p] = p.index
            elif (m := pattern.fullmatch(p.name)) is not None:
                found[p] = int(m.group(1))
        return found
    return {p: j for j, p in enumerate(inputs)}


def from_qiskit(qc: QuantumCircuit, *, inputs: str | Sequence[Parameter] | None = None) -> Circuit:
    """Convert a Qiskit circuit to a qjax :class:`Circuit` on ``qc.num_qubits`` wires.

    ``inputs`` names the Parameters that are data features ``x`` rather than
    trainable parameters: a sequence (``x[j]`` is its j-th element, e.g. a
    ``ParameterVector``) or a vector name such as ``"x"`` (element ``x[j]``, or a
    plain Parameter ``x_j`` from OpenQASM 3, becomes ``Input(j)``). All other
    Parameters become ``Param(i)`` with ``i`` their position in ``qc.parameters``.

    Raises ConversionError for mid-circuit measurements, resets, classically
    controlled operations and angles that are not linear in the parameters.
    """
    if not isinstance(qc, QuantumCircuit):
        raise ConversionError(f"from_qiskit expects a qiskit.QuantumCircuit, got {type(qc).__name__}")
    feature = _input_indices(qc, inputs)
    trainable = [p for p in qc.parameters if p not in feature]
    index_of = {p: Param(i) for i, p in enumerate(trainable)}
    index_of.update({p: Input(j) for p, j in feature.items()})
    ops: list[Operation] = []
    _convert_into(qc, list(range(qc.num_qubits)), index_of, ops, _final_measurements(qc))
    num_inputs: int | None = None
    if inputs is not None:
        num_inputs = max([j + 1 for j in feature.values()] + [0 if isinstance(inputs, str) else len(inputs)])
    return Circuit(qc.num_qubits, tuple(ops), num_params=len(trainable), num_inputs=num_inputs)  # type: ignore[arg-type]


# The header's leading blanks stay on its own line: "^\s*" rescanned every following blank line (a source of
# 40,000 newlines took 5 s to read, 4 MB would take hours).
_HEADER = re.compile(r"^[^\S\n]*OPENQASM\s+(\d+)(\.\d+)?\s*;", re.M)
#: The one file each OpenQASM version may include when includes are not allowed (Qiskit has both built in).
STANDARD_INCLUDES = {2: "qelib1.inc", 3: "stdgates.inc"}


def qasm_version(text: str) -> int:
    """The OpenQASM major version ``text`` declares in its ``OPENQASM`` header (3 without one, as OpenQASM 3
    allows)."""
    header = _HEADER.search(re.sub(r"//[^\n]*", "", text))
    return int(header.group(1)) if header else 3


def from_qasm(text: str, *, inputs: str | Sequence[Parameter] | None = None, allow_includes: bool = True) -> Circuit:
    """Parse an OpenQASM 2 or 3 program (told apart by its ``OPENQASM`` header) into a Circuit.

    OpenQASM 3 ``input float`` variables become parameters, ordered by name as in
    ``from_qiskit``; ``inputs`` as there.

    ``allow_includes=False`` is for programs from someone else (the service always
    uses it): only the standard library (:data:`STANDARD_INCLUDES`, built into Qiskit)
    may be included and no file is ever opened, so a program cannot read the
    machine's files through ``include``. With the default ``True``, OpenQASM 2
    includes are looked up in the current directory, as Qiskit does.
    """
    version = qasm_version(text)
    try:
        if version == 2:
            # The legacy set also knows gates qelib1.inc lacks but Qiskit's exporter writes (rzz, ...).
            # include_path=() leaves Qiskit only its built-in qelib1.inc: every other include is "not found".
            qc = qasm2.loads(
                text,
                custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS,
                **({} if allow_includes else {"include_path": ()}),
            )
        elif version == 3:
            qc = qasm3.loads(text)  # Qiskit's importer reads no file: it refuses every include but stdgates.inc
        else:
            raise ConversionError(f"OPENQASM {version} is not supported; use OpenQASM 2 or 3")
    except (qasm2.QASM2ParseError, qasm3.QASM3ImporterError) as err:
        if not allow_includes and "include search path" in str(err):
            raise ConversionError(
                f"OpenQASM {version} programs may include only {STANDARD_INCLUDES[version]!r} "
                "here (allow_includes=False); paste the definitions you need into the program"
            ) from None
        raise ConversionError(f"cannot parse OpenQASM {version}: {err}") from None
    return from_qiskit(qc, inputs=inputs)


# -- qjax -> Qiskit ------------------------------------------------------------------


def _vector_values(values, size: int, what: str) -> np.ndarray | None:
    if values is None:
        return None
    arr = np.asarray(values, dtype=float)
    if arr.shape != (size,):
        raise ParameterShapeError(f"{what} must have shape ({size},) for this circuit, got {arr.shape}")
    return arr


def to_qiskit(circuit: Circuit, params=None, x=None) -> QuantumCircuit:
    """Convert a qjax :class:`Circuit` to a Qiskit ``QuantumCircuit``.

    Unbound, trainable parameters are ``ParameterVector("θ", num_params)`` and data
    inputs ``ParameterVector("x", num_inputs)``; ``params: (num_params,)`` and
    ``x: (num_inputs,)`` bind them when given. Qiskit sorts ``qc.parameters`` by
    name, so with both vectors present the x's come before the θ's; parameters the
    circuit never uses are absent from ``qc.parameters``.
    """
    theta = ParameterVector("θ", circuit.num_params)
    feats = ParameterVector("x", circuit.num_inputs)
    p_val = _vector_values(params, circuit.num_params, "params")
    x_val = _vector_values(x, circuit.num_inputs, "x")

    def expression(a: Angle):
        value: object = a.offset
        for values, symbols, terms in ((p_val, theta, a.params), (x_val, feats, a.inputs)):
            for i, c in terms:
                term = c * values[i] if values is not None else (symbols[i] if c == 1.0 else c * symbols[i])
                value = term if isinstance(value, float) and value == 0.0 else value + term
        return float(value) if isinstance(value, (float, np.floating)) else value

    qc = QuantumCircuit(circuit.num_wires)
    for op in circuit.operations:
        if op.gate == "Unitary":
            qc.append(lib.UnitaryGate(_reverse_qubit_order(op.matrix_array()), check_input=False), op.wires)
        else:
            qc.append(_TO_QISKIT[op.gate](*[expression(a) for a in op.angles]), op.wires)
    return qc


def to_qasm(circuit: Circuit, version: int = 3, params=None, x=None) -> str:
    """The circuit as an OpenQASM ``version`` (2 or 3) program.

    OpenQASM 2 has no free parameters: give ``params`` (and ``x``) for circuits that
    have them. OpenQASM 3 writes unbound ones as ``input float[64] θ_<i>`` /
    ``x_<j>`` with zero-padded indices, so ``from_qasm(to_qasm(c), inputs="x")``
    keeps qjax's parameter order (OpenQASM names sort as strings). Qiskit's
    exporters write a ``Unitary`` as a gate definition (its decomposition), so it
    comes back from :func:`from_qasm` as equivalent table gates, up to global phase.
    """
    qc = to_qiskit(circuit, params, x)
    if version == 2:
        if qc.parameters:
            raise ConversionError(
                f"OpenQASM 2 cannot hold the {len(qc.parameters)} unbound parameter(s) of this "
                "circuit; pass params=/x= to bind them, or use version=3"
            )
        return qasm2.dumps(qc)
    if version != 3:
        raise ConversionError(f"OpenQASM version {version!r} is not supported; use 2 or 3")
    rename = {}
    for p in qc.parameters:
        width = len(str(len(p.vector) - 1))
        rename[p] = Parameter(f"{p.vector.name}_{p.index:0{width}d}")
    return qasm3.dumps(qc.assign_parameters(rename) if rename else qc)
