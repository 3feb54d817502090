"""What one service holds: its :class:`Settings`, and the :class:`ServiceState` its requests share.

:func:`~qjax.serve.app.create_app` builds one :class:`ServiceState` and keeps it on
``app.state.service``; routes reach it through the :data:`~qjax.serve.dependencies.Service`
dependency, never through module globals, so several apps (tests) live side by side.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

from qjax.serve.auth import KeyRing, RateLimiter, SharedRateLimiter
from qjax.serve.heartbeat import Heartbeat, process_name
from qjax.serve.metrics import Metrics
from qjax.serve.store import DEFAULT_LEASE_S, JobStore
from qjax.serve.targets import Targets
from qjax.serve.worker import Worker
from qjax.wire import Limits

__all__ = ["Settings", "ServiceState", "JobEvents", "QUOTA_WINDOW_S", "ROLES"]

#: What a process of the service does: answer the API, run jobs, or both (one process alone).
ROLES = ("all", "api", "worker")

#: Daily quotas count the jobs and shots of the last 24 hours; so does the status page's table per target.
QUOTA_WINDOW_S = 86400.0


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
    role: str = "all"  # api: no workers; worker: no API routes (health and metrics only)
    lease_s: float = DEFAULT_LEASE_S  # a claimed job goes back to the queue this long after its worker's last beat
    shared_rate_limit: bool = True  # the token buckets live in the store (every API process shares them)


class JobEvents:
    """Wakes long-polls when a job ends: workers (threads) call :meth:`ended`, requests await :meth:`wait`."""

    def __init__(self):
        self.loop: asyncio.AbstractEventLoop | None = None  # the app's, set when it starts
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
        """Return when job ``job_id`` ends, or after ``timeout`` seconds."""
        future = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(job_id, set()).add(future)
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            pass
        finally:
            waiting = self._waiters.get(job_id)
            if waiting is not None:
                waiting.discard(future)
                if not waiting:
                    self._waiters.pop(job_id, None)


@dataclass(frozen=True)
class ServiceState:
    """The parts of one service process that its requests share: store, targets, metrics, rate limiter, workers.

    ``wakeup`` is set when a job is accepted (idle workers of this process start at once);
    ``events`` tells long-polls that a job ended. Workers and the heartbeat start and stop
    with the app (its lifespan).
    """

    settings: Settings
    keys: KeyRing | None
    store: JobStore
    targets: Targets
    metrics: Metrics
    limiter: RateLimiter | SharedRateLimiter
    events: JobEvents
    wakeup: threading.Event
    workers: tuple[Worker, ...]
    heartbeat: Heartbeat

    @classmethod
    def create(cls, settings: Settings, keys: KeyRing | None, *, run_workers: bool = True) -> ServiceState:
        """Open the store and build everything ``settings`` asks for; ``run_workers=False`` or role ``api``: no
        workers. ``keys`` may be ``None`` for role ``worker`` (it serves no API)."""
        store = JobStore(settings.db_url, lease_s=settings.lease_s)
        targets = Targets(settings.targets, limits=settings.limits)
        metrics = Metrics(lambda: store.counts()["queued"])
        events, wakeup = JobEvents(), threading.Event()
        name = process_name()
        run_workers = run_workers and settings.role != "api"
        workers = tuple(
            Worker(
                f"{name}/w{i}",
                store,
                targets,
                metrics,
                limits=settings.limits,
                poll_s=settings.poll_s,
                wakeup=wakeup,
                on_end=events.ended,
            )
            for i in range(settings.workers if run_workers else 0)
        )
        limiter: RateLimiter | SharedRateLimiter = (
            SharedRateLimiter(store.take_token, settings.rate, settings.burst)
            if settings.shared_rate_limit
            else RateLimiter(settings.rate, settings.burst)
        )
        heartbeat = Heartbeat(
            store,
            name,
            role=settings.role,
            workers=[w.name for w in workers],
            targets=settings.targets,
            on_released=events.ended,
        )
        return cls(settings, keys, store, targets, metrics, limiter, events, wakeup, workers, heartbeat)
