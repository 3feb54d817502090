"""``backend.execution_mode``: how a run's jobs meet IBM's queue.

- ``job``: each job waits in the queue on its own (a 30-step run queues 30 times);
- ``batch``: the jobs are queued together (qiskit-ibm-runtime ``Batch``);
- ``session``: the device is held for the run between steps, so a step's job does not
  queue again (``Session``; IBM's Open Plan refuses sessions).

Only ``backend=ibm`` has a queue. Fake devices, the simulators and the service accept
all three and run them as ``job``: their jobs run when submitted.

Where IBM refuses a session (the plan, the instance), :func:`open_execution_mode` falls
back to ``batch``, then to ``job``, with one warning line per step down. A job keeps
its id in ``jobs.jsonl`` whatever the mode, so re-attaching after a crash works as in
job mode (``service.job(id)``); the restarted process opens a new session.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping

from qjax.errors import BackendError
from qjax.schemas import EXECUTION_MODES

__all__ = ["EXECUTION_MODES", "check_execution_mode", "open_execution_mode", "runtime_openers", "close_mode"]

log = logging.getLogger("qjax")

#: What to try, in order, for each configured mode.
_FALLS_BACK_TO = {"session": ("session", "batch", "job"), "batch": ("batch", "job"), "job": ("job",)}


def check_execution_mode(mode: str, backend: str) -> str:
    """``mode`` if it is one of :data:`EXECUTION_MODES`; else :class:`BackendError` naming them."""
    if mode not in EXECUTION_MODES:
        raise BackendError(
            f"backend.execution_mode={mode} is unknown for backend={backend}; "
            f"use one of {', '.join(EXECUTION_MODES)} (e.g. backend.execution_mode=session)"
        )
    return mode


def runtime_openers() -> dict[str, Callable[[Any], Any]]:
    """qiskit-ibm-runtime's ``Session`` and ``Batch`` constructors, by mode name (each takes a backend)."""
    from qiskit_ibm_runtime import Batch, Session

    return {"session": lambda device: Session(backend=device), "batch": lambda device: Batch(backend=device)}


def open_execution_mode(
    mode: str, device, *, backend: str = "ibm", openers: Mapping[str, Callable[[Any], Any]] | None = None
) -> tuple[Any, str]:
    """Open ``mode`` on ``device``: ``(what a primitive's mode= takes, the mode in effect)``.

    ``job`` gives ``(device, "job")``. ``session`` / ``batch`` call ``openers[mode](device)``
    (default :func:`runtime_openers`); one that raises (e.g. the Open Plan refusing a
    session) logs one warning line and tries the next of session → batch → job.
    """
    check_execution_mode(mode, backend)
    chain = _FALLS_BACK_TO[mode]
    for i, name in enumerate(chain):
        if name == "job":
            return device, "job"
        if openers is None:
            openers = runtime_openers()
        try:
            return openers[name](device), name
        except Exception as exc:  # noqa: BLE001 - IBMRuntimeError / IBMNotAuthorizedError: the plan says no
            detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            log.warning(
                "backend.execution_mode=%s: %s refused a %s (%s); running in %s mode instead",
                mode,
                getattr(device, "name", backend),
                name,
                detail,
                chain[i + 1],
            )
    return device, "job"  # unreachable: "job" ends every chain


def close_mode(mode_object) -> None:
    """Close a session or batch (running jobs finish; no new ones are accepted); best effort."""
    close = getattr(mode_object, "close", None)
    if callable(close):
        try:
            close()
        except Exception as exc:  # noqa: BLE001 - an expired session cannot be closed again; nothing to do
            log.debug("closing the execution mode failed: %s", exc)
