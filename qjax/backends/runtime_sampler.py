"""Measurement samples from an IBM (or fake) device, as a job of the run.

:class:`RuntimeSampler` wraps the run's :class:`~qjax.backends.runtime.RuntimeExecutor`:
the same transpiled circuit on the same physical qubits, with every logical wire
measured where the layout left it, sent as ONE ``executor_sampler.Sampler`` job (raw samples: no mitigation) in the run's execution
mode. It speaks the :class:`~qjax.backends.executor.Executor` protocol, so the run's
:class:`~qjax.backends.jobs.JobRunner` journals, budgets, retries, caches and counts it
like any other job. Its "values" are the counts of each basis state, index in qjax's
order (wire 0 the most significant bit): ``(1, 2**n)``.
"""

from __future__ import annotations

import hashlib

import numpy as np

from qjax.backends.executor import Evaluation, runtime_job_state
from qjax.backends.jobs import SECONDS_PER_SHOT

__all__ = ["RuntimeSampler", "MAX_SAMPLED_WIRES", "counts_vector", "bits_from_counts"]

#: Widest circuit sampled as a dense count vector of ``2**n`` entries (8 MiB of float64).
MAX_SAMPLED_WIRES = 20


def counts_vector(int_counts: dict[int, int], num_wires: int) -> np.ndarray:
    """Qiskit's ``{outcome: count}`` (clbit k = wire k, clbit 0 the least significant) as ``(2**n,)`` counts
    indexed the qjax way (wire 0 the most significant bit)."""
    out = np.zeros(2**num_wires)
    weights = 1 << np.arange(num_wires - 1, -1, -1)  # wire k's place value in a qjax index
    for outcome, count in int_counts.items():
        bits = (int(outcome) >> np.arange(num_wires)) & 1  # bits[k]: clbit k = wire k
        out[int(bits @ weights)] += count
    return out


def bits_from_counts(counts: np.ndarray, num_wires: int, *, seed: int = 0) -> np.ndarray:
    """``(shots, n)`` bits (wire 0 first) holding each basis state as often as ``counts (2**n,)`` says,
    in a seeded random order (the device returns them unordered)."""
    index = np.repeat(np.arange(len(counts)), np.rint(counts).astype(np.int64))
    np.random.default_rng(seed).shuffle(index)
    return ((index[:, None] >> np.arange(num_wires - 1, -1, -1)) & 1).astype(np.int8)


class _SamplerJob:
    def __init__(self, job, sampler: "RuntimeSampler"):
        self._job, self._sampler = job, sampler
        self.job_id = str(job.job_id())

    def status(self) -> str:
        return runtime_job_state(self._job.status())

    def result(self) -> Evaluation:
        pub = self._job.result()[0]
        counts = counts_vector(pub.data.meas.get_int_counts(), self._sampler.num_wires)[None]
        shots, qpu = self._sampler.planned_cost(1)
        return Evaluation(counts, np.zeros_like(counts), None, shots, qpu)

    def cancel(self) -> None:
        self._job.cancel()


class RuntimeSampler:
    """``shots`` samples of every wire of ``estimator``'s circuit at gate-angle vectors (an Executor)."""

    def __init__(self, estimator, *, shots: int, seed: int | None):
        n = estimator.num_wires
        self.name, self.device = estimator.name, estimator.device
        self.shots: int | None = int(shots)  # the Executor protocol's type; _count for arithmetic
        self._count = int(shots)
        self.persistent_ids, self.num_params, self.num_wires = estimator.persistent_ids, estimator.num_params, n
        self.num_observables = 2**n
        self._estimator, self._seed = estimator, seed
        isa = estimator.isa.copy()
        # where each logical wire ended up (routing may have moved it): measure it there, into clbit = wire
        final = isa.layout.final_index_layout()
        from qiskit.circuit import ClassicalRegister

        meas = ClassicalRegister(n, "meas")
        isa.add_register(meas)
        isa.barrier()
        for wire in range(n):
            isa.measure(final[wire], meas[wire])
        self.isa = isa

    def submit(self, params, *, mitigate: bool = False) -> _SamplerJob:
        from qiskit_ibm_runtime.executor_sampler import Sampler

        options: dict = {"default_shots": self._count}
        if self._seed is not None:
            options["simulator"] = {"seed_simulator": int(self._seed)}
        bound = np.asarray(params, dtype=float)[:, self._estimator.columns]
        job = Sampler(mode=self._estimator.primitive_mode(), options=options).run([(self.isa, bound)])
        return _SamplerJob(job, self)

    def attach(self, job_id: str):
        service = self._estimator.service
        if service is None:
            return None
        try:
            return _SamplerJob(service.job(job_id), self)
        except Exception:  # noqa: BLE001 - an unknown or expired id: sample again
            return None

    def planned_cost(self, batch_size: int, *, mitigate: bool = False) -> tuple[int, float]:
        shots = batch_size * self._count
        return shots, shots * SECONDS_PER_SHOT

    def fingerprint(self) -> str:
        blob = f"sampler|{self._estimator.fingerprint()}|{self.shots}|{self._seed}"
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def describe(self) -> dict:
        return {"name": self.name, "device": self.device.name, "shots": self.shots}
