"""Objectives for backends that evaluate parameter sets (sampling hardware and its stand-ins).

Gradients come from evaluations, not autodiff: parameter shift (exact in
expectation; ``1 + Σ shifts`` rows) or SPSA (three rows whatever the width).
Either way, all rows of one step go to :meth:`JobRunner.evaluate` as ONE batch,
hence one job (batch-and-burst). Rows are gate-angle vectors
``A @ params + c (+ shift)``; see :func:`qjax.backends.executor.angle_circuit`.
"""

from __future__ import annotations

import hashlib
import logging
import math
from typing import Any

import numpy as np

from qjax.backends.base import Objective
from qjax.backends.jobs import JobRunner
from qjax.errors import BackendError
from qjax.ir.circuit import Circuit
from qjax.schemas import MAX_SHOTS
from qjax.sim.gradients import SAMPLED_GRADIENTS, shift_batch, shift_gradient, shift_plan, spsa_batch, spsa_gradient

__all__ = ["sampled_objective", "chained_objective", "SAMPLED_GRADIENTS"]

log = logging.getLogger("qjax")


def sampled_objective(
    circuit: Circuit,
    runner: JobRunner,
    *,
    gradient: str = "auto",
    seed: int = 0,
    spsa_c: float = 0.1,
    mitigated: bool = False,
    reference=None,
    final_precision: float | None = None,
) -> Objective:
    """An :class:`Objective` whose every call is one :meth:`JobRunner.evaluate` batch.

    ``runner``'s executor must run :func:`angle_circuit` ``(circuit)`` with one
    observable. ``mitigated``: the runner's executor applies mitigation, so
    ``report`` also gives the final parameters' unmitigated energy: from the final
    job itself where its evaluation carries it (``Evaluation.unmitigated``: TREX's
    raw reading, ZNE's noise factor 1), else from one more job without mitigation
    (one warning line says why). ``reference``
    (:class:`~qjax.noise.mitigation.Reference`): reference-state mitigation; its row
    rides in every batch (same job) and its measured error is subtracted from the
    values (gradients, differences of values, are unchanged). ``final_precision``
    (Ha): the final evaluation's one job runs with enough shots (executors with
    ``set_shots``) for the standard error of the reported energy (REM's reference
    included) to reach it, estimated from the last step's standard errors.
    """
    from qjax.noise.mitigation import rem_energy, rem_factor, rem_std

    if gradient not in SAMPLED_GRADIENTS:
        raise BackendError(
            f"gradient={gradient} needs autodiff of a simulator; a sampling backend offers "
            f"{', '.join(SAMPLED_GRADIENTS)} (e.g. gradient=parameter_shift)"
        )
    if circuit.num_inputs:
        raise BackendError(
            "circuits with data inputs are not supported on sampling backends yet; "
            "bind the inputs first or use backend=simulator"
        )
    lm = circuit.linear_map()
    A, c = np.asarray(lm.A), np.asarray(lm.c)
    plan = shift_plan(circuit) if gradient != "spsa" else None
    last: dict[str, float] = {}  # standard errors of the last evaluation's value row (and reference row)

    def angles(params) -> np.ndarray:
        return A @ np.asarray(params, dtype=np.float64) + c

    ref_row = None if reference is None else angles(reference.params)[None]

    def evaluate(rows: np.ndarray, purpose: str):
        """``(values (B,), evaluation)``: the batch with the reference row appended, REM applied."""
        if ref_row is None:
            ev = runner.evaluate(rows, purpose=purpose)
            last["std"] = float(ev.stds[0, 0])
            return ev.values[:, 0], ev
        ev = runner.evaluate(np.concatenate([rows, ref_row]), purpose=purpose)
        last["std"], last["std_ref"] = float(ev.stds[0, 0]), float(ev.stds[-1, 0])
        return rem_energy(ev.values[:-1, 0], ev.values[-1, 0], reference), ev

    def value(params):
        # the loss at the end of training: the final evaluation itself (report() then finds it in the cache)
        ev = final_evaluation(params, "value")
        return float(ev.values[0, 0] if ref_row is None else rem_energy(ev.values[0, 0], ev.values[1, 0], reference))

    def value_and_grad(params):
        dtype = np.asarray(params).dtype if np.issubdtype(np.asarray(params).dtype, np.floating) else np.float64
        params = np.asarray(params, dtype=np.float64)
        if plan is not None:
            values, _ = evaluate(shift_batch(angles(params), plan), "gradient")
            grad = shift_gradient(values, plan, A)
        else:
            digest = hashlib.sha256(params.tobytes() + str(seed).encode()).digest()  # same Δ on a resumed step
            rows, delta = spsa_batch(params, int.from_bytes(digest[:8], "little"), spsa_c)
            values, _ = evaluate(rows @ A.T + c, "gradient")
            grad = spsa_gradient(values, delta, spsa_c)
        return float(values[0]), grad.astype(dtype)

    def values(batch):
        batch = np.asarray(batch, dtype=np.float64)
        return evaluate(batch @ A.T + c, "values")[0]

    def begin_step(step: int) -> None:
        runner.step = step

    def final_shots(executor) -> int | None:
        """Shots per row of the final job for ``final_precision``, from the last step's standard errors
        (they scale as ``1/sqrt(shots)``); ``None``: keep the training shots."""
        shots = getattr(executor, "shots", None)
        if final_precision is None or "std" not in last or not shots:
            return None
        variance = last["std"] ** 2 + last.get("std_ref", 0.0) ** 2  # REM: both rows at the same shots
        return int(min(MAX_SHOTS, max(shots, math.ceil(shots * variance / final_precision**2))))

    def final_evaluation(params, purpose: str = "final"):
        """The final evaluation's ONE job: ``params`` (and the reference) at :func:`final_shots`."""
        batch = angles(params)[None] if ref_row is None else np.concatenate([angles(params)[None], ref_row])
        executor = runner.executor
        shots = final_shots(executor)
        resize = getattr(executor, "set_shots", None)
        if shots is not None and resize is None:
            log.warning(
                "backend.final_precision=%g: backend=%s cannot change the shots of one job; the final evaluation "
                "uses the training shots (set backend.shots higher for a more precise energy)",
                final_precision,
                runner.backend,
            )
        training_shots = executor.shots
        if shots is not None and resize is not None:
            resize(shots)
        try:
            return runner.evaluate(batch, purpose=purpose)  # the +1 job (or the cache): every final shot in one job
        finally:
            if shots is not None and resize is not None:
                resize(training_shots)

    def report(params) -> dict:
        runner.step = "final"  # the journal's label of the final job
        ev = final_evaluation(params)
        out: dict[str, Any] = {"final_shots": int(ev.shots)}
        if ref_row is not None:
            out.update(
                energy=float(rem_energy(ev.values[0, 0], ev.values[1, 0], reference)),
                energy_std=float(rem_std(ev.stds[0, 0], ev.stds[1, 0], ev.values[0, 0], ev.values[1, 0], reference)),
                energy_unreferenced=float(ev.values[0, 0]),
                rem_shift=float(reference.energy - ev.values[1, 0]),
                reference=reference.name,
            )
            if reference.model == "scale":
                out["rem_factor"] = rem_factor(ev.values[1, 0], reference)
        else:
            out.update(energy=float(ev.values[0, 0]), energy_std=float(ev.stds[0, 0]))
        if mitigated:
            # measured alongside, in the same job (TREX's raw reading, ZNE's noise factor 1), else one more job
            unmitigated = ev.unmitigated
            if unmitigated is None:
                gap = getattr(runner.executor, "unmitigated_gap", None)
                log.warning(
                    "%s: the final job did not also give the unmitigated energy (%s); measuring it in one more job "
                    "without mitigation, so num_jobs is steps + 2",
                    runner.backend,
                    gap() if callable(gap) else f"backend={runner.backend} does not return it",
                )
                unmitigated = runner.evaluate(angles(params)[None], purpose="final_unmitigated", mitigate=False).values
            out["energy_unmitigated"] = float(unmitigated[0, 0])
        elif ref_row is not None:  # REM alone: the raw row of the same job
            out["energy_unmitigated"] = float(ev.values[0, 0])
        return out

    return Objective(value, value_and_grad, values, int(circuit.num_params or 0), begin_step, report)


