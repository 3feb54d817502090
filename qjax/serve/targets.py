"""The service's backends: the same registry and executors as local runs, built once per batch shape.

A request names a ``target`` (``simulator``, ``noisy_simulator``, ``ibm_fake``,
``ibm``); :class:`Targets` turns it into a :class:`~qjax.backends.base.Backend`
(cheap; used to refuse a batch its target cannot run while the client waits for
the answer to its submission) and, in the worker, into an
:class:`~qjax.backends.executor.Executor` of the batch's circuit and observables
(transpiled / compiled once, then reused by every later batch of the same
circuit, observables, shots, seed and mitigation — a training run's steps).
A ``samples`` batch gets the target's Sampler instead (:meth:`Targets.sampler`):
the same transpiled circuit and qubits on ``ibm_fake`` / ``ibm``, the device
twin's noise on ``noisy_simulator``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any

from qjax.errors import QjaxError
from qjax.wire import Batch, Limits, RequestError, encode_circuit, encode_observable, mitigation_config

__all__ = [
    "Targets",
    "TARGETS",
    "SAMPLING_TARGETS",
    "USD_PER_QPU_SECOND",
    "job_work",
    "state_bytes",
    "chunk_rows",
    "noise_factors",
    "SAMPLED_TARGETS",
    "sampled_on",
]

#: Every target the service knows; which ones a service offers is its ``--targets`` setting.
TARGETS = ("simulator", "noisy_simulator", "ibm_fake", "ibm")
#: Targets that only sample: a batch for them must give ``shots``.
SAMPLING_TARGETS = ("ibm_fake", "ibm")
#: Targets that take ``samples`` batches (their noise makes samples differ from the ideal state's).
SAMPLED_TARGETS = ("noisy_simulator", "ibm_fake", "ibm")
#: IBM Quantum's pay-as-you-go price (USD per QPU second), for the status page's cost estimate.
USD_PER_QPU_SECOND = 1.60

# What simulated work costs, in gate-amplitude updates of the JAX statevector (7-9e8 per second here, 2 shared CPU
# cores, 10 to 18 qubits). The noisy simulator managed about 2e8 per second per density-matrix amplitude (its noise
# channels), hence 4; a sampled shot of ibm_fake's Aer simulation cost about as much as 2,500 updates (3e5 shots/s).
_NOISY_COST, _SHOT_COST = 4, 4096
# One chunk of a simulated job: about 2 s of work at those rates (a cancel takes effect between chunks), and at most
# 1 GiB of states at once (vmap holds a state per parameter set; XLA's temporaries are counted as 3 more).
_CHUNK_WORK, _CHUNK_BYTES, _STATE_COPIES = 2e9, 1 << 30, 4
# ZNE compiles the folded circuit once per noise factor; three to five factors is what extrapolation uses.
_MAX_NOISE_FACTORS = 8


def _amplitudes(target: str, n: int) -> int:
    """Amplitudes the target simulates per parameter set on ``n`` qubits (0 for real hardware)."""
    from qjax.noise.density import DENSITY_MATRIX_MAX_QUBITS

    if target == "simulator":
        return 2**n
    if target == "noisy_simulator":  # method=auto: a density matrix up to the limit, 256 trajectories beyond
        return 4**n if n <= DENSITY_MATRIX_MAX_QUBITS else 256 * 2**n
    if target == "ibm_fake":  # Aer's noisy simulation of the device's qubits the circuit uses
        return 4**n
    return 0


def noise_factors(batch: Batch) -> tuple[float, ...]:
    """The ZNE noise factors the batch runs its circuit at (``(1.0,)`` without ZNE)."""
    config = mitigation_config(batch.mitigation)
    zne = getattr(config, "zne", None)
    return tuple(float(f) for f in zne.noise_factors) if zne is not None and "zne" in config.techniques else (1.0,)


def job_work(batch: Batch) -> float:
    """What a batch costs to simulate, in statevector gate-amplitude updates (0 on real hardware).

    ``B · (operations + Pauli terms) · amplitudes`` (weighted for density matrices), plus
    the shots of sampling simulators, times the sum of the ZNE noise factors (folding
    by f runs f times the gates; noise scaling runs the circuit once per factor); an
    upper bound, since fusion merges gates.
    """
    gates = len(batch.circuit.operations) + sum(len(o.terms) for o in batch.observables)
    rows = batch.params.shape[0]
    weight = 1 if batch.target == "simulator" else _NOISY_COST
    shots = batch.requested_shots * _SHOT_COST if batch.target in ("noisy_simulator", "ibm_fake") else 0
    once = float(rows) * max(gates, 1) * _amplitudes(batch.target, batch.circuit.num_wires) * weight + shots
    return once * sum(noise_factors(batch))


def state_bytes(batch: Batch) -> int:
    """Bytes of simulator state one parameter set of the batch holds (complex128 at most, with temporaries)."""
    return _amplitudes(batch.target, batch.circuit.num_wires) * 16 * _STATE_COPIES


def chunk_rows(batch: Batch) -> int:
    """Parameter sets per chunk when a worker runs the batch on a simulator (a cancel waits one chunk at most)."""
    rows = batch.params.shape[0]
    per_row = max(job_work(batch) / rows, 1.0)
    return max(1, min(rows, int(_CHUNK_WORK // per_row), _CHUNK_BYTES // max(state_bytes(batch), 1)))


class _LRU:
    """A small thread-safe least-recently-used map."""

    def __init__(self, size: int):
        self.size, self._lock = size, threading.Lock()
        self._items: OrderedDict[str, Any] = OrderedDict()

    def get_or_build(self, key: str, build):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = build()  # outside the lock: building may take seconds (transpile, jit)
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


class Targets:
    """Backends and executors of the offered ``names``; ``limits`` cap the simulators (qubits, work, memory)."""

    def __init__(self, names: tuple[str, ...], *, limits: Limits = Limits(), cache_size: int = 32):
        unknown = sorted(set(names) - set(TARGETS))
        if unknown:
            from qjax.errors import ConfigError

            raise ConfigError(
                f"--targets: {unknown[0]} is not a backend the service can run; choose from {', '.join(TARGETS)}"
            )
        self.names, self.limits, self.max_qubits = tuple(names), limits, int(limits.max_qubits)
        self._backends, self._executors = _LRU(cache_size), _LRU(cache_size)

    def _options(self, batch: Batch) -> dict:
        options = {"mitigation": mitigation_config(batch.mitigation), "seed": batch.seed or 0, "shots": batch.shots}
        if batch.device is not None:
            options["device"] = batch.device
        if batch.target in ("simulator", "noisy_simulator"):
            options["max_qubits"] = self.max_qubits
        return options

    def _key(self, batch: Batch, *parts) -> str:
        blob = json.dumps(
            [batch.target, batch.device, batch.shots, batch.seed, batch.mitigation, *parts], sort_keys=True, default=str
        )
        return hashlib.sha256(blob.encode()).hexdigest()

    def backend(self, batch: Batch):
        """The batch's backend (cached), or :class:`RequestError` when its settings are refused."""
        if batch.target in SAMPLING_TARGETS and batch.shots is None:
            raise RequestError("shots", f"target {batch.target} samples: give shots (an integer ≥ 1)")
        from qjax.backends import make_backend

        def build():
            return make_backend(batch.target, **self._options(batch))

        try:
            return self._backends.get_or_build(self._key(batch), build)
        except QjaxError as exc:
            raise RequestError(_field_of(str(exc)), _without_config_prefix(str(exc))) from None

    def check(self, batch: Batch) -> None:
        """Refuse (:class:`RequestError`) a batch its target cannot run: width, device, settings, work, memory."""
        if batch.kind == "samples":
            from qjax.backends.runtime_sampler import MAX_SAMPLED_WIRES

            if batch.target not in SAMPLED_TARGETS:
                raise RequestError(
                    "kind",
                    f"target {batch.target} has no noise: sample its ideal state on the client; samples batches go "
                    f"to {', '.join(SAMPLED_TARGETS)}",
                )
            if batch.circuit.num_wires > MAX_SAMPLED_WIRES:
                raise RequestError(
                    "circuit.num_wires",
                    f"samples come back as counts of all 2**n outcomes; this service samples up to "
                    f"{MAX_SAMPLED_WIRES} wires, got {batch.circuit.num_wires}",
                    413,
                )
        factors = noise_factors(batch)
        if len(factors) > _MAX_NOISE_FACTORS:
            raise RequestError(
                "mitigation",
                f"ZNE with {len(factors)} noise factors; this service runs at most "
                f"{_MAX_NOISE_FACTORS} (each compiles and runs the circuit once more), e.g. [1, 3, 5]",
            )
        work, memory = job_work(batch), state_bytes(batch)
        if work > self.limits.max_work:
            raise RequestError(
                "params",
                f"this batch needs about {work:.2g} simulated gate-amplitude updates "
                "(parameter sets × (operations + Pauli terms) × amplitudes, plus shots); this "
                f"service's limit per job is {self.limits.max_work:.2g}: send fewer parameter sets "
                "per job, or a smaller circuit",
                413,
            )
        if memory > self.limits.max_state_bytes:
            raise RequestError(
                "circuit",
                f"{batch.target} would hold about {memory / 2**30:.1f} GiB of state per "
                f"parameter set on {batch.circuit.num_wires} qubits; this service's limit is "
                f"{self.limits.max_state_bytes / 2**30:.1f} GiB: use fewer qubits",
                413,
            )
        backend = self.backend(batch)
        try:
            for obs in batch.observables:
                backend.check(batch.circuit, obs)
        except QjaxError as exc:
            raise RequestError(_field_of(str(exc), "circuit"), _without_config_prefix(str(exc))) from None

    def executor(self, batch: Batch):
        """The executor of the batch's circuit and observables on its target (built once, then cached)."""
        backend = self.backend(batch)
        key = self._key(batch, encode_circuit(batch.circuit), [encode_observable(o) for o in batch.observables])
        return self._executors.get_or_build(key, lambda: backend.executor(batch.circuit, batch.observables))

    def sampler(self, batch: Batch):
        """The Sampler executor of a ``samples`` batch (counts of every wire, ``(1, 2**n)``): on ``ibm_fake`` /
        ``ibm`` beside the Estimator of the same circuit (same transpiled circuit, same physical qubits), on
        ``noisy_simulator`` the device twin's (or the configured) noise, readout included."""
        backend = self.backend(batch)
        if batch.target in SAMPLING_TARGETS:
            from qjax.backends.runtime_sampler import RuntimeSampler

            return RuntimeSampler(self.executor(batch), shots=int(batch.shots or 0), seed=backend.seed)
        key = self._key(batch, "samples", encode_circuit(batch.circuit))
        return self._executors.get_or_build(
            key, lambda: backend.sampler(batch.circuit, int(batch.shots or 0), seed=batch.seed or 0)
        )


def sampled_on(batch: Batch, sampler) -> str:
    """Where a ``samples`` batch was taken, named as a local run names it: ``ibm_fake:FakeManilaV2``,
    ``noisy_simulator:FakeManilaV2``, or the target alone (a noisy simulator without a device)."""
    device = sampler.device
    if device is None:
        return batch.target
    if not isinstance(device, str):  # a Qiskit device: the name a user gives backend.device
        from qjax.backends.runtime import device_label

        device = device_label(device)
    return f"{batch.target}:{device}"


def _field_of(message: str, default: str = "target") -> str:
    """The request field a backend's config message is about (``backend.shots=...`` → ``shots``)."""
    head = message.split("=", 1)[0].split(":", 1)[0].strip()
    for prefix, field in (
        ("backend.shots", "shots"),
        ("backend.device", "device"),
        ("mitigation", "mitigation"),
        ("backend.seed", "seed"),
    ):
        if head.startswith(prefix):
            return field
    return default


def _without_config_prefix(message: str) -> str:
    return message.replace("backend.shots", "shots").replace("backend.device", "device")
