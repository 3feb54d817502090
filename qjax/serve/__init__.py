"""The quantum execution service: an authenticated HTTP front of the executor protocol.

``python -m qjax.serve`` runs it (:mod:`qjax.serve.__main__`); ``backend=remote``
(:mod:`qjax.backends.remote`) is its client. Modules:

- :mod:`~qjax.serve.app` — builds the FastAPI app (``create_app``): lifespan, request-id
  middleware, error handlers; the API is listed there;
- :mod:`~qjax.serve.routes` — the routers: :mod:`~qjax.serve.routes.jobs` (submit / status
  with long-poll / cancel / list), :mod:`~qjax.serve.routes.health` (health, readiness,
  Prometheus metrics), :mod:`~qjax.serve.routes.page` (the status page);
- :mod:`~qjax.serve.dependencies` — what routes get through ``Depends``: the service's
  state, the caller's key (API key, rate limit), the submitted batch, quotas, own jobs;
- :mod:`~qjax.serve.state` — ``Settings`` and the ``ServiceState`` requests share;
- :mod:`~qjax.serve.refusal` — error answers (``Refused``, JSON bodies with the request id);
- :mod:`~qjax.serve.openapi` — the batch's JSON Schema in ``/openapi.json``;
- :mod:`~qjax.serve.store` — the durable job store (SQLAlchemy; SQLite by default, PostgreSQL for
  several processes): jobs with leases, the shared rate-limit buckets and quotas, the process table;
- :mod:`~qjax.serve.worker` — worker threads running jobs through the backends' executors
  (re-attaching to a recorded IBM job after its previous worker died);
- :mod:`~qjax.serve.heartbeat` — one thread per process: renews its workers' leases, announces the
  process, puts jobs of dead workers back in the queue;
- :mod:`~qjax.serve.targets` — which backends it offers, executors cached per circuit, what a
  job may simulate (work, state memory, chunks);
- :mod:`~qjax.serve.auth` — hashed API keys, per-key rate limits;
- :mod:`~qjax.serve.metrics`, :mod:`~qjax.serve.page` (the status page's HTML),
  :mod:`~qjax.serve.logs` (request ids on log lines);
- :mod:`~qjax.serve.process` — a service in a child process (scripts, tests);
- :mod:`~qjax.serve.localpg` — a throwaway PostgreSQL server (initdb/pg_ctl) for tests and scripts.

A service is one process (``--role all``) or any number of API (``--role api``) and
worker (``--role worker``) processes on one store.

The wire format it reads (batches as versioned JSON, their validation and limits, the
bounds on untrusted OpenQASM and JSON nesting) is :mod:`qjax.wire`, below the service and
the backends, since the client (``backend=remote``) writes it too.

Only the store is imported here, so ``import qjax.serve`` needs no web stack.
"""

from qjax.serve.store import STATUSES, JobRecord, JobStore

__all__ = ["JobStore", "JobRecord", "STATUSES"]
