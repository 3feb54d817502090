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
it): a missing or wrong one gets ``401`` and changes nothing. Per key:
a token-bucket rate limit and daily quotas of jobs and shots (``429`` with
``Retry-After``). Bodies over the size limit get ``413``, JSON nested deeper than
``Limits.max_nesting`` a ``400`` before it is parsed; every field is validated and
a refusal (``4xx``) names it, and so do batches over the limits on what a job may
simulate (:class:`~qjax.wire.Limits`). Every response carries ``X-Request-ID`` (the
client's, when it sent a well-formed one); errors are JSON ``{"error", "field",
"request_id"}`` and never contain a stack trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import threading
import time
import uuid
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from qjax.serve import logs
from qjax.serve.auth import KeyRing, RateLimiter
from qjax.serve.metrics import CONTENT_TYPE_LATEST, Metrics
from qjax.serve.openapi import batch_schema
from qjax.serve.page import render_status_page
from qjax.serve.store import STATUSES, JobRecord, JobStore
from qjax.serve.targets import Targets
from qjax.serve.worker import Worker, recover
from qjax.wire import Limits, RequestError, decode_batch, decode_json

__all__ = ["Settings", "create_app"]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
_DAY = 86400.0
# Metric labels take these as they are; any other method counts as OTHER (each label value is a new time series).
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Settings:
    """How a service runs; :mod:`qjax.serve.__main__` builds it from the command line."""

    db_url: str
    targets: tuple[str, ...] = ("simulator", "noisy_simulator", "ibm_fake")
    workers: int = 2
    rate: float = 50.0  # requests per second per key, on average
    burst: int = 100
    jobs_per_day: int | None = 100_000
    shots_per_day: int | None = 1_000_000_000
    max_body_bytes: int = 8 * 1024 * 1024
    max_wait_s: float = 30.0
    limits: Limits = field(default_factory=Limits)
    poll_s: float = 0.25  # idle workers look at the queue this often (accepting a job wakes them at once)
    # the status page lists every key's recent jobs (without key ids); off: it shows aggregates only
    public_jobs: bool = False


def _error(status: int, message: str, field: str | None = None, headers: dict | None = None) -> JSONResponse:
    body = {"error": message, "field": field, "request_id": logs.request_id.get()}
    return JSONResponse(body, status_code=status, headers=headers)


def _job_json(job: JobRecord, *, with_result: bool = True) -> dict:
    out = {"id": job.id, "status": job.status, "target": job.target, "request_id": job.request_id,
           "idempotency_key": job.idempotency_key, "shots_requested": job.shots, "attempts": job.attempts,
           "created_at": job.created_at, "started_at": job.started_at, "finished_at": job.finished_at,
           "queue_s": job.queue_s, "run_s": job.run_s, "error": job.error}
    if with_result:
        out["result"] = job.result
    return out


class _JobEvents:
    """Wakes long-polls when a job ends: workers (threads) call :meth:`ended`, requests await :meth:`wait`."""

    def __init__(self):
        self.loop: asyncio.AbstractEventLoop | None = None
        self._waiters: dict[str, set[asyncio.Future]] = {}

    def ended(self, job_id: str) -> None:
        loop = self.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake, job_id)

    def _wake(self, job_id: str) -> None:
        for future in self._waiters.pop(job_id, ()):
            if not future.done():
                future.set_result(None)

    async def wait(self, job_id: str, timeout: float) -> None:
        future = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(job_id, set()).add(future)
        try:
            await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            waiting = self._waiters.get(job_id)
            if waiting is not None:
                waiting.discard(future)
                if not waiting:
                    self._waiters.pop(job_id, None)


class _Refused(Exception):
    """Ends a request early with an error response."""

    def __init__(self, response: JSONResponse, reason: str):
        self.response, self.reason = response, reason


