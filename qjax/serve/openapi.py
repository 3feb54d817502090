"""The OpenAPI description of a batch (``POST /v1/jobs``'s request body), for clients and for fuzzing.

The service reads bodies itself (:func:`qjax.wire.decode_batch` validates and
refuses naming the field); this JSON Schema only describes the same format, so that
``/openapi.json`` documents it and schemathesis generates bodies shaped like it.
"""

from __future__ import annotations

from qjax.ir.gates import GATES
from qjax.wire import IR_FORMAT, KINDS, QASM3_FORMAT, WIRE_VERSION, Limits

__all__ = ["batch_schema"]


def batch_schema(targets: tuple[str, ...], limits: Limits = Limits()) -> dict:
    """A JSON Schema (OpenAPI 3.1) of a batch for ``targets`` within ``limits``, with one valid example."""

    number = {"type": "number"}
    angle = {
        "oneOf": [
            number,
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "params": {
                        "type": "array",
                        "maxItems": 64,
                        "items": {
                            "type": "array",
                            "prefixItems": [{"type": "integer", "minimum": 0}, number],
                            "minItems": 2,
                            "maxItems": 2,
                        },
                    },
                    "const": number,
                },
            },
        ]
    }
    operation = {
        "type": "object",
        "required": ["gate", "wires"],
        "additionalProperties": False,
        "properties": {
            "gate": {"type": "string", "enum": list(GATES)},
            "wires": {
                "type": "array",
                "minItems": 1,
                "maxItems": 8,
                "items": {"type": "integer", "minimum": 0, "maximum": limits.max_qubits - 1},
            },
            "angles": {"type": "array", "maxItems": 8, "items": angle},
            "matrix": {
                "type": "array",
                "minItems": 2,
                "maxItems": 16,
                "items": {
                    "type": "array",
                    "items": {"type": "array", "prefixItems": [number, number], "minItems": 2, "maxItems": 2},
                },
            },
        },
    }
    ir = {
        "type": "object",
        "required": ["format", "num_wires", "operations"],
        "additionalProperties": False,
        "properties": {
            "format": {"const": IR_FORMAT},
            "version": {"const": WIRE_VERSION},
            "num_wires": {"type": "integer", "minimum": 1, "maximum": limits.max_qubits},
            "num_params": {"type": ["integer", "null"], "minimum": 0, "maximum": limits.max_params},
            "operations": {"type": "array", "maxItems": limits.max_operations, "items": operation},
        },
    }
    qasm = {
        "type": "object",
        "required": ["format", "source"],
        "additionalProperties": False,
        "properties": {
            "format": {"const": QASM3_FORMAT},
            "version": {"const": WIRE_VERSION},
            "source": {
                "type": "string",
                "minLength": 1,
                "maxLength": limits.max_qasm_bytes,
                "description": "OpenQASM 2 or 3; includes only qelib1.inc / stdgates.inc",
            },
        },
    }
    term = {
        "type": "array",
        "minItems": 2,
        "maxItems": 2,
        "prefixItems": [number, {"type": "string", "pattern": "^(|[IXYZ][0-9]( [IXYZ][0-9]){0,3})$"}],
    }
    example = {
        "target": targets[0],
        "circuit": {
            "format": IR_FORMAT,
            "num_wires": 2,
            "operations": [
                {"gate": "RY", "wires": [0], "angles": [{"params": [[0, 1.0]], "const": 0.0}]},
                {"gate": "CNOT", "wires": [0, 1]},
            ],
        },
        "observables": [[[1.0, "Z0 Z1"], [0.5, "X1"]]],
        "params": [[0.3], [1.2]],
    }
    return {
        "examples": [example],
        "type": "object",
        # observables: required unless kind is samples (which measures every wire and takes none)
        "required": ["target", "circuit", "params"],
        "additionalProperties": False,
        "properties": {
            "version": {"const": WIRE_VERSION},
            "kind": {
                "type": "string",
                "enum": list(KINDS),
                "description": "expectations (default) or samples: shots measurements of every wire at one "
                "parameter set on a noisy or hardware target, returned as counts",
            },
            "target": {"type": "string", "enum": list(targets)},
            "device": {"type": ["string", "null"], "minLength": 1, "maxLength": 100},
            "circuit": {"oneOf": [ir, qasm]},
            "observables": {
                "type": "array",
                "minItems": 1,
                "maxItems": limits.max_observables,
                "items": {"type": "array", "minItems": 1, "maxItems": limits.max_terms, "items": term},
            },
            "params": {
                "type": "array",
                "minItems": 1,
                "maxItems": limits.max_batch,
                "items": {"type": "array", "maxItems": limits.max_params, "items": number},
            },
            "shots": {"type": ["integer", "null"], "minimum": 1, "maximum": limits.max_shots},
            "seed": {"type": ["integer", "null"], "minimum": 0, "maximum": 2**32 - 1},
            "mitigation": {"oneOf": [{"type": "string"}, {"type": "object"}]},
        },
    }
