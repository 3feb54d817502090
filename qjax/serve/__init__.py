"""The quantum execution service: an authenticated HTTP front of the executor protocol.

``python -m qjax.serve`` runs it (:mod:`qjax.serve.__main__`); ``backend=remote``
(:mod:`qjax.backends.remote`) is its client. Modules:

- :mod:`~qjax.serve.app` — the FastAPI app: submit / status (long-poll) / cancel /
  list, health and readiness, Prometheus metrics, the status page;
- :mod:`~qjax.wire` — the versioned JSON batch format (qjax IR or OpenQASM 3)
  and its validation, refusals naming the field, the limits (:class:`~qjax.wire.Limits`);
- :mod:`~qjax.serve.qasm` — untrusted OpenQASM read and bounded before Qiskit parses it
  (standard includes only; expansion, qubits and nesting counted);
- :mod:`~qjax.serve.body` — request bodies: JSON nesting bounded before parsing;
- :mod:`~qjax.serve.openapi` — the batch's JSON Schema in ``/openapi.json``;
- :mod:`~qjax.serve.store` — the durable job store (SQLAlchemy; SQLite by default);
- :mod:`~qjax.serve.worker` — worker threads running jobs through the backends'
  executors, and recovery after a restart;
- :mod:`~qjax.serve.targets` — which backends it offers, executors cached per circuit, what a
  job may simulate (work, state memory, chunks);
- :mod:`~qjax.serve.auth` — hashed API keys, per-key rate limits;
- :mod:`~qjax.serve.metrics`, :mod:`~qjax.serve.page`, :mod:`~qjax.serve.logs`;
- :mod:`~qjax.serve.process` — a service in a child process (scripts, tests).

Only the store is imported here, so ``import qjax.serve`` needs no web stack.
"""

from qjax.serve.store import STATUSES, JobRecord, JobStore

__all__ = ["JobStore", "JobRecord", "STATUSES"]
