"""The Optax training loop behind :func:`qjax.fit`, resumable through Orbax.

The loop is backend-agnostic: it calls ``objective.value_and_grad`` (jit-ed JAX on
simulators, batched parameter-shift jobs on hardware) and applies a jit-ed Optax
update. Metric row ``i`` records the loss and gradient norm at the parameters
*before* update ``i``; a checkpoint at step ``s`` holds the parameters after ``s``
updates and the ``s`` rows so far.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from qjax.backends.base import Objective
from qjax.training.checkpoint import Checkpointer, CheckpointOptions, TrainState
from qjax.errors import ParameterShapeError, QjaxError, TrainingInterrupted

__all__ = ["FitResult", "fit"]

log = logging.getLogger("qjax")


class FitResult(NamedTuple):
    """Outcome of :func:`fit`.

    ``params (P,)``: final parameters; ``loss``: objective at them; ``steps``:
    optimisation steps done in total (across resumes); ``metrics``: one dict per
    step; ``converged``: stopped early by ``tol``; ``resumed_from``: the step this
    invocation restored (``None`` when it started fresh); ``already_finished``:
    the checkpoint held a finished run, so nothing was trained; ``wall_time_s``:
    this invocation's wall time.
    """

    params: Any
    loss: float
    steps: int
    metrics: list[dict]
    converged: bool
    resumed_from: int | None
    already_finished: bool
    wall_time_s: float


@contextmanager
def _stop_on_signals():
    """Turn the first SIGINT/SIGTERM into a flag checked between steps.

    A second signal acts as usual (the default handler), so a stuck step can still
    be interrupted. Only the main thread may install handlers; elsewhere this is a
    no-op.
    """
    flag: dict[str, int | None] = {"signum": None}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum, _frame):
        flag["signum"] = signum
        signal.signal(signum, previous[signum] if callable(previous[signum]) else signal.SIG_DFL)
        log.warning("received %s: finishing the current step and saving a checkpoint", signal.Signals(signum).name)

    for s in previous:
        signal.signal(s, handler)
    try:
        yield flag
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextmanager
def _saved_on_error(checkpointer, state, meta):
    """On a user-facing error (budget reached, every backend down), checkpoint the last good state, then re-raise.

    ``state()`` returns ``(step, params, opt_state, key)`` as they are when the error
    happens: a failed evaluation changes none of them.
    """
    try:
        yield
    except QjaxError:
        if checkpointer is not None:
            step, params, opt_state, key = state()
            checkpointer.save(step, TrainState(params, opt_state, key), meta(False))
            checkpointer.close()
        raise


def _as_host(x) -> float:
    return float(np.asarray(x))


def fit(
    objective: Objective,
    params,
    optimizer: optax.GradientTransformation,
    *,
    steps: int,
    seed: int = 0,
    checkpoint: CheckpointOptions | None = None,
    tol: float = 0.0,
    patience: int = 5,
    log_every: int = 10,
    loss_name: str | None = None,
    on_metrics: Callable[[list[dict]], None] | None = None,
    job_stats: Callable[[], dict] | None = None,
) -> FitResult:
    """Minimise ``objective`` from ``params (P,)`` with ``optimizer`` for ``steps`` steps.

    With ``checkpoint`` set, state is saved every ``checkpoint.every`` steps, at the
    end and on SIGINT/SIGTERM, and an existing compatible checkpoint is resumed
    (a finished run is returned without training). ``tol > 0`` stops early once
    the loss changed by less than ``tol`` for ``patience`` consecutive steps.
    ``loss_name`` also records the loss under that key (e.g. ``"energy"``).
    ``on_metrics(rows)`` receives metric rows as they are produced (restored rows
    first). ``job_stats()`` returns the backend's ``num_jobs`` so far.
    """
    start_time = time.perf_counter()
    params = jnp.asarray(params)
    if params.shape != (objective.num_params,):
        raise ParameterShapeError(
            f"initial params have shape {params.shape} but the objective has {objective.num_params} "
            f"parameters; pass a ({objective.num_params},) array"
        )
    state = TrainState(params, optimizer.init(params), jax.random.PRNGKey(seed))
    metrics: list[dict] = []
    step, converged, resumed_from = 0, False, None
    jobs_before = 0
    checkpointer = Checkpointer(checkpoint) if checkpoint is not None else None
    emit = on_metrics or (lambda rows: None)

    if checkpointer is not None:
        restored = checkpointer.restore(state)
        if restored is not None:
            state, meta = restored
            step, metrics, resumed_from = int(meta["step"]), list(meta["metrics"]), int(meta["step"])
            converged, jobs_before = bool(meta.get("converged")), int(meta.get("num_jobs", 0))
            emit(metrics)
            if meta.get("finished") and (converged or step >= steps):
                log.info("run already finished at step %d (checkpoint %s); not training again", step, checkpoint.dir)
                checkpointer.close()
                return FitResult(state.params, float(meta["final_loss"]), step, metrics, converged,
                                 resumed_from, True, time.perf_counter() - start_time)
            log.info("resuming from step %d (checkpoint %s)", step, checkpoint.dir)

    @jax.jit
    def apply_update(grads, opt_state, params):
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    def num_jobs() -> int:
        return jobs_before + int(job_stats()["num_jobs"]) if job_stats else 0

    def meta(finished: bool, final_loss: float | None = None) -> dict:
        # a copy: the save is asynchronous and ``metrics`` keeps growing meanwhile
        return {"step": step, "config_hash": checkpoint.config_hash, "metrics": list(metrics), "finished": finished,
                "converged": converged, "final_loss": final_loss, "num_jobs": num_jobs()}

    calm_steps = 0
    params, opt_state, key = state
    with _stop_on_signals() as stop, _saved_on_error(checkpointer, lambda: (step, params, opt_state, key), meta):
        while step < steps and not converged and stop["signum"] is None:
            t0 = time.perf_counter()
            if objective.begin_step is not None:
                objective.begin_step(step)
            loss, grads = objective.value_and_grad(params)
            params, opt_state = apply_update(grads, opt_state, params)
            key, _ = jax.random.split(key)
            loss = _as_host(loss)
            if not math.isfinite(loss):
                log.error("loss became %s at step %d; stopping (lower optimizer.lr?)", loss, step)
                break
            row = {"step": step, "loss": loss}
            if loss_name:
                row[loss_name] = loss
            row.update(grad_norm=_as_host(jnp.linalg.norm(grads)), wall_time_s=time.perf_counter() - t0,
                       num_jobs=num_jobs())
            metrics.append(row)
            emit([row])
            if len(metrics) > 1 and abs(metrics[-1]["loss"] - metrics[-2]["loss"]) < tol:
                calm_steps += 1
            else:
                calm_steps = 0
            converged = tol > 0 and calm_steps >= patience
            step += 1
            if step % log_every == 0 or step == steps or converged:
                log.info("step %4d/%d  loss %.8f  |grad| %.2e  %.1f ms/step", step, steps, loss,
                         row["grad_norm"], 1e3 * row["wall_time_s"])
            if checkpointer is not None and step % checkpoint.every == 0 and step < steps and not converged:
                checkpointer.save(step, TrainState(params, opt_state, key), meta(False))
        interrupted = stop["signum"]
        if objective.begin_step is not None:
            objective.begin_step(step)
        final_loss = None if interrupted else _as_host(objective.value(params))
        if checkpointer is not None:
            checkpointer.save(step, TrainState(params, opt_state, key), meta(not interrupted, final_loss))
            checkpointer.close()
    if interrupted:
        where = f"; checkpoint saved in {checkpoint.dir}, rerun the same command to continue" if checkpoint else ""
        raise TrainingInterrupted(f"interrupted by {signal.Signals(interrupted).name} at step {step}{where}",
                                  step=step, signum=interrupted)
    if converged:
        log.info("converged at step %d (|Δloss| < %g for %d steps)", step, tol, patience)
    return FitResult(params, final_loss, step, metrics, converged, resumed_from, False,
                     time.perf_counter() - start_time)
