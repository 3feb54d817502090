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
from qjax.errors import CheckpointError, ParameterShapeError, QjaxError, TrainingDiverged, TrainingInterrupted
from qjax.training.checkpoint import Checkpointer, CheckpointOptions, TrainState

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
    happens: a failed evaluation changes none of them. Not after a failed save (it
    would fail again) nor after a divergence (rerunning would only diverge again;
    the checkpoints before it stay).
    """
    try:
        yield
    except QjaxError as exc:
        if checkpointer is not None and not isinstance(exc, (CheckpointError, TrainingDiverged)):
            step, params, opt_state, key = state()
            try:
                checkpointer.save(step, TrainState(params, opt_state, key), meta(False))
            except CheckpointError as failed:  # report the error that stopped training; this one is logged
                log.error("%s", failed)
        raise


@contextmanager
def _closed_at_exit(checkpointer: Checkpointer | None):
    """Close ``checkpointer`` (pending saves finish, the directory is unlocked) however the block ends.

    A failed background save surfaces here as :class:`CheckpointError`; while another
    error is already on its way out, it is logged instead, so it cannot hide that one.
    """
    if checkpointer is None:
        yield
        return
    try:
        yield
    except BaseException:
        try:
            checkpointer.close()
        except CheckpointError as exc:
            log.error("%s", exc)
        raise
    checkpointer.close()


def _as_host(x) -> float:
    return float(np.asarray(x))


def _divergence(step: int, loss: float, grad_norm: float, params_finite: bool) -> TrainingDiverged | None:
    """A :class:`TrainingDiverged` when step ``step``'s loss, gradient or updated parameters are not finite."""
    if not math.isfinite(loss):
        quantity, detail = "loss", f"the loss became {loss} at step {step}, at finite parameters"
    elif not math.isfinite(grad_norm):
        quantity, detail = "gradient", f"the gradient became non-finite at step {step} (loss {loss:.8g})"
    elif not params_finite:
        quantity, detail = (
            "parameters",
            (
                f"the parameters became non-finite in the update of step {step} "
                f"(loss {loss:.8g}, |grad| {grad_norm:.3g} before it)"
            ),
        )
    else:
        return None
    return _diverged(step, quantity, detail)