def create_app(settings: Settings, keys: KeyRing, *, run_workers: bool = True) -> FastAPI:
    """The service as an ASGI app; workers (``settings.workers`` threads) start and stop with it."""
    store = JobStore(settings.db_url)
    targets = Targets(settings.targets, limits=settings.limits)
    metrics = Metrics(lambda: store.counts()["queued"])
    limiter = RateLimiter(settings.rate, settings.burst)
    events, wakeup = _JobEvents(), threading.Event()
    workers = [Worker(f"worker-{i}", store, targets, metrics, limits=settings.limits, poll_s=settings.poll_s,
                      wakeup=wakeup, on_end=events.ended) for i in range(settings.workers if run_workers else 0)]

    @contextlib.asynccontextmanager
    async def lifespan(app):
        events.loop = asyncio.get_running_loop()
        recovered = await run_in_threadpool(recover, store, targets, settings.limits, events.ended)
        app.state.recovered = recovered
        for w in workers:
            w.start()
        logs.log.info("serving targets %s with %d worker(s); database %s", ", ".join(settings.targets),
                      len(workers), settings.db_url.split("://", 1)[0])
        yield
        for w in workers:
            w.stop()

    app = FastAPI(title="qjax execution service", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json")
    app.state.store, app.state.targets, app.state.metrics, app.state.workers = store, targets, metrics, workers

    @app.middleware("http")
    async def trace(request: Request, call_next):
        presented = request.headers.get("x-request-id", "")
        rid = presented if _REQUEST_ID.match(presented) else uuid.uuid4().hex
        token = logs.request_id.set(rid)
        started = time.perf_counter()
        try:
            try:
                response = await call_next(request)
            except Exception as exc:  # noqa: BLE001 - never a stack trace to the client or the log
                logs.log.error("%s %s failed: %s", request.method, request.url.path, type(exc).__name__)
                response = _error(500, "internal error; the request id identifies it in the service's log")
            route = request.scope.get("route")
            path = getattr(route, "path", "unmatched")
            method = request.method if request.method in _METHODS else "OTHER"  # any token is a method to h11
            metrics.requests.labels(method, path, str(response.status_code)).inc()
            elapsed = time.perf_counter() - started
            metrics.request_seconds.labels(path).observe(elapsed)
            response.headers["X-Request-ID"] = rid
            logs.access.info("%s %s %d %.1f ms", request.method, request.url.path, response.status_code,
                             elapsed * 1000)
            return response
        finally:
            logs.request_id.reset(token)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body"))
        metrics.refused.labels("invalid").inc()
        return _error(422, f"{where}: {first.get('msg', 'invalid')}", where or None)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(_Refused)
    async def refused(request: Request, exc: _Refused):
        metrics.refused.labels(exc.reason).inc()
        return exc.response

    def authenticate(request: Request) -> str:
        presented = request.headers.get("x-api-key")
        auth = request.headers.get("authorization", "")
        if presented is None and auth.lower().startswith("bearer "):
            presented = auth[7:].strip()
        key_id = keys.identify(presented)
        if key_id is None:
            why = "missing API key" if not presented else "API key not accepted"
            raise _Refused(_error(401, f"{why}: send Authorization: Bearer <key> (the client reads QJAX_API_KEY)",
                                  "authorization", {"WWW-Authenticate": "Bearer"}), "unauthorized")
        wait = limiter.acquire(key_id)
        if wait > 0:
            raise _Refused(_error(429, f"rate limit of {settings.rate:g} requests/s (bursts of {settings.burst}) "
                                  f"exceeded; retry after {math.ceil(wait)} s", "authorization",
                                  {"Retry-After": str(max(1, math.ceil(wait)))}), "rate_limit")
        return key_id

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > settings.max_body_bytes:
            raise _Refused(_error(413, f"body of {int(declared):,} bytes exceeds the limit of "
                                  f"{settings.max_body_bytes:,}; split the batch", "body"), "too_large")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > settings.max_body_bytes:
                raise _Refused(_error(413, f"body exceeds the limit of {settings.max_body_bytes:,} bytes; "
                                      "split the batch", "body"), "too_large")
            chunks.append(chunk)
        return b"".join(chunks)

    def check_quota(key_id: str, shots: int) -> None:
        now = time.time()
        jobs, spent, oldest = store.usage(key_id, now - _DAY)
        for limit, used, more, what in ((settings.jobs_per_day, jobs, 1, "jobs"),
                                        (settings.shots_per_day, spent, shots, "shots")):
            if limit is not None and used + more > limit:
                retry = max(1, math.ceil((oldest or now) + _DAY - now))
                raise _Refused(_error(429, f"daily quota of {limit:,} {what} for this key would be exceeded "
                                      f"({used:,} used in the last 24 h, this batch needs {more:,}); retry after "
                                      f"{retry} s or ask for a larger quota", "quota", {"Retry-After": str(retry)}),
                               "quota")

    def refuse(exc: RequestError) -> _Refused:
        return _Refused(_error(exc.status, exc.message, exc.field or None), "invalid")

    body_schema = {"requestBody": {"required": True, "content": {"application/json": {
        "schema": batch_schema(settings.targets, settings.limits)}}}}

    @app.post("/v1/jobs", status_code=202, openapi_extra=body_schema)
    async def submit(request: Request):
        key_id = authenticate(request)
        idem = request.headers.get("idempotency-key")
        if idem is not None and not _IDEMPOTENCY_KEY.match(idem):
            raise refuse(RequestError("Idempotency-Key", "must be 1..200 printable ASCII characters", 400))
        if idem is not None:
            existing = await run_in_threadpool(store.get_by_idempotency, key_id, idem)
            if existing is not None:
                return JSONResponse(_job_json(existing, with_result=False) | {"created": False}, status_code=200)
        body = await read_body(request)

        def accept():
            try:
                doc = decode_json(body, settings.limits.max_nesting)
                batch = decode_batch(doc, targets.names, settings.limits)
                targets.check(batch)
            except RequestError as exc:
                raise refuse(exc) from None
            check_quota(key_id, batch.requested_shots)
            job, created = store.submit(key_id=key_id, payload=doc, target=batch.target,
                                        shots=batch.requested_shots, idempotency_key=idem,
                                        request_id=logs.request_id.get())
            return job, created, batch.params.shape[0]

        job, created, sets = await run_in_threadpool(accept)
        if created:
            wakeup.set()
            metrics.submitted.labels(job.target).inc()
            logs.log.info("job %s accepted: %s, %d parameter set(s), key %s", job.id, job.target, sets, key_id[:8])
        return JSONResponse(_job_json(job, with_result=False) | {"created": created},
                            status_code=202 if created else 200)

    async def own_job(request: Request, job_id: str) -> tuple[str, JobRecord]:
        key_id = authenticate(request)
        job = await run_in_threadpool(store.get, job_id, key_id)
        if job is None:
            raise _Refused(_error(404, f"no job {job_id[:40]} for this key", "job_id"), "not_found")
        return key_id, job

    @app.get("/v1/jobs/{job_id}")
    async def status(request: Request, job_id: str, wait: float = 0.0):
        key_id, job = await own_job(request, job_id)
        if not 0 <= wait <= settings.max_wait_s:
            raise refuse(RequestError("wait", f"must be between 0 and {settings.max_wait_s:g} seconds", 422))
        deadline = time.monotonic() + wait
        while job.status in ("queued", "running") and time.monotonic() < deadline:
            # woken when a worker of this process ends the job; the 1 s cap catches any other change
            await events.wait(job_id, min(1.0, max(deadline - time.monotonic(), 0)))
            job = await run_in_threadpool(store.get, job_id, key_id)
        return _job_json(job)

    @app.post("/v1/jobs/{job_id}/cancel")
    async def cancel(request: Request, job_id: str):
        key_id, job = await own_job(request, job_id)
        if not await run_in_threadpool(store.cancel, job_id, key_id):
            job = await run_in_threadpool(store.get, job_id, key_id)
            return _error(409, f"job {job_id} has already ended ({job.status}); its result stays", "job_id")
        metrics.ended.labels(job.target, "cancelled").inc()
        events.ended(job_id)
        return _job_json(await run_in_threadpool(store.get, job_id, key_id), with_result=False)

    @app.get("/v1/jobs")
    async def list_jobs(request: Request, status: str | None = None, limit: int = 50):
        key_id = authenticate(request)
        if status is not None and status not in STATUSES:
            raise refuse(RequestError("status", f"must be one of {', '.join(STATUSES)}"))
        if not 1 <= limit <= 500:
            raise refuse(RequestError("limit", "must be between 1 and 500"))
        jobs = await run_in_threadpool(store.list, key_id, limit, status)
        return {"jobs": [_job_json(j, with_result=False) for j in jobs]}

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz():
        db = await run_in_threadpool(store.ping)
        alive = sum(1 for w in workers if w.alive)
        ready = db and (alive == len(workers))
        return JSONResponse({"status": "ready" if ready else "not ready", "database": db, "workers": alive,
                             "targets": list(settings.targets)}, status_code=200 if ready else 503)

    @app.get("/metrics")
    async def metrics_text():
        return Response(await run_in_threadpool(metrics.render), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse)
    async def page():
        def render():
            recent = store.list(limit=50) if settings.public_jobs else None
            return render_status_page(store.counts(), store.counts_by_target(time.time() - _DAY), recent,
                                      targets=settings.targets, workers=len(workers))

        return HTMLResponse(await run_in_threadpool(render))

    return app

