"""Objectives for backends that evaluate parameter sets (sampling hardware and its stand-ins).

Gradients come from evaluations, not autodiff: parameter shift (exact in
expectation; ``1 + Σ shifts`` rows) or SPSA (three rows whatever the width).
Either way, all rows of one step go to :meth:`JobRunner.evaluate` as ONE batch,
hence one job (batch-and-burst). Rows are gate-angle vectors
``A @ params + c (+ shift)``; see :func:`qjax.backends.executor.angle_circuit`.
"""

from __future__ import annotations

import hashlib

import numpy as np

from qjax.backends.base import Objective
from qjax.backends.jobs import JobRunner
from qjax.errors import BackendError
from qjax.ir.circuit import Circuit
from qjax.sim.gradients import SAMPLED_GRADIENTS, shift_batch, shift_gradient, shift_plan, spsa_batch, spsa_gradient

__all__ = ["sampled_objective", "chained_objective", "SAMPLED_GRADIENTS"]


def sampled_objective(
    circuit: Circuit,
    runner: JobRunner,
    *,
    gradient: str = "auto",
    seed: int = 0,
    spsa_c: float = 0.1,
    mitigated: bool = False,
) -> Objective:
    """An :class:`Objective` whose every call is one :meth:`JobRunner.evaluate` batch.

    ``runner``'s executor must run :func:`angle_circuit` ``(circuit)`` with one
    observable. ``mitigated``: the runner's executor applies mitigation, so
    ``report`` also measures the final parameters without it.
    """
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

    def angles(params) -> np.ndarray:
        return A @ np.asarray(params, dtype=np.float64) + c

    def value(params):
        return float(runner.evaluate(angles(params)[None], purpose="value").values[0, 0])

    def value_and_grad(params):
        dtype = np.asarray(params).dtype if np.issubdtype(np.asarray(params).dtype, np.floating) else np.float64
        params = np.asarray(params, dtype=np.float64)
        if plan is not None:
            ev = runner.evaluate(shift_batch(angles(params), plan), purpose="gradient")
            grad = shift_gradient(ev.values[:, 0], plan, A)
        else:
            digest = hashlib.sha256(params.tobytes() + str(seed).encode()).digest()  # same Δ on a resumed step
            rows, delta = spsa_batch(params, int.from_bytes(digest[:8], "little"), spsa_c)
            ev = runner.evaluate(rows @ A.T + c, purpose="gradient")
            grad = spsa_gradient(ev.values[:, 0], delta, spsa_c)
        return float(ev.values[0, 0]), grad.astype(dtype)

    def values(batch):
        batch = np.asarray(batch, dtype=np.float64)
        return runner.evaluate(batch @ A.T + c, purpose="values").values[:, 0]

    def begin_step(step: int) -> None:
        runner.step = step

    def report(params) -> dict:
        runner.step = "final"
        ev = runner.evaluate(angles(params)[None], purpose="final")  # the +1 job (or the cache)
        out = {"energy": float(ev.values[0, 0]), "energy_std": float(ev.stds[0, 0])}
        if mitigated:
            unmitigated = ev.unmitigated
            if unmitigated is None:  # not measured alongside (no ZNE): one more job, mitigation off
                unmitigated = runner.evaluate(angles(params)[None], purpose="final_unmitigated", mitigate=False).values
            out["energy_unmitigated"] = float(unmitigated[0, 0])
        return out

    return Objective(value, value_and_grad, values, circuit.num_params, begin_step, report)


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
    return sampled_objective(
        circuit, backend.runner, gradient=gradient, seed=backend.seed, mitigated=bool(backend.mitigation.techniques)
    )