def _diverged(step: int, quantity: str, detail: str) -> TrainingDiverged:
    fix = (
        "check the objective there, or lower the optimiser's learning rate if the losses before grew"
        if quantity == "loss"
        else "lower the optimiser's learning rate"
    )
    return TrainingDiverged(
        f"training diverged: {detail}; {fix} (nothing non-finite was checkpointed)",
        step=step,
        quantity=quantity,
        detail=detail,
    )


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
    (a finished run is returned without training). The checkpoint directory is
    locked for this call: a second run on it raises :class:`CheckpointError` naming
    the process that holds it. ``tol > 0`` stops early once
    the loss changed by less than ``tol`` for ``patience`` consecutive steps.
    ``loss_name`` also records the loss under that key (e.g. ``"energy"``).
    ``on_metrics(rows)`` receives metric rows as they are produced (restored rows
    first). ``job_stats()`` returns the backend's ``num_jobs`` so far. A non-finite
    loss, gradient or updated parameter vector raises :class:`TrainingDiverged`
    before that step is recorded or saved.
    """
    start_time = time.perf_counter()
    params = jnp.asarray(params)
    if params.shape != (objective.num_params,):
        raise ParameterShapeError(
            f"initial params have shape {params.shape} but the objective has {objective.num_params} "
            f"parameters; pass a ({objective.num_params},) array"
        )
    checkpointer = Checkpointer(checkpoint) if checkpoint is not None else None
    with _closed_at_exit(checkpointer):
        return _fit(
            objective,
            params,
            optimizer,
            checkpointer,
            steps=steps,
            seed=seed,
            tol=tol,
            patience=patience,
            log_every=log_every,
            loss_name=loss_name,
            emit=on_metrics or (lambda rows: None),
            job_stats=job_stats,
            start_time=start_time,
        )


def _fit(
    objective,
    params,
    optimizer,
    checkpointer,
    *,
    steps,
    seed,
    tol,
    patience,
    log_every,
    loss_name,
    emit,
    job_stats,
    start_time,
) -> FitResult:
    """:func:`fit`'s loop, with ``checkpointer`` (or ``None``) closed by the caller."""
    # None exactly when checkpointer is None (every use below is guarded by that)
    checkpoint: Any = checkpointer.options if checkpointer is not None else None
    state = TrainState(params, optimizer.init(params), jax.random.PRNGKey(seed))
    metrics: list[dict] = []
    step, converged, resumed_from = 0, False, None
    jobs_before = 0

    if checkpointer is not None:
        restored = checkpointer.restore(state)
        if restored is not None:
            state, saved = restored
            step, metrics, resumed_from = int(saved["step"]), list(saved["metrics"]), int(saved["step"])
            converged, jobs_before = bool(saved.get("converged")), int(saved.get("num_jobs", 0))
            emit(metrics)
            if saved.get("finished") and (converged or step >= steps):
                log.info("run already finished at step %d (checkpoint %s); not training again", step, checkpoint.dir)
                return FitResult(
                    state.params,
                    float(saved["final_loss"]),
                    step,
                    metrics,
                    converged,
                    resumed_from,
                    True,
                    time.perf_counter() - start_time,
                )
            log.info("resuming from step %d (checkpoint %s)", step, checkpoint.dir)

    @jax.jit
    def apply_update(grads, opt_state, params):
        updates, opt_state = optimizer.update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)
        # the step's figures come back with the update, so checking them costs no extra host sync
        return new_params, opt_state, jnp.linalg.norm(grads), jnp.all(jnp.isfinite(new_params))

    def num_jobs() -> int:
        return jobs_before + int(job_stats()["num_jobs"]) if job_stats else 0

    def meta(finished: bool, final_loss: float | None = None) -> dict:
        # a copy: the save is asynchronous and ``metrics`` keeps growing meanwhile
        return {
            "step": step,
            "config_hash": checkpoint.config_hash,
            "metrics": list(metrics),
            "finished": finished,
            "converged": converged,
            "final_loss": final_loss,
            "num_jobs": num_jobs(),
        }

    calm_steps = 0
    params, opt_state, key = state
    with _stop_on_signals() as stop, _saved_on_error(checkpointer, lambda: (step, params, opt_state, key), meta):
        while step < steps and not converged and stop["signum"] is None:
            t0 = time.perf_counter()
            if objective.begin_step is not None:
                objective.begin_step(step)
            loss, grads = objective.value_and_grad(params)
            new_params, new_opt_state, grad_norm, finite = apply_update(grads, opt_state, params)
            loss, grad_norm, finite = jax.device_get((loss, grad_norm, finite))
            loss, grad_norm = float(loss), float(grad_norm)
            diverged = _divergence(step, loss, grad_norm, bool(finite))
            if diverged is not None:  # the state stays the last good one; nothing of this step is kept
                raise diverged
            params, opt_state = new_params, new_opt_state
            key, _ = jax.random.split(key)
            row = {"step": step, "loss": loss}
            if loss_name:
                row[loss_name] = loss
            row.update(grad_norm=grad_norm, wall_time_s=time.perf_counter() - t0, num_jobs=num_jobs())
            metrics.append(row)
            emit([row])
            if len(metrics) > 1 and abs(metrics[-1]["loss"] - metrics[-2]["loss"]) < tol:
                calm_steps += 1
            else:
                calm_steps = 0
            converged = tol > 0 and calm_steps >= patience
            step += 1
            if step % log_every == 0 or step == steps or converged:
                log.info(
                    "step %4d/%d  loss %.8f  |grad| %.2e  %.1f ms/step",
                    step,
                    steps,
                    loss,
                    row["grad_norm"],
                    1e3 * row["wall_time_s"],
                )
            if checkpointer is not None and step % checkpoint.every == 0 and step < steps and not converged:
                checkpointer.save(step, TrainState(params, opt_state, key), meta(False))
        interrupted = stop["signum"]
        if objective.begin_step is not None:
            objective.begin_step(step)
        final_loss = None if interrupted else _as_host(objective.value(params))
        if final_loss is not None and not math.isfinite(final_loss):
            raise _diverged(step, "loss", f"the loss at the final parameters (after step {step}) is {final_loss}")
        if checkpointer is not None:
            checkpointer.save(step, TrainState(params, opt_state, key), meta(not interrupted, final_loss))
            checkpointer.wait()  # a failed save is the error to report, not "checkpoint saved"
    if interrupted:
        where = f"; checkpoint saved in {checkpoint.dir}, rerun the same command to continue" if checkpoint else ""
        raise TrainingInterrupted(
            f"interrupted by {signal.Signals(interrupted).name} at step {step}{where}", step=step, signum=interrupted
        )
    assert final_loss is not None  # None only when interrupted, raised above
    if converged:
        log.info("converged at step %d (|Δloss| < %g for %d steps)", step, tol, patience)
    return FitResult(
        params, final_loss, step, metrics, converged, resumed_from, False, time.perf_counter() - start_time
    )
