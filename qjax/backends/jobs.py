"""Run control for executors: journal, wait, retry, fall back, budget and cache.

:class:`JobRunner` is the one place where jobs are sent. For every batch it:

1. serves it from the result cache when the same executor (same transpiled
   circuit, observables, shots, mitigation and seed) already evaluated the same
   parameters, in this process or a previous one;
2. re-attaches to a job that a previous process submitted for it and did not see
   finish (``jobs.jsonl``), where the executor's job ids survive a restart (IBM);
   elsewhere it submits again and records ``resubmitted``;
3. refuses, with :class:`~qjax.errors.BudgetExceeded`, a job that would cross
   ``budget.*`` (before sending it);
4. submits, writes the job id to ``jobs.jsonl`` *before* waiting, polls the
   status until done or ``timeout_s``;
5. retries a failed, timed-out or partial job with exponential backoff, up to
   ``retries`` times, then falls back to the next backend of the chain, loudly;
   when the chain is exhausted it raises :class:`~qjax.errors.BackendUnavailable`.

Every step of that goes to ``events.jsonl`` with a timestamp. Both files and the
cache live in the run's checkpoint directory, where resumable state lives.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from qjax.backends.executor import Evaluation, Executor, Job
from qjax.errors import BackendError, BackendUnavailable, BudgetExceeded

__all__ = [
    "RunControl",
    "Budget",
    "JobRunner",
    "JobFailed",
    "JOBS_FILE",
    "EVENTS_FILE",
    "CACHE_DIR",
    "SECONDS_PER_SHOT",
]

log = logging.getLogger("qjax")

JOBS_FILE, EVENTS_FILE, CACHE_DIR = "jobs.jsonl", "events.jsonl", "cache"

#: Device time one shot costs, roughly (IBM's default repetition delay): the ``qpu_seconds``
#: estimate of a job on IBM hardware or a fake device, which ``budget.max_qpu_seconds`` is checked against.
SECONDS_PER_SHOT = 250e-6


# Errors that say the request is malformed, not that the backend is unwell: never retried.
_REFUSALS = (TypeError, ValueError, AttributeError, KeyError, NotImplementedError)


class JobFailed(Exception):
    """A job ended in error, timed out or returned an incomplete result (retried by the runner)."""


@dataclass(frozen=True)
class Budget:
    """Spending limits of a run (``None`` = unlimited), over all its invocations."""

    max_shots: int | None = None
    max_jobs: int | None = None
    max_qpu_seconds: float | None = None


@dataclass(frozen=True)
class RunControl:
    """How to wait for and retry jobs: ``timeout_s`` per job, ``retries`` with ``backoff_s · 2**attempt``."""

    timeout_s: float = 600.0
    retries: int = 3
    backoff_s: float = 2.0
    poll_s: float = 0.2
    budget: Budget = Budget()

    @classmethod
    def with_budget(cls, budget=None, **control) -> "RunControl":
        """``control`` values plus a ``budget`` config (``max_shots``, ``max_jobs``, ``max_qpu_seconds``, or None)."""
        limits = (getattr(budget, k, None) for k in ("max_shots", "max_jobs", "max_qpu_seconds"))
        return cls(**control, budget=Budget(*limits))


def _now() -> str:
    t = time.time()  # read once: seconds and milliseconds of the same instant
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


class _JsonLines:
    """An append-only JSON-lines file, flushed and fsync-ed per line (a kill -9 keeps every line)."""

    def __init__(self, path: Path | None):
        self.path = path

    def append(self, row: dict) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+b") as f:
            f.seek(0, os.SEEK_END)
            if f.tell():  # a line cut by a crash mid-write must not swallow this row
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    f.write(b"\n")
            f.write((json.dumps(row, default=float) + "\n").encode())
            f.flush()
            os.fsync(f.fileno())

    def read(self) -> list[dict]:
        if self.path is None or not self.path.exists():
            return []
        rows = []
        for line in self.path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by a crash mid-write
                continue
        return rows


class _ResultCache:
    """Evaluations by request key: in memory, and as ``.npz`` files under ``directory``."""

    def __init__(self, directory: Path | None):
        self.directory = directory
        self._memory: dict[str, Evaluation] = {}

    def get(self, key: str) -> Evaluation | None:
        if key in self._memory:
            return self._memory[key]
        path = self.directory / f"{key}.npz" if self.directory else None
        if path is None or not path.exists():
            return None
        try:
            with np.load(path) as data:
                unmitigated = data["unmitigated"] if "unmitigated" in data.files else None
                ev = Evaluation(
                    data["values"], data["stds"], unmitigated, int(data["shots"]), float(data["qpu_seconds"])
                )
        except Exception:  # noqa: BLE001 - a truncated or corrupt file (BadZipFile, EOFError, ...) is a miss
            return None
        self._memory[key] = ev
        return ev

    def put(self, key: str, ev: Evaluation) -> None:
        self._memory[key] = ev
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        arrays = {"values": ev.values, "stds": ev.stds, "shots": ev.shots, "qpu_seconds": ev.qpu_seconds}
        if ev.unmitigated is not None:
            arrays["unmitigated"] = ev.unmitigated
        tmp = self.directory / f"{key}.tmp.npz"
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.directory / f"{key}.npz")


class JobRunner:
    """Sends batches through a chain of executors; see the module docstring.

    ``chain``: ``(backend name, factory)`` pairs, the configured backend first,
    then ``backend.fallback`` in order; factories are called when first needed.
    ``state_dir``: the checkpoint directory (``None`` keeps everything in memory).
    ``sleep`` is injectable so tests need not wait out backoffs.
    """

    def __init__(
        self,
        chain: Sequence[tuple[str, Callable[[], Executor]]],
        *,
        state_dir: str | None = None,
        control: RunControl = RunControl(),
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not chain:
            raise ValueError("JobRunner needs at least one executor")
        self._chain = list(chain)
        self._position = 0
        self.control, self._sleep = control, sleep
        root = Path(state_dir) if state_dir else None
        self.journal = _JsonLines(root / JOBS_FILE if root else None)
        self.events = _JsonLines(root / EVENTS_FILE if root else None)
        self.cache = _ResultCache(root / CACHE_DIR if root else None)
        self.step: int | str | None = None  # "final": the final evaluation and samples
        self.num_jobs = 0
        self.shots_total = 0
        self.qpu_seconds = 0.0
        self.job_ids: list[str] = []
        self.fallbacks: list[dict] = []
        self._spent = self._spent_so_far()
        try:
            self.executor: Executor = self._chain[0][1]()
        except BackendUnavailable as exc:  # e.g. IBM Quantum unreachable: the chain says where to go instead
            self._fall_back(str(exc))

    @property
    def backend(self) -> str:
        return self._chain[self._position][0]

    # -- bookkeeping ---------------------------------------------------------------

    def _spent_so_far(self) -> dict:
        """Jobs, shots and QPU seconds the run spent in earlier invocations (from ``jobs.jsonl``)."""
        spent = {"jobs": 0, "paid_jobs": 0, "shots": 0, "qpu_seconds": 0.0}
        for row in self.journal.read():
            if row.get("state") == "submitted":
                spent["jobs"] += 1
                spent["paid_jobs"] += bool(row.get("shots", 0) or row.get("qpu_seconds", 0.0))
                spent["shots"] += int(row.get("shots", 0))
                spent["qpu_seconds"] += float(row.get("qpu_seconds", 0.0))
        return spent

    def _event(self, event: str, **fields) -> None:
        self.events.append(
            {"time": _now(), "t": time.time(), "event": event, "backend": self.backend, "step": self.step, **fields}
        )

    def stats(self) -> dict:
        """This invocation's usage: ``num_jobs``, ``shots_total``, ``qpu_seconds``, ``job_ids``, ``fallbacks``."""
        return {
            "num_jobs": self.num_jobs,
            "shots_total": self.shots_total,
            "qpu_seconds": self.qpu_seconds,
            "job_ids": list(self.job_ids),
            "fallbacks": list(self.fallbacks),
            "backend": self.backend,
        }

    def totals(self) -> dict:
        """``jobs``, ``shots`` and ``qpu_seconds`` spent by the run over all its invocations."""
        return {k: v for k, v in self._spent.items() if k != "paid_jobs"}

    def request_key(self, params: np.ndarray, mitigate: bool) -> str:
        blob = (
            self.executor.fingerprint().encode()
            + np.ascontiguousarray(params, np.float64).tobytes()
            + bytes([mitigate])
        )
        return hashlib.sha256(blob).hexdigest()[:24]

    def _check_budget(self, shots: int, qpu_seconds: float) -> None:
        b, spent = self.control.budget, self._spent
        if not (shots or qpu_seconds):  # a free job (the JAX simulator as a fallback) spends no budget
            return
        for limit, used, more, what, key in (
            (b.max_jobs, spent["paid_jobs"], 1, "jobs", "budget.max_jobs"),
            (b.max_shots, spent["shots"], shots, "shots", "budget.max_shots"),
            (b.max_qpu_seconds, spent["qpu_seconds"], qpu_seconds, "QPU seconds (estimated)", "budget.max_qpu_seconds"),
        ):
            if limit is not None and used + more > limit:
                self._event("budget_stop", detail=f"{key}={limit}: {used:g} {what} spent, next job needs {more:g}")
                raise BudgetExceeded(
                    f"{key}={limit} would be exceeded by the next job ({used:g} {what} spent so far, it needs "
                    f"{more:g}); the run stopped before sending it. Raise {key} and rerun the same command to continue"
                )

    # -- the one entry point -----------------------------------------------------------

    def evaluate(
        self, params, *, purpose: str = "value", mitigate: bool = True, executor: Executor | None = None
    ) -> Evaluation:
        """Evaluate ``params (B, P)`` as one job (or from the cache); see the module docstring.

        ``executor``: send this one job through another executor of the same backend instead (e.g. a
        Sampler beside the Estimator), journalled, budgeted and counted like the rest; it does not fall
        back: when its retries are spent it raises :class:`~qjax.errors.BackendUnavailable`.
        """
        params = np.atleast_2d(np.asarray(params, dtype=np.float64))
        if executor is not None:
            own, self.executor = self.executor, executor
            try:
                return self._evaluate_here(params, purpose, mitigate)
            except JobFailed as exc:
                self._event("unavailable", purpose=purpose, detail=str(exc))
                raise BackendUnavailable(
                    f"{self.backend}: the {purpose} job failed ({exc}); rerun the same command later: "
                    "the run resumes from its checkpoint"
                ) from None
            finally:
                self.executor = own
        while True:
            try:
                return self._evaluate_here(params, purpose, mitigate)
            except JobFailed as exc:
                self._fall_back(str(exc))

    def _evaluate_here(self, params: np.ndarray, purpose: str, mitigate: bool) -> Evaluation:
        key = self.request_key(params, mitigate)
        cached = self.cache.get(key)
        if cached is not None:
            self._event("cache_hit", key=key, purpose=purpose)
            return cached
        job = self._recorded_job(key, purpose)
        attempt, last_error = 0, None
        while True:
            if job is None:
                if attempt > self.control.retries:
                    raise JobFailed(f"{self.backend}: {attempt} attempts failed; last error: {last_error}")
                if attempt:
                    delay = self.control.backoff_s * 2 ** (attempt - 1)
                    self._event("retried", key=key, purpose=purpose, attempt=attempt, delay_s=delay, detail=last_error)
                    log.warning(
                        "%s: retrying in %.1f s (attempt %d of %d) after: %s",
                        self.backend,
                        delay,
                        attempt,
                        self.control.retries,
                        last_error,
                    )
                    self._sleep(delay)
                job = self._submit(params, key, purpose, mitigate, attempt)
                attempt += 1
                if job is None:
                    last_error = self._last_submit_error
                    continue
            try:
                ev = self._wait(job, len(params), key)
            except JobFailed as exc:
                last_error = str(exc)
                job = None
                continue
            self.cache.put(key, ev)  # before the done row: a crash in between re-attaches rather than resubmits
            self.journal.append(
                {
                    "time": _now(),
                    "key": key,
                    "job_id": job.job_id,
                    "state": "done",
                    "backend": self.backend,
                    "step": self.step,
                }
            )
            return ev

    def _recorded_job(self, key: str, purpose: str) -> Job | None:
        """A job a previous invocation submitted for ``key`` and never saw finish, re-attached if possible."""
        rows = [r for r in self.journal.read() if r.get("key") == key]
        if not rows or rows[-1].get("state") != "submitted":
            return None
        job_id = rows[-1]["job_id"]
        job = self.executor.attach(job_id) if self.executor.persistent_ids else None
        if job is not None:
            self.job_ids.append(job_id)
            self._event("reattached", key=key, job_id=job_id, purpose=purpose)
            log.info("%s: re-attached to job %s (submitted before the restart)", self.backend, job_id)
            return job
        why = (
            "job ids of this backend do not survive a restart"
            if not self.executor.persistent_ids
            else "the backend no longer knows it"
        )
        self._event("resubmitted", key=key, job_id=job_id, purpose=purpose, detail=why)
        log.warning(
            "%s: job %s from before the restart cannot be re-attached (%s); submitting the step again",
            self.backend,
            job_id,
            why,
        )
        return None

    def _submit(self, params, key: str, purpose: str, mitigate: bool, attempt: int) -> Job | None:
        shots, qpu_seconds = self.executor.planned_cost(len(params), mitigate=mitigate)
        self._check_budget(shots, qpu_seconds)
        try:
            job = self.executor.submit(params, mitigate=mitigate)
        except _REFUSALS as exc:  # the job itself is wrong: sending it again cannot help
            self._event("refused", key=key, purpose=purpose, detail=f"{type(exc).__name__}: {exc}")
            raise BackendError(f"{self.backend} refused the job ({type(exc).__name__}: {exc})") from exc
        except Exception as exc:  # noqa: BLE001 - anything else may be transient: retried, then falls back
            self._last_submit_error = f"{type(exc).__name__}: {exc}"
            self._event("failed", key=key, purpose=purpose, attempt=attempt, detail=self._last_submit_error)
            return None
        # the id is on disk before we wait: a crash from here on re-attaches instead of resubmitting
        self.journal.append(
            {
                "time": _now(),
                "key": key,
                "job_id": job.job_id,
                "state": "submitted",
                "backend": self.backend,
                "step": self.step,
                "purpose": purpose,
                "attempt": attempt,
                "batch": len(params),
                "shots": shots,
                "qpu_seconds": qpu_seconds,
                "params": params.tolist() if params.size <= 4096 else None,
            }
        )
        self._event(
            "submitted", key=key, job_id=job.job_id, purpose=purpose, attempt=attempt, batch=len(params), shots=shots
        )
        self.num_jobs += 1
        self.shots_total += shots
        self.qpu_seconds += qpu_seconds
        self.job_ids.append(job.job_id)
        self._spent["jobs"] += 1
        self._spent["paid_jobs"] += bool(shots or qpu_seconds)
        self._spent["shots"] += shots
        self._spent["qpu_seconds"] += qpu_seconds
        return job

    def _wait(self, job: Job, batch: int, key: str) -> Evaluation:
        deadline = time.monotonic() + self.control.timeout_s
        seen = set()
        while True:
            detail: str | None
            try:
                state = job.status()
            except Exception as exc:  # noqa: BLE001 - a status call that fails is a transient error
                state, detail = "error", f"status check failed: {type(exc).__name__}: {exc}"
            else:
                detail = None
            if state in ("queued", "running") and state not in seen:
                seen.add(state)
                self._event(state, job_id=job.job_id, key=key)
            if state == "done":
                break
            if state in ("error", "cancelled"):
                if detail is None:
                    try:
                        job.result()
                        detail = f"job {state}"
                    except Exception as exc:  # noqa: BLE001
                        detail = f"{type(exc).__name__}: {exc}"
                self._event("failed", job_id=job.job_id, key=key, detail=detail)
                raise JobFailed(f"job {job.job_id} {state}: {detail}")
            if time.monotonic() >= deadline:
                self._event("timeout", job_id=job.job_id, key=key, detail=f"no result after {self.control.timeout_s} s")
                try:
                    job.cancel()
                except Exception:  # noqa: BLE001 - cancelling is best effort
                    pass
                # not pending any more: a restart must not re-attach to a job we gave up on
                self.journal.append(
                    {
                        "time": _now(),
                        "key": key,
                        "job_id": job.job_id,
                        "state": "cancelled",
                        "backend": self.backend,
                        "step": self.step,
                    }
                )
                raise JobFailed(f"job {job.job_id} timed out after {self.control.timeout_s} s (backend.timeout_s)")
            self._sleep(self.control.poll_s)
        try:
            ev = job.result()
        except Exception as exc:  # noqa: BLE001
            self._event("failed", job_id=job.job_id, key=key, detail=f"{type(exc).__name__}: {exc}")
            raise JobFailed(f"job {job.job_id} result could not be read: {exc}") from None
        expected = (batch, self.executor.num_observables)
        try:
            values = np.asarray(ev.values, dtype=float)
            stds = np.asarray(ev.stds, dtype=float)
        except (TypeError, ValueError):  # ragged rows
            values = stds = np.full((0,), np.nan)
        if values.shape != expected or stds.shape != expected or not np.all(np.isfinite(values)):
            detail = f"partial result: values of shape {values.shape} (expected {expected}) or not finite"
            self._event("failed", job_id=job.job_id, key=key, detail=detail)
            raise JobFailed(f"job {job.job_id}: {detail}")
        self._event("done", job_id=job.job_id, key=key, shots=ev.shots, qpu_seconds=ev.qpu_seconds)
        return ev._replace(values=values, stds=stds)

    def _fall_back(self, reason: str) -> None:
        failed = self.backend
        if self._position + 1 >= len(self._chain):
            self._event("unavailable", detail=reason)
            chain = " → ".join(name for name, _ in self._chain)
            raise BackendUnavailable(
                f"every backend of the chain ({chain}) failed; last error: {reason}. "
                "Set backend.fallback (e.g. [simulator]) or rerun later: the run resumes from its checkpoint"
            )
        self._position += 1
        name, factory = self._chain[self._position]
        try:
            self.executor = factory()
        except BackendUnavailable as exc:
            self._event("unavailable", detail=str(exc))
            return self._fall_back(f"{name}: {exc}")
        record = {"time": _now(), "step": self.step, "from": failed, "to": name, "reason": reason}
        self.fallbacks.append(record)
        self._event("fell_back", detail=f"{failed} → {name}: {reason}")
        log.warning(
            "!!! FALLBACK: backend %s is unavailable (%s); continuing on %s from step %s. "
            "Results from here on are NOT from %s.",
            failed,
            reason,
            name,
            self.step,
            failed,
        )
