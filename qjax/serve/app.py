"""The HTTP API of the quantum execution service (FastAPI).

=========================  ===================================================================
``POST /v1/jobs``          submit an evaluation batch (:mod:`qjax.wire`); ``202`` + job id
                           at once (``200`` with the same job for a repeated ``Idempotency-Key``)
``GET /v1/jobs/{id}``      status, timings and, once done, the result; ``?wait=s`` long-polls
``POST /v1/jobs/{id}/cancel``  cancel a queued or running job (``409`` once it has ended)
``GET /v1/jobs``           the caller's recent jobs (``?status=``, ``?limit=``)
``GET /healthz``           the process is up; ``GET /readyz``: database reachable, workers alive
``GET /metrics``           Prometheus text format
``GET /``                  the status page (HTML, no JavaScript): aggregates only, unless the
                           service runs with ``--public-jobs`` (``Settings.public_jobs``)
=========================  ===================================================================

Every ``/v1`` request needs an API key (``Authorization: Bearer <key>`` or
``X-API-Key``; never in the query string, where logs and browser history keep
it), checked before anything else about the request: a missing or wrong one gets
``401`` and changes nothing. Per key:
a token-bucket rate limit and daily quotas of jobs and shots (``429`` with
``Retry-After``). Bodies over the size limit get ``413``, JSON nested deeper than
``Limits.max_nesting`` a ``400`` before it is parsed; every field is validated and
a refusal (``4xx``) names it, and so do batches over the limits on what a job may
simulate (:class:`~qjax.wire.Limits`). Every response carries ``X-Request-ID`` (the
client's, when it sent a well-formed one); errors are JSON ``{"error", "field",
"request_id"}`` and never contain a stack trace.

A process runs one of three roles (``Settings.role``): ``all`` (API and workers),
``api`` (no workers) or ``worker`` (workers; of the routes only health, readiness
and metrics). Any number of each share one store (PostgreSQL for several machines);
see :mod:`qjax.serve.store` for leases and :mod:`qjax.serve.heartbeat`.

This module builds the app: its lifespan (heartbeat, workers), the request-id
middleware (ids, metrics, access log) and the error handlers. The routes live in
:mod:`qjax.serve.routes`; what they share (:class:`~qjax.serve.state.ServiceState`,
on ``app.state.service``), the caller's key, quotas and the submitted batch reach
them as FastAPI dependencies (:mod:`qjax.serve.dependencies`).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from qjax.serve import logs
from qjax.serve.auth import KeyRing
from qjax.serve.refusal import Refused, error_response
from qjax.serve.routes import health, jobs, page
from qjax.serve.state import ServiceState, Settings

__all__ = ["Settings", "create_app"]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# Metric labels take these as they are; any other method counts as OTHER (each label value is a new time series).
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


def create_app(settings: Settings, keys: KeyRing | None, *, run_workers: bool = True) -> FastAPI:
    """The service as an ASGI app; workers (``settings.workers`` threads) start and stop with it.

    Its :class:`~qjax.serve.state.ServiceState` is ``app.state.service``. ``keys`` may be
    ``None`` for role ``worker`` only.
    """
    if keys is None and settings.role != "worker":
        raise ValueError("an API process needs keys")
    service = ServiceState.create(settings, keys, run_workers=run_workers)
    app = FastAPI(
        title="qjax execution service",
        version="1",
        lifespan=_lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.service = service
    app.middleware("http")(_trace)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Refused, _refused)
    if settings.role != "worker":
        app.include_router(jobs.router(settings))
    app.include_router(health.router)
    if settings.role != "worker":
        app.include_router(page.router)
    return app


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI):
    """Start the heartbeat (it also frees jobs whose workers died, in any process), then the workers."""
    service: ServiceState = app.state.service
    settings = service.settings
    service.events.loop = asyncio.get_running_loop()
    await run_in_threadpool(service.heartbeat.start)
    for w in service.workers:
        w.start()
    logs.log.info(
        "%s process %s: targets %s, %d worker(s), lease %g s; database %s",
        settings.role,
        service.heartbeat.name,
        ", ".join(settings.targets),
        len(service.workers),
        settings.lease_s,
        settings.db_url.split("://", 1)[0],
    )
    yield
    for w in service.workers:
        w.stop()
    await run_in_threadpool(service.heartbeat.stop)
    service.store.close()


async def _trace(request: Request, call_next):
    """Give the request its id (the client's ``X-Request-ID`` when well-formed), time it, count it, log it.

    An exception that escapes a route becomes a 500 naming only the request id: never a stack trace.
    """
    presented = request.headers.get("x-request-id", "")
    rid = presented if _REQUEST_ID.match(presented) else uuid.uuid4().hex
    token = logs.request_id.set(rid)
    started = time.perf_counter()
    try:
        try:
            response = await call_next(request)
        except Exception as exc:  # noqa: BLE001 - never a stack trace to the client or the log
            logs.log.error("%s %s failed: %s", request.method, request.url.path, type(exc).__name__)
            response = error_response(500, "internal error; the request id identifies it in the service's log")
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        method = request.method if request.method in _METHODS else "OTHER"  # any token is a method to h11
        metrics = request.app.state.service.metrics
        metrics.requests.labels(method, path, str(response.status_code)).inc()
        elapsed = time.perf_counter() - started
        metrics.request_seconds.labels(path).observe(elapsed)
        response.headers["X-Request-ID"] = rid
        logs.access.info("%s %s %d %.1f ms", request.method, request.url.path, response.status_code, elapsed * 1000)
        return response
    finally:
        logs.request_id.reset(token)


async def _invalid(request: Request, exc: Exception):
    assert isinstance(exc, RequestValidationError)
    """FastAPI's own validation (query and path parameters): 422 naming the first bad one."""
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body"))
    request.app.state.service.metrics.refused.labels("invalid").inc()
    return error_response(422, f"{where}: {first.get('msg', 'invalid')}", where or None)


async def _http_error(request: Request, exc: Exception):
    assert isinstance(exc, StarletteHTTPException)
    return error_response(exc.status_code, str(exc.detail))


async def _refused(request: Request, exc: Exception):
    assert isinstance(exc, Refused)
    request.app.state.service.metrics.refused.labels(exc.reason).inc()
    return exc.response()
