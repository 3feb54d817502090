"""A service process's heartbeat: it renews its workers' leases, announces the process, frees dead workers' jobs.

Every :attr:`~qjax.serve.store.JobStore.lease_s` / 4 seconds one thread per process
(API, worker or both):

1. renews the leases of the jobs its worker threads hold (:meth:`JobStore.renew`), so a
   long job keeps its claim while its process lives, and loses it within one lease
   once the process dies (kill -9, its machine gone);
2. records the process as alive (:meth:`JobStore.beat`): ``/readyz`` counts the live
   workers of every process through this;
3. puts jobs whose leases expired back in the queue, or fails them after
   :data:`~qjax.serve.store.MAX_ATTEMPTS` (:meth:`JobStore.release_expired`); any
   number of processes may do this at once.

A process name is unique per start: ``host:pid:random``; its worker threads are
``<process>/w<i>``.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable, Sequence

from qjax.serve import logs
from qjax.serve.store import JobStore

__all__ = ["Heartbeat", "process_name"]


def process_name() -> str:
    """A name for this process that no other process, here or elsewhere, has had: ``host:pid:random``."""
    return f"{os.uname().nodename[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


class Heartbeat:
    """The heartbeat thread of process ``name`` (role ``api``, ``worker`` or ``all``) whose worker threads are
    ``workers`` (their names); ``on_released(job_id)`` is told of each job it puts back or fails."""

    def __init__(
        self,
        store: JobStore,
        name: str,
        *,
        role: str,
        workers: Sequence[str],
        targets: Sequence[str],
        on_released: Callable[[str], None] | None = None,
        every_s: float | None = None,
    ):
        self.store, self.name, self.role = store, name, role
        self.workers, self.targets, self.on_released = tuple(workers), tuple(targets), on_released
        self.every_s = store.lease_s / 4 if every_s is None else every_s
        self.started_at = time.time()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.beats = 0

    def beat(self) -> None:
        """One beat (the thread calls it every :attr:`every_s`)."""
        self.store.renew(self.workers)
        self.store.beat(
            self.name, role=self.role, workers=len(self.workers), targets=self.targets, started_at=self.started_at
        )
        released = self.store.release_expired()
        for kind, ids in released.items():
            for job_id in ids:
                logs.log.warning("job %s: its worker's lease expired; %s", job_id, _WHAT[kind])
                if self.on_released is not None:
                    self.on_released(job_id)
        self.beats += 1

    def start(self) -> Heartbeat:
        self.beat()  # the process is visible (and its first look at expired leases done) before it serves
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat {self.name}", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.beat()
            except Exception as exc:  # noqa: BLE001 - the database is away for a moment: beat again later
                logs.log.error("heartbeat: job store error (%s: %s)", type(exc).__name__, exc)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop beating and leave the process table (a stopped process's jobs have ended or lose their lease)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        try:
            self.store.leave(self.name)
        except Exception as exc:  # noqa: BLE001 - stopping anyway
            logs.log.warning("heartbeat: could not leave the process table (%s)", type(exc).__name__)


_WHAT = {
    "requeued": "back in the queue, to run again",
    "reattach": "back in the queue; the next worker re-attaches to its backend job",
    "failed": "failed: its workers stopped too often while running it",
}
