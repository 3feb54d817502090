"""The executor boundary: evaluate observables of one circuit at a batch of parameter sets.

An :class:`Executor` is bound to one circuit and its observables when it is built
(hardware executors transpile there, once per run). Its one verb is
:meth:`Executor.submit`: a ``(B, P)`` batch of parameter sets goes out as ONE job
and comes back as an :class:`Evaluation` of ``(B, k)`` expectation values. Jobs are
asynchronous (:class:`Job`); what waits on them, retries, falls back, journals and
caches is :class:`qjax.backends.jobs.JobRunner`, the same for every executor.

Implementations: the JAX statevector (:mod:`qjax.backends.simulator`) and
qiskit-ibm-runtime's Estimator on a fake or real IBM device
(:mod:`qjax.backends.runtime`). Nothing here imports Qiskit.
"""

from __future__ import annotations

import uuid
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

from qjax.ir.circuit import Circuit, Operation, Param

__all__ = ["Evaluation", "Job", "Executor", "DoneJob", "JOB_STATES", "angle_circuit", "runtime_job_state"]

#: What :meth:`Job.status` returns.
JOB_STATES = ("queued", "running", "done", "error", "cancelled")

#: qiskit-ibm-runtime's job statuses as :data:`JOB_STATES`.
_RUNTIME_STATES = {
    "INITIALIZING": "queued",
    "QUEUED": "queued",
    "VALIDATING": "queued",
    "RUNNING": "running",
    "DONE": "done",
    "ERROR": "error",
    "CANCELLED": "cancelled",
}


def runtime_job_state(raw) -> str:
    """A qiskit-ibm-runtime job status (enum or string) as one of :data:`JOB_STATES` (unknown: running)."""
    return _RUNTIME_STATES.get(str(getattr(raw, "name", raw)).upper(), "running")


class Evaluation(NamedTuple):
    """One job's answer.

    ``values (B, k)``: (mitigated) expectation values, row b for parameter set b;
    ``stds (B, k)``: their standard errors (zeros when exact); ``unmitigated (B, k)``
    or ``None``: the same without mitigation when the job measured it (ZNE's noise
    factor 1); ``shots``: shots the job spent; ``qpu_seconds``: reported or estimated
    device time.
    """

    values: np.ndarray
    stds: np.ndarray
    unmitigated: np.ndarray | None = None
    shots: int = 0
    qpu_seconds: float = 0.0


@runtime_checkable
class Job(Protocol):
    """A submitted batch. ``job_id`` is what ``jobs.jsonl`` records."""

    job_id: str

    def status(self) -> str:
        """One of :data:`JOB_STATES`."""

    def result(self) -> Evaluation:
        """The evaluation (call once :meth:`status` is ``done``); raises if the job failed."""

    def cancel(self) -> None:
        """Ask the backend to stop the job (best effort)."""


@runtime_checkable
class Executor(Protocol):
    """Runs one circuit's observables at batches of parameter sets.

    ``name``: the backend name; ``num_params``: P of a parameter set;
    ``num_observables``: k; ``persistent_ids``: job ids survive a restart of this
    process (real IBM jobs), so a recorded job can be re-attached instead of
    submitted again; ``shots``: per evaluation, ``None`` when exact.
    """

    # read-only members (properties), so an implementation may narrow them, e.g. ``shots: int``
    @property
    def name(self) -> str: ...

    @property
    def num_params(self) -> int: ...

    @property
    def num_observables(self) -> int: ...

    @property
    def persistent_ids(self) -> bool: ...

    @property
    def shots(self) -> int | None: ...

    def submit(self, params: np.ndarray, *, mitigate: bool = True) -> Job:
        """Send ``params (B, P)`` as one job; ``mitigate=False`` turns the configured mitigation off."""

    def attach(self, job_id: str) -> Job | None:
        """The job ``job_id`` if this executor can still reach it, else ``None``."""

    def planned_cost(self, batch_size: int, *, mitigate: bool = True) -> tuple[int, float]:
        """``(shots, qpu_seconds)`` a job of ``batch_size`` parameter sets will spend (an estimate)."""

    def fingerprint(self) -> str:
        """A digest of everything that fixes the results: circuit as run, observables, shots, mitigation, seed."""

    def describe(self) -> dict:
        """Facts for the run manifest: device, transpiled depth and gate counts, layout, calibration."""


class DoneJob:
    """A job that finished when it was submitted (synchronous executors); ids are in-memory only."""

    def __init__(self, evaluation: Evaluation | None = None, error: Exception | None = None):
        self.job_id = f"local-{uuid.uuid4().hex[:12]}"
        self._evaluation, self._error = evaluation, error

    def status(self) -> str:
        return "error" if self._error is not None else "done"

    def result(self) -> Evaluation:
        if self._error is not None:
            raise self._error
        assert self._evaluation is not None, "a finished job has an evaluation or an error"
        return self._evaluation

    def cancel(self) -> None:
        pass


def angle_circuit(circuit: Circuit) -> Circuit:
    """``circuit`` with gate angle g replaced by the free parameter g (G parameters in all).

    Parameter shift differentiates gate occurrences, not the user's parameters: an
    executor runs this circuit at angle vectors ``A @ params + c (+ shifts)`` and the
    chain rule (``A.T``) maps the result back, so shared parameters need nothing
    special. Data inputs must be bound first (they are part of ``c``).
    """
    ops, g = [], 0
    for op in circuit.operations:
        angles = tuple(Param(g + j) for j in range(len(op.angles)))
        ops.append(Operation(op.gate, op.wires, angles, op.matrix))
        g += len(op.angles)
    return Circuit(circuit.num_wires, tuple(ops), num_params=g)
