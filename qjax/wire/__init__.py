"""The wire format shared by the execution service and its client (``backend=remote``).

Evaluation batches travel as versioned JSON, never pickle. The format sits below
backends and the service, so both sides read and write it without importing each
other; it needs only the IR, the converters and the config groups. Modules:

- :mod:`~qjax.wire.format` — the batch format (qjax IR or OpenQASM 3 circuits,
  Pauli-word observables, parameter sets), its validation with refusals that name
  the field (:class:`RequestError`), and the limits on what a batch may ask for
  (:class:`Limits`);
- :mod:`~qjax.wire.body` — a batch's JSON text, parsed only once its nesting is
  bounded;
- :mod:`~qjax.wire.qasm` — untrusted OpenQASM read and bounded before Qiskit parses
  it (standard includes only; expansion, qubits and nesting counted). It imports
  Qiskit, so :mod:`~qjax.wire.format` loads it only when a batch carries OpenQASM.

Everything untrusted that a batch can carry is bounded here, before any parser or
simulator sees it.
"""

from qjax.wire.body import decode_json, json_depth
from qjax.wire.format import (
    IR_FORMAT,
    KINDS,
    QASM3_FORMAT,
    WIRE_VERSION,
    Batch,
    Limits,
    RequestError,
    decode_batch,
    decode_circuit,
    decode_observable,
    encode_circuit,
    encode_observable,
    every_wire,
    mitigation_config,
)

__all__ = [
    "Batch",
    "Limits",
    "RequestError",
    "decode_batch",
    "decode_circuit",
    "decode_observable",
    "decode_json",
    "encode_circuit",
    "encode_observable",
    "every_wire",
    "json_depth",
    "mitigation_config",
    "WIRE_VERSION",
    "KINDS",
    "IR_FORMAT",
    "QASM3_FORMAT",
]
