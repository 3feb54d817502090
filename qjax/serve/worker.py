"""Workers: take queued jobs from the store, run them through the executor protocol, store one result each.

Each worker is a thread that claims the oldest queued job of its targets with a
lease (:meth:`JobStore.claim_next`, atomic across processes) and builds (or reuses)
the executor of the batch's circuit on its target (for a ``samples`` batch, the
target's Sampler: its result is the counts of the outcomes that occurred and where
they were taken, ``sampled_on``). A backend whose job ids survive
a restart (IBM) gets the whole batch as ONE job, its id recorded before waiting; the
worker polls it and cancels it when the client cancels. Work this process does
itself (the simulators, fake devices) runs a chunk of parameter sets at a time
(:func:`~qjax.serve.targets.chunk_rows`: about 2 s of work, at most 1 GiB of
state), and a cancel stops it between chunks. The result is stored exactly once
(:meth:`JobStore.finish` is conditional on the job still running under this
worker, so a cancelled job, or one whose lease another worker took over, keeps no
late result).

Recovery needs no start-up step: the process's :class:`~qjax.serve.heartbeat.Heartbeat`
renews the leases its workers hold, and every process puts jobs with expired leases
back in the queue (:meth:`JobStore.release_expired`). The worker that claims such a
job next re-attaches to its recorded backend job (IBM), or runs it again when there
is none (simulated work) or the backend no longer knows it.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from qjax.backends.executor import Evaluation
from qjax.errors import QjaxError
from qjax.serve import logs
from qjax.serve.store import JobRecord, JobStore
from qjax.serve.targets import USD_PER_QPU_SECOND, Targets, chunk_rows, sampled_on
from qjax.wire import Batch, Limits, RequestError, decode_batch

__all__ = ["Worker", "job_facts"]

_FINAL = ("done", "error", "cancelled")


def job_facts(executor, batch: Batch) -> dict:
    """What the status page shows of a job: device, depth and two-qubit gates as run."""
    described = executor.describe()
    transpiled = described.get("transpiled") or {}
    circuit = batch.circuit
    return {
        "device": described.get("device"),
        "depth": int(transpiled.get("depth", circuit.depth())),
        "two_qubit_gates": int(
            transpiled.get("two_qubit_gates", sum(1 for op in circuit.operations if len(op.wires) == 2))
        ),
        "num_qubits": circuit.num_wires,
        "batch": int(batch.params.shape[0]),
    }


class Worker:
    """One worker thread; ``poll_s`` is how often an idle worker looks at the queue and a busy one at its job."""

    def __init__(
        self,
        name: str,
        store: JobStore,
        targets: Targets,
        metrics=None,
        *,
        limits: Limits = Limits(),
        poll_s: float = 0.05,
        job_timeout_s: float = 3600.0,
        wakeup: threading.Event | None = None,
        on_end=None,
    ):
        self.name, self.store, self.targets, self.metrics = name, store, targets, metrics
        self.limits, self.poll_s, self.job_timeout_s = limits, poll_s, job_timeout_s
        # set by the API when it accepts a job, so an idle worker starts at once rather than at its next poll
        self.wakeup = wakeup if wakeup is not None else threading.Event()
        self.on_end = on_end  # called with the job id whenever a job ends (long-polls wake up)
        self.claim_targets: tuple[str, ...] = tuple(targets.names)  # jobs of other targets are for other workers
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Worker:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.wakeup.clear()  # before looking at the queue: a job accepted after this sets it again
            try:
                busy = self.run_once()
            except Exception as exc:  # noqa: BLE001 - the store itself failed (disk, lock): wait and go on
                logs.log.error("%s: job store error (%s: %s)", self.name, type(exc).__name__, exc)
                busy = False
            if not busy:
                self.wakeup.wait(self.poll_s)

    def run_once(self) -> bool:
        """Claim and run one queued job; ``False`` when the queue was empty."""
        job = self.store.claim_next(self.name, self.claim_targets)
        if job is None:
            return False
        self.run(job)
        return True

    def run(self, job: JobRecord) -> None:
        """Run a claimed (``running``) job to its one stored result or error."""
        token = logs.request_id.set(job.request_id or "-")
        target = job.target
        try:
            if self.metrics is not None and job.queue_s is not None:
                self.metrics.queue_seconds.labels(target).observe(max(job.queue_s, 0.0))
            started = time.monotonic()
            try:
                result = self._execute(job)
            except (QjaxError, RequestError) as exc:
                self._fail(job, str(exc))
                return
            except Exception as exc:  # noqa: BLE001 - the backend broke; the client gets a safe message
                logs.log.error("job %s on %s failed: %s: %s", job.id, target, type(exc).__name__, exc)
                self._fail(job, f"the backend failed ({type(exc).__name__}); the job can be submitted again")
                return
            if result is None:  # cancelled while it ran, or its lease went to another worker
                self._ended(target, "cancelled")
                return
            if self.store.finish(job.id, result, self.name):
                run_s = time.monotonic() - started
                logs.log.info("job %s done on %s in %.3f s (%d parameter sets)", job.id, target, run_s, result["batch"])
                if self.metrics is not None:
                    self.metrics.run_seconds.labels(target).observe(run_s)
                    self.metrics.shots.labels(target).inc(result["shots"])
                    self.metrics.qpu_seconds.labels(target).inc(result["qpu_seconds"])
                self._ended(target, "done")
            else:
                self._ended(target, "cancelled")
        finally:
            logs.request_id.reset(token)
            if self.on_end is not None:
                self.on_end(job.id)

    def _ended(self, target: str, status: str) -> None:
        if self.metrics is not None:
            self.metrics.ended.labels(target, status).inc()
            if status == "failed":
                self.metrics.errors.labels(target).inc()

    def _fail(self, job: JobRecord, message: str) -> None:
        logs.log.warning("job %s failed: %s", job.id, message)
        self._ended(job.target, "failed" if self.store.fail(job.id, message, self.name) else "cancelled")

    def _execute(self, job: JobRecord) -> dict | None:
        """The job's result document, or ``None`` when it was cancelled while it ran."""
        batch = decode_batch(job.payload, self.targets.names, self.limits)
        sampling = batch.kind == "samples"
        executor = self.targets.sampler(batch) if sampling else self.targets.executor(batch)
        if executor.persistent_ids:
            evaluations = self._run_remote(job, executor, batch)
        else:
            evaluations = self._run_in_chunks(job, executor, batch)
        if evaluations is None:
            return None
        ev, job_ids = _joined([e for e, _ in evaluations]), [i for _, i in evaluations]
        facts = job_facts(executor, batch)
        if sampling:  # counts of the 2**n outcomes, sent as the [outcome, count] pairs that occurred
            counts = np.asarray(ev.values, dtype=float)[0]
            seen = np.flatnonzero(counts)
            what: dict = {
                "kind": "samples",
                "counts": [[int(i), int(round(counts[i]))] for i in seen],
                "num_wires": batch.circuit.num_wires,
                "sampled_on": sampled_on(batch, executor),
            }
        else:
            what = {
                "values": np.asarray(ev.values, dtype=float).tolist(),
                "stds": np.asarray(ev.stds, dtype=float).tolist(),
                "unmitigated": None if ev.unmitigated is None else np.asarray(ev.unmitigated, dtype=float).tolist(),
            }
        return {
            **what,
            "shots": int(ev.shots),
            "qpu_seconds": float(ev.qpu_seconds),
            "estimated_cost_usd": round(float(ev.qpu_seconds) * USD_PER_QPU_SECOND, 4)
            if batch.target in ("ibm", "ibm_fake")
            else 0.0,
            "backend_job_id": job_ids[0],
            "backend_jobs": len(job_ids),
            **facts,
        }

    def _run_remote(self, job: JobRecord, executor, batch: Batch) -> list | None:
        """A backend job that survives restarts (IBM): ONE job, its id recorded before waiting, re-attached after a
        restart; polling it notices a cancel."""
        handle = None
        if job.remote_id is not None:
            handle = executor.attach(job.remote_id)
            logs.log.info(
                "job %s: %s backend job %s", job.id, "re-attached to" if handle else "cannot re-attach", job.remote_id
            )
        if handle is None:
            handle = executor.submit(batch.params)
            self.store.set_remote_id(job.id, handle.job_id)  # committed before waiting
        ev = self._wait(job, handle, time.monotonic() + self.job_timeout_s, keep_if_lost=True)
        return None if ev is None else [(ev, handle.job_id)]

    def _run_in_chunks(self, job: JobRecord, executor, batch: Batch) -> list | None:
        """Work this process does itself (the simulators, fake devices), a chunk of parameter sets at a time
        (:func:`~qjax.serve.targets.chunk_rows`): a simulated chunk runs inside ``submit``, so a cancel is seen
        between chunks, within one chunk's time, and nothing of a cancelled job is kept."""
        rows, params = chunk_rows(batch), batch.params
        deadline, out = time.monotonic() + self.job_timeout_s, []
        for start in range(0, len(params), rows):
            if self._cancelled(job):
                return None
            if time.monotonic() > deadline:
                raise QjaxError(f"the job did not finish within {self.job_timeout_s:g} s")
            chunk = params[start : start + rows]
            real = len(chunk)
            if start > 0 and real < rows:  # the last chunk, padded: the compiled function keeps its one shape
                chunk = np.concatenate([chunk, np.repeat(chunk[:1], rows - real, axis=0)])
            handle = executor.submit(chunk)
            ev = self._wait(job, handle, deadline)
            if ev is None:
                return None
            out.append((_first_rows(ev, real, len(chunk)), handle.job_id))
        return None if self._cancelled(job) else out

    def _cancelled(self, job: JobRecord) -> bool:
        """The job was cancelled, or is no longer this worker's (its lease expired and it went back to the queue)."""
        return not self.store.holds(job.id, self.name)

    def _lost(self, job: JobRecord) -> bool:
        """The job is not cancelled but another worker has it (or will): its backend job must go on."""
        current = self.store.get(job.id)
        return current is not None and current.status != "cancelled"

    def _wait(self, job: JobRecord, handle, deadline: float, keep_if_lost: bool = False):
        """The evaluation of ``handle`` once it ends; ``None`` (backend job cancelled too) if ``job`` was cancelled."""
        while (status := handle.status()) not in _FINAL:
            if self._cancelled(job):
                if not (keep_if_lost and self._lost(job)):  # a re-attachable backend job another worker takes on
                    handle.cancel()
                return None
            if time.monotonic() > deadline:
                handle.cancel()
                raise QjaxError(f"the backend did not finish within {self.job_timeout_s:g} s")
            time.sleep(self.poll_s)
        if status == "cancelled":
            if self._cancelled(job):
                return None
            raise QjaxError("the backend cancelled the job")
        return handle.result()


def _first_rows(ev: Evaluation, rows: int, of: int) -> Evaluation:
    """``ev`` of its first ``rows`` parameter sets (of ``of``: the rest padded the chunk); shots and time pro rata."""
    if rows == of:
        return ev

    def cut(a):
        return None if a is None else np.asarray(a)[:rows]

    return Evaluation(
        cut(ev.values), cut(ev.stds), cut(ev.unmitigated), int(ev.shots) * rows // of, float(ev.qpu_seconds) * rows / of
    )


def _joined(evaluations: list[Evaluation]) -> Evaluation:
    """One evaluation of chunks' evaluations, in order."""
    if len(evaluations) == 1:
        return evaluations[0]

    def stack(field: str) -> np.ndarray:
        return np.concatenate([np.asarray(getattr(e, field)) for e in evaluations])

    unmitigated = stack("unmitigated") if all(e.unmitigated is not None for e in evaluations) else None
    return Evaluation(
        stack("values"),
        stack("stds"),
        unmitigated,
        sum(int(e.shots) for e in evaluations),
        sum(float(e.qpu_seconds) for e in evaluations),
    )
