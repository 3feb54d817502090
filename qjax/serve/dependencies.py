"""The routes' FastAPI dependencies: the service's state, the caller's key, the submitted batch, quotas.

A route names what it needs in its signature (``key_id: KeyId``, ``job: OwnJob``);
FastAPI solves each dependency once per request, in the order of the parameters,
and a dependency refuses by raising :class:`~qjax.serve.refusal.Refused`. A
submission goes through, in this order::

    authenticate ─► idempotency_key ─► previous_job ─► new_submission ─► check_quota
    (401, 429)      (400)              (a repeat: 200)  (413, 4xx)        (429)

so a request repeating an earlier one (same ``Idempotency-Key``) gets its job back
without its body being read, and nothing is parsed before the key is known. The
API key is read from the headers only, never from the query string.
"""

from __future__ import annotations

import math
import re
import time
from typing import Annotated, Any, NamedTuple

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from qjax.serve.refusal import Refused
from qjax.serve.state import QUOTA_WINDOW_S, ServiceState
from qjax.serve.store import JobRecord, Quota
from qjax.wire import Batch, RequestError, decode_batch, decode_json

__all__ = [
    "Service",
    "KeyId",
    "IdempotencyKey",
    "PreviousJob",
    "NewSubmission",
    "WithinQuota",
    "OwnJob",
    "Submission",
    "service",
    "authenticate",
    "idempotency_key",
    "previous_job",
    "new_submission",
    "check_quota",
    "own_job",
    "quota",
    "quota_refusal",
]

_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")


async def service(request: Request) -> ServiceState:
    """The state of the app serving ``request``."""
    return request.app.state.service


Service = Annotated[ServiceState, Depends(service)]


async def authenticate(request: Request, service: Service) -> str:
    """The caller's key id, from ``Authorization: Bearer <key>`` or ``X-API-Key``; one token of its rate limit.

    Refuses with 401 (and ``WWW-Authenticate: Bearer``) without an accepted key, 429
    (with ``Retry-After``) once the key's token bucket is empty.
    """
    presented = request.headers.get("x-api-key")
    auth = request.headers.get("authorization", "")
    if presented is None and auth.lower().startswith("bearer "):
        presented = auth[7:].strip()
    key_id = service.keys.identify(presented) if service.keys is not None else None
    if key_id is None:
        why = "missing API key" if not presented else "API key not accepted"
        raise Refused(
            401,
            f"{why}: send Authorization: Bearer <key> (the client reads QJAX_API_KEY)",
            "authorization",
            "unauthorized",
            {"WWW-Authenticate": "Bearer"},
        )
    wait = await run_in_threadpool(service.limiter.acquire, key_id)  # the shared limiter is a database update
    if wait > 0:
        settings = service.settings
        raise Refused(
            429,
            f"rate limit of {settings.rate:g} requests/s (bursts of {settings.burst}) exceeded; "
            f"retry after {math.ceil(wait)} s",
            "authorization",
            "rate_limit",
            {"Retry-After": str(max(1, math.ceil(wait)))},
        )
    return key_id


KeyId = Annotated[str, Depends(authenticate)]


async def idempotency_key(request: Request, key_id: KeyId) -> str | None:
    """The request's ``Idempotency-Key`` header (1..200 printable ASCII characters; 400 otherwise), or None.

    It depends on ``key_id`` only for the order: a request without a valid key gets 401 first.
    """
    idem = request.headers.get("idempotency-key")
    if idem is not None and not _IDEMPOTENCY_KEY.match(idem):
        raise Refused.invalid(RequestError("Idempotency-Key", "must be 1..200 printable ASCII characters", 400))
    return idem


IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]


async def previous_job(service: Service, key_id: KeyId, idem: IdempotencyKey) -> JobRecord | None:
    """The job an earlier request of this key with the same ``Idempotency-Key`` created, if any."""
    if idem is None:
        return None
    return await run_in_threadpool(service.store.get_by_idempotency, key_id, idem)


