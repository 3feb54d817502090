"""Liveness, readiness and Prometheus metrics: ``GET /healthz``, ``/readyz``, ``/metrics`` (no key needed)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from qjax.serve.dependencies import Service
from qjax.serve.metrics import CONTENT_TYPE_LATEST

__all__ = ["router"]

router = APIRouter()


# The process is up.
@router.get("/healthz")
async def healthz():
    return {"status": "ok"}


# Ready when the database answers and this process's worker threads are alive, with the heartbeat that renews their
# leases; 503 otherwise (an API-only process serves without its heartbeat: others free dead workers' jobs). It also
# reports the live processes of the whole service as the store sees them (every process beats into it).
@router.get("/readyz")
async def readyz(service: Service):
    db = await run_in_threadpool(service.store.ping)
    processes = await run_in_threadpool(service.store.processes) if db else []
    alive = sum(1 for w in service.workers if w.alive)
    beating = service.heartbeat.alive
    ready = db and (alive == len(service.workers)) and (beating or not service.workers)
    return JSONResponse(
        {
            "status": "ready" if ready else "not ready",
            "database": db,
            "store": service.store.engine.dialect.name,
            "role": service.settings.role,
            "workers": alive,
            "heartbeat": beating,
            "targets": list(service.settings.targets),
            # what one job may ask for: a client sizes its final evaluation's shots by max_shots
            "limits": {
                "max_qubits": service.settings.limits.max_qubits,
                "max_batch": service.settings.limits.max_batch,
                "max_shots": service.settings.limits.max_shots,
            },
            "live_workers": sum(p["workers"] for p in processes),
            "live_processes": [
                {
                    "role": p["role"],
                    "host": p["host"],
                    "pid": p["pid"],
                    "workers": p["workers"],
                    "targets": p["targets"],
                }
                for p in processes
            ],
        },
        status_code=200 if ready else 503,
    )


# The service's metrics in Prometheus' text format.
@router.get("/metrics")
async def metrics_text(service: Service):
    return Response(await run_in_threadpool(service.metrics.render), media_type=CONTENT_TYPE_LATEST)
