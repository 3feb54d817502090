"""``python -m qjax.serve``: run the quantum execution service with uvicorn.

Keys come from the environment only: ``QJAX_API_KEYS=key1,key2`` (hashed when
loaded) and/or ``QJAX_API_KEY_FILE`` (SHA-256 hashes, one per line). The IBM
token, for ``--targets ...,ibm``, is ``QISKIT_IBM_TOKEN`` or Qiskit's saved
account, read by the service only. Binds to 127.0.0.1 unless ``--host`` says otherwise.
The status page shows aggregates only unless ``--public-jobs`` is given.

``--role api|worker|all`` splits the service: any number of API processes and worker
processes, on any machines, share one store (``--db-url postgresql://user@host:5432/db``);
workers hold each job with a lease of ``--lease-s`` seconds, renewed by a heartbeat,
and a job whose worker died goes back to the queue. A worker process needs no API
keys and serves only ``/healthz``, ``/readyz`` and ``/metrics`` on its ``--port``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from qjax.schemas import MAX_SHOTS

__all__ = ["main", "parse_args"]


_DEFAULT_TARGETS = "simulator,noisy_simulator,ibm_fake"


def _default_data_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "qjax", "serve")


def parse_args(argv=None) -> argparse.Namespace:
    from qjax.serve.state import ROLES
    from qjax.serve.store import DEFAULT_LEASE_S
    from qjax.serve.targets import TARGETS

    p = argparse.ArgumentParser(
        prog="python -m qjax.serve",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (0.0.0.0 exposes the service)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--data-dir", default=_default_data_dir(), help="where the SQLite job store lives")
    p.add_argument(
        "--db-url",
        default=None,
        help="any SQLAlchemy URL (e.g. postgresql://...); default sqlite:///<data-dir>/jobs.db",
    )
    p.add_argument(
        "--targets",
        default=_DEFAULT_TARGETS,
        help=f"comma-separated backends to offer, of {','.join(TARGETS)}",
    )
    p.add_argument(
        "--role",
        default="all",
        choices=ROLES,
        help="api: answer the API only; worker: run jobs only; all: both (one process alone)",
    )
    p.add_argument("--workers", type=int, default=2, help="worker threads running jobs (roles worker and all)")
    p.add_argument(
        "--lease-s",
        type=float,
        default=DEFAULT_LEASE_S,
        help="a claimed job returns to the queue this many seconds after its worker's last heartbeat",
    )
    p.add_argument(
        "--poll-s",
        type=float,
        default=0.1,
        help="how often idle workers look for jobs accepted by other processes, and API-only processes for results",
    )
    p.add_argument("--rate", type=float, default=50.0, help="requests per second per key (token bucket)")
    p.add_argument("--burst", type=int, default=100, help="burst size of the rate limit")
    p.add_argument("--jobs-per-day", type=int, default=100_000, help="quota per key; 0 = unlimited")
    p.add_argument("--shots-per-day", type=int, default=1_000_000_000, help="quota per key; 0 = unlimited")
    p.add_argument("--max-body-mb", type=float, default=8.0, help="largest request body")
    p.add_argument("--max-qubits", type=int, default=20, help="widest circuit the JAX simulators accept")
    p.add_argument("--max-batch", type=int, default=4096, help="most parameter sets per request")
    p.add_argument(
        "--max-shots",
        type=int,
        default=MAX_SHOTS,
        help=f"most shots per parameter set in one job (at most {MAX_SHOTS:,}); a client's final evaluation "
        "(backend.final_precision) is capped at it",
    )
    p.add_argument(
        "--public-jobs",
        action="store_true",
        help="the status page (GET /, no key needed) also lists every key's recent jobs (ids, targets, "
        "sizes, times; never key ids); without it the page shows aggregates only and each key sees "
        "its own jobs through GET /v1/jobs",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p.parse_args(argv)


def build(args: argparse.Namespace):
    """The app for ``args`` (raises :class:`qjax.errors.QjaxError` with a fix for bad settings)."""
    from qjax.errors import ConfigError
    from qjax.serve.app import Settings, create_app
    from qjax.serve.auth import KeyRing
    from qjax.serve.store import StoreUnavailable
    from qjax.wire import Limits

    keys = KeyRing.from_environment() if args.role != "worker" else None
    for name, value in (
        ("--workers", args.workers),
        ("--port", args.port),
        ("--max-qubits", args.max_qubits),
        ("--max-batch", args.max_batch),
        ("--max-shots", args.max_shots),
        ("--burst", args.burst),
    ):
        if value < (0 if name == "--port" else 1):
            raise ConfigError(f"{name}={value} is invalid: must be a positive integer")
    if args.max_shots > MAX_SHOTS:
        raise ConfigError(f"--max-shots={args.max_shots} is too many: use at most {MAX_SHOTS} (qjax's largest shots)")
    for name, value in (("--lease-s", args.lease_s), ("--poll-s", args.poll_s)):
        if not value > 0:
            raise ConfigError(f"{name}={value} is invalid: must be a positive number of seconds")
    if args.lease_s > 300:
        raise ConfigError(
            f"--lease-s={args.lease_s:g} is too long: a dead worker's job would wait that long; use ≤ 300"
        )
    targets = tuple(t.strip() for t in args.targets.split(",") if t.strip())
    if not targets:
        raise ConfigError(
            f"--targets is empty: name at least one backend, e.g. --targets simulator (default {_DEFAULT_TARGETS})"
        )
    db_url = args.db_url
    if db_url is None:
        Path(args.data_dir).mkdir(parents=True, exist_ok=True)
        db_url = f"sqlite:///{os.path.abspath(os.path.join(args.data_dir, 'jobs.db'))}"
    settings = Settings(
        db_url=db_url,
        targets=targets,
        workers=args.workers,
        rate=args.rate,
        burst=args.burst,
        jobs_per_day=args.jobs_per_day or None,
        shots_per_day=args.shots_per_day or None,
        max_body_bytes=int(args.max_body_mb * 1024 * 1024),
        limits=Limits(max_qubits=args.max_qubits, max_batch=args.max_batch, max_shots=args.max_shots),
        public_jobs=args.public_jobs,
        role=args.role,
        lease_s=args.lease_s,
        poll_s=args.poll_s,
    )
    try:
        return create_app(settings, keys)
    except StoreUnavailable as exc:
        raise ConfigError(f"{exc}; check --db-url (and that the database server runs)") from None


def main(argv=None) -> int:
    import logging

    from qjax.errors import QjaxError
    from qjax.serve import logs

    args = parse_args(argv)
    logs.configure(getattr(logging, args.log_level.upper()))
    try:
        app = build(args)
    except QjaxError as exc:
        print(f"qjax.serve: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    from qjax.jaxcache import enable_compilation_cache
    from qjax.library_logs import quiet_libraries

    quiet_libraries()
    enable_compilation_cache()  # a restarted service loads its executables instead of compiling them
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