PreviousJob = Annotated[JobRecord | None, Depends(previous_job)]


class Submission(NamedTuple):
    """A submitted batch: the body as parsed (what the store keeps) and validated."""

    doc: Any
    batch: Batch


async def new_submission(request: Request, service: Service, previous: PreviousJob) -> Submission | None:
    """The request's batch, read, parsed and checked against the service's targets and limits.

    None when the request repeats an earlier one (:func:`previous_job`): its body is not read.
    """
    if previous is not None:
        return None
    body = await _read_body(request, service.settings.max_body_bytes)
    return await run_in_threadpool(_decode, body, service)


async def _read_body(request: Request, max_bytes: int) -> bytes:
    """The body, refused (413) as soon as it is known to exceed ``max_bytes``: by its declared length, or read."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise Refused(
            413,
            f"body of {int(declared):,} bytes exceeds the limit of {max_bytes:,}; split the batch",
            "body",
            "too_large",
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise Refused(413, f"body exceeds the limit of {max_bytes:,} bytes; split the batch", "body", "too_large")
        chunks.append(chunk)
    return b"".join(chunks)


def _decode(body: bytes, service: ServiceState) -> Submission:
    limits = service.settings.limits
    try:
        doc = decode_json(body, limits.max_nesting)
        batch = decode_batch(doc, service.targets.names, limits)
        service.targets.check(batch)
    except RequestError as exc:
        raise Refused.invalid(exc) from None
    return Submission(doc, batch)


NewSubmission = Annotated[Submission | None, Depends(new_submission)]


def check_quota(service: Service, key_id: KeyId, submission: NewSubmission) -> Submission | None:
    """``submission``, once it fits the key's daily quotas of jobs and shots (429 with ``Retry-After`` otherwise).

    A plain function: FastAPI runs it in a worker thread, as it reads the store.
    """
    if submission is None:
        return None
    settings, now = service.settings, time.time()
    jobs, spent, oldest = service.store.usage(key_id, now - QUOTA_WINDOW_S)
    for limit, used, more, what in (
        (settings.jobs_per_day, jobs, 1, "jobs"),
        (settings.shots_per_day, spent, submission.batch.requested_shots, "shots"),
    ):
        if limit is not None and used + more > limit:
            raise quota_refusal(what, limit, used, more, oldest, now)
    return submission


def quota(service: ServiceState, now: float) -> Quota | None:
    """The daily quotas the store enforces again when it inserts the job (atomically across API processes)."""
    settings = service.settings
    if settings.jobs_per_day is None and settings.shots_per_day is None:
        return None
    return Quota(now - QUOTA_WINDOW_S, settings.jobs_per_day, settings.shots_per_day)


def quota_refusal(what: str, limit: int, used: int, more: int, oldest: float | None, now: float) -> Refused:
    """The 429 for a batch that would exceed the daily quota of ``what``."""
    retry = max(1, math.ceil((oldest or now) + QUOTA_WINDOW_S - now))
    return Refused(
        429,
        f"daily quota of {limit:,} {what} for this key would be exceeded ({used:,} used in "
        f"the last 24 h, this batch needs {more:,}); retry after {retry} s or ask for a larger "
        "quota",
        "quota",
        "quota",
        {"Retry-After": str(retry)},
    )


WithinQuota = Annotated[Submission | None, Depends(check_quota)]


async def own_job(job_id: str, service: Service, key_id: KeyId) -> JobRecord:
    """Job ``job_id`` of the caller's key (404 when there is none: another key's job is not found either)."""
    job = await run_in_threadpool(service.store.get, job_id, key_id)
    if job is None:
        raise Refused(404, f"no job {job_id[:40]} for this key", "job_id", "not_found")
    return job


OwnJob = Annotated[JobRecord, Depends(own_job)]