def chained_objective(backend, circuit: Circuit, observable, primary, *, gradient: str = "auto") -> Objective:
    """The objective of a job-running ``backend`` (IBM, fake devices, a remote service).

    Checks the pair first (an unreachable backend is tolerated when ``backend.fallback``
    names somewhere to go), then runs every batch through one :class:`JobRunner` whose
    chain is ``primary`` (a factory of the backend's executor) followed by each fallback
    backend's executor of the same circuit; sets ``backend.runner``.
    """
    from qjax.backends import make_backend
    from qjax.errors import BackendUnavailable

    try:
        backend.check(circuit, observable)
    except BackendUnavailable:
        if not backend.fallback:
            raise
        # it cannot be reached to check; the runner follows backend.fallback, loudly, at the first batch

    def fallback_factory(name: str):
        return lambda: make_backend(name, **backend.fallback_options.get(name, {})).executor(circuit, [observable])

    chain = [(backend.name, primary)] + [(name, fallback_factory(name)) for name in backend.fallback]
    backend.runner = JobRunner(chain, state_dir=backend.state_dir, control=backend.control)
    from qjax.noise.mitigation import uses_rem

    return sampled_objective(
        circuit,
        backend.runner,
        gradient=gradient,
        seed=backend.seed,
        mitigated=bool(set(backend.mitigation.techniques) - {"rem"}),  # what the executor itself applies
        reference=backend.reference if uses_rem(backend.mitigation) else None,
        final_precision=backend.final_precision,
    )
