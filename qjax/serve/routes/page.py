"""``GET /``: the status page (HTML, no key needed; :mod:`qjax.serve.page` renders it)."""

from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from qjax.serve.dependencies import Service
from qjax.serve.page import render_status_page
from qjax.serve.state import QUOTA_WINDOW_S, ServiceState

__all__ = ["router"]

router = APIRouter()


# Job counts by status and by target; every key's recent jobs only with ``Settings.public_jobs``.
@router.get("/", response_class=HTMLResponse)
async def page(service: Service):
    return HTMLResponse(await run_in_threadpool(_render, service))


def _render(service: ServiceState) -> str:
    store, settings = service.store, service.settings
    recent = store.list(limit=50) if settings.public_jobs else None
    return render_status_page(
        store.counts(),
        store.counts_by_target(time.time() - QUOTA_WINDOW_S),
        recent,
        targets=settings.targets,
        workers=len(service.workers),
    )
