"""Two readings of ONE client-side Estimator job: TREX-mitigated and raw.

qiskit-ibm-runtime's client-side ``executor_estimator.Estimator`` (≥ 0.51) runs a
quantum program whose result carries the raw (readout-twirled) shots and the TREX
calibration circuit; TREX itself is client post-processing: the runtime's decoder
(``decoders/executor_estimator/post_processor_v0_1.py``) rebuilds each PUB's
``qiskit_mitigation`` task with ``load_tasks_from_result`` and rescales every Pauli
term by the calibration's factor in ``task.postprocess``. A task whose ``trex`` is
``None`` post-processes the same shots without that rescale: the unmitigated value
of the very same shots, at no extra quantum cost. So the final evaluation's ONE job
yields both ``energy`` and ``energy_unmitigated``.

:func:`read_job` gets the job's undecoded program result through public entry
points (``RuntimeJobV2.result(decoder=ExecutorResultDecoder)``, and for local fake
devices the result of ``PrimitiveJob``, which ``LocalRuntimeJob.result`` decodes),
decodes it exactly as ``job.result()`` would (the runtime's own decoder chain), and
post-processes it once more without TREX. Where the installed runtime lacks any of
that, it returns the usual result and no raw reading, and says why once
(:func:`raw_reading_gap`); the caller then measures the unmitigated value in one
more job, as before.
"""

from __future__ import annotations

import functools
import logging

import numpy as np

__all__ = ["read_job", "raw_reading_gap"]

log = logging.getLogger("qjax")

_gap: list[str] = []  # why raw readings failed in this process (the first reason), once known


@functools.cache
def _entry_points():
    """``(PrimitiveJob, LocalRuntimeJob, ExecutorResultDecoder, decoders, load_tasks_from_result, MitigationTask)``,
    or the reason (a string) why this runtime lacks one of them."""
    try:
        from qiskit.primitives.primitive_job import PrimitiveJob
        from qiskit_ibm_runtime.decoders.defaults import DEFAULT_DECODERS
        from qiskit_ibm_runtime.decoders.executor.decoder import ExecutorResultDecoder
        from qiskit_ibm_runtime.fake_provider.local_runtime_job import LocalRuntimeJob
        from qiskit_mitigation.mitigation_task import MitigationTask
        from qiskit_mitigation.utils.utils import load_tasks_from_result
    except ImportError as exc:
        return f"this qiskit-ibm-runtime / qiskit-mitigation has no {exc.name or exc}"
    decoders = DEFAULT_DECODERS["executor"]
    return PrimitiveJob, LocalRuntimeJob, ExecutorResultDecoder, decoders, load_tasks_from_result, MitigationTask


def raw_reading_gap() -> str | None:
    """Why jobs give no raw reading in this process (the installed runtime lacks something), else ``None``."""
    found = _entry_points()
    if isinstance(found, str):
        return found
    return _gap[0] if _gap else None


def _give_up(reason: str) -> None:
    if not _gap:
        _gap.append(reason)
        log.debug("raw reading of runtime jobs unavailable: %s", reason)


def read_job(job, *, raw: bool):
    """``(result, raw_evs)``: ``job``'s ``PrimitiveResult`` exactly as ``job.result()`` decodes it, and with
    ``raw`` each PUB's expectation values from the same shots without TREX's rescale (a list of arrays, one per
    PUB), or ``None`` where the job or the runtime offers no such reading (ZNE tasks, an older runtime, a job
    that is not a client-side Estimator program)."""
    found = _entry_points()
    if not raw or isinstance(found, str):
        return job.result(), None
    primitive_job, local_job, program_decoder, decoders, load_tasks, plain_task = found
    try:
        if isinstance(job, local_job):  # local mode: the program's result, before LocalRuntimeJob.result decodes it
            program = primitive_job.result(job)
        else:  # RuntimeJobV2: the decoder chain is public; stop after the program result
            program = job.result(decoder=[program_decoder])
    except (TypeError, AttributeError) as exc:  # a job type without these entry points
        _give_up(f"{type(job).__name__} gives no undecoded result ({exc})")
        return job.result(), None
    if getattr(program, "_semantic_role", None) != "estimator_v2":
        _give_up(f"{type(job).__name__}'s result is not a client-side Estimator program ({type(program).__name__})")
        return job.result(), None
    result = functools.reduce(lambda r, d: d.decode(r) if d.is_applicable(r) else r, decoders, program)
    raw_evs = []
    for task in load_tasks(program):
        if type(task) is not plain_task:  # ZNE / PEA / PEC: post-processing is not a rescale only
            return result, None
        if isinstance(task.param_shape, list):  # JSON turned the tuple into a list (as the runtime's decoder fixes)
            task.param_shape = tuple(task.param_shape)
        task.trex = None
        raw_evs.append(np.asarray(task.postprocess(program).data.evs, dtype=float))
    return result, raw_evs
