"""The jobs API (``/v1/jobs``): submit, status with long-poll, cancel, list. Every route needs an API key.

:func:`router` builds the route table for one service: the body of ``POST /v1/jobs``
is described in ``/openapi.json`` by a JSON Schema of that service's targets and
limits (:func:`~qjax.serve.openapi.batch_schema`); the service reads and validates
the body itself (:data:`~qjax.serve.dependencies.NewSubmission`).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from qjax.serve import logs
from qjax.serve.dependencies import (
    IdempotencyKey,
    KeyId,
    OwnJob,
    PreviousJob,
    Service,
    WithinQuota,
    quota,
    quota_refusal,
)
from qjax.serve.openapi import batch_schema
from qjax.serve.refusal import Refused, error_response
from qjax.serve.state import Settings
from qjax.serve.store import STATUSES, JobRecord, QuotaExceeded
from qjax.wire import RequestError

__all__ = ["router", "job_json"]

# Long-polls look at the store at least this often (a job ended by another process wakes no one here).
_POLL_S = 1.0


def router(settings: Settings) -> APIRouter:
    """The jobs routes of a service run with ``settings``."""
    body = {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": batch_schema(settings.targets, settings.limits)}},
        }
    }
    jobs = APIRouter()
    jobs.add_api_route("/v1/jobs", submit, methods=["POST"], status_code=202, openapi_extra=body)
    jobs.add_api_route("/v1/jobs/{job_id}", status, methods=["GET"])
    jobs.add_api_route("/v1/jobs/{job_id}/cancel", cancel, methods=["POST"])
    jobs.add_api_route("/v1/jobs", list_jobs, methods=["GET"])
    return jobs


def job_json(job: JobRecord, *, with_result: bool = True) -> dict:
    """What the API says of a job (never its key id)."""
    out: dict[str, Any] = {
        "id": job.id,
        "status": job.status,
        "target": job.target,
        "request_id": job.request_id,
        "idempotency_key": job.idempotency_key,
        "shots_requested": job.shots,
        "attempts": job.attempts,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "queue_s": job.queue_s,
        "run_s": job.run_s,
        "error": job.error,
    }
    if with_result:
        out["result"] = job.result
    return out


# Route functions carry comments, not docstrings: FastAPI publishes a docstring in /openapi.json.


# 202 with the new job; 200 with the earlier one when the Idempotency-Key repeats (the body is then not read).
async def submit(service: Service, key_id: KeyId, idem: IdempotencyKey, previous: PreviousJob, submission: WithinQuota):
    if previous is not None:
        return JSONResponse(job_json(previous, with_result=False) | {"created": False}, status_code=200)
    assert submission is not None  # there is a new submission whenever the request repeats no earlier one
    batch = submission.batch
    now = time.time()
    try:  # the quotas once more, counted and inserted atomically: another API process may have taken the last one
        job, created = await run_in_threadpool(
            service.store.submit,
            key_id=key_id,
            payload=submission.doc,
            target=batch.target,
            shots=batch.requested_shots,
            idempotency_key=idem,
            request_id=logs.request_id.get(),
            quota=quota(service, now),
        )
    except QuotaExceeded as exc:
        raise quota_refusal(exc.what, exc.limit, exc.used, exc.more, exc.oldest, now) from None
    if created:
        service.wakeup.set()
        service.metrics.submitted.labels(job.target).inc()
        logs.log.info(
            "job %s accepted: %s, %d parameter set(s), key %s", job.id, job.target, batch.params.shape[0], key_id[:8]
        )
    return JSONResponse(job_json(job, with_result=False) | {"created": created}, status_code=202 if created else 200)


# ?wait=s long-polls: answers once the job has ended or s seconds have passed.
async def status(service: Service, key_id: KeyId, job: OwnJob, wait: float = 0.0):
    if not 0 <= wait <= service.settings.max_wait_s:
        raise Refused.invalid(
            RequestError("wait", f"must be between 0 and {service.settings.max_wait_s:g} seconds", 422)
        )
    deadline = time.monotonic() + wait
    # woken when a worker of this process ends the job; the poll interval catches any other change (in an API-only
    # process, every job ends in another process: it looks more often)
    every = _POLL_S if service.workers else service.settings.poll_s
    while job.status in ("queued", "running") and time.monotonic() < deadline:
        await service.events.wait(job.id, min(every, max(deadline - time.monotonic(), 0)))
        job = await _job(service, job.id, key_id)
    return job_json(job)


# 409 once the job has ended (its result stays).
async def cancel(service: Service, key_id: KeyId, job: OwnJob):
    if not await run_in_threadpool(service.store.cancel, job.id, key_id):
        job = await _job(service, job.id, key_id)
        return error_response(409, f"job {job.id} has already ended ({job.status}); its result stays", "job_id")
    service.metrics.ended.labels(job.target, "cancelled").inc()
    service.events.ended(job.id)
    return job_json(await _job(service, job.id, key_id), with_result=False)


async def _job(service, job_id: str, key_id: str) -> JobRecord:
    """A job known to exist (jobs are never deleted)."""
    job = await run_in_threadpool(service.store.get, job_id, key_id)
    assert job is not None
    return job


# The caller's recent jobs, newest first.
async def list_jobs(service: Service, key_id: KeyId, status: str | None = None, limit: int = 50):
    if status is not None and status not in STATUSES:
        raise Refused.invalid(RequestError("status", f"must be one of {', '.join(STATUSES)}"))
    if not 1 <= limit <= 500:
        raise Refused.invalid(RequestError("limit", "must be between 1 and 500"))
    jobs = await run_in_threadpool(service.store.list, key_id, limit, status)
    return {"jobs": [job_json(j, with_result=False) for j in jobs]}
