"""The service's backends: the same registry and executors as local runs, built once per batch shape.

A request names a ``target`` (``simulator``, ``noisy_simulator``, ``ibm_fake``,
``ibm``); :class:`Targets` turns it into a :class:`~qjax.backends.base.Backend`
(cheap; used to refuse a batch its target cannot run while the client waits for
the answer to its submission) and, in the worker, into an
:class:`~qjax.backends.executor.Executor` of the batch's circuit and observables
(transpiled / compiled once, then reused by every later batch of the same
circuit, observables, shots, seed and mitigation — a training run's steps).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict

from qjax.errors import QjaxError
from qjax.serve.wire import Batch, RequestError, encode_circuit, encode_observable, mitigation_config

__all__ = ["Targets", "TARGETS", "SAMPLING_TARGETS", "USD_PER_QPU_SECOND"]

#: Every target the service knows; which ones a service offers is its ``--targets`` setting.
TARGETS = ("simulator", "noisy_simulator", "ibm_fake", "ibm")
#: Targets that only sample: a batch for them must give ``shots``.
SAMPLING_TARGETS = ("ibm_fake", "ibm")
#: IBM Quantum's pay-as-you-go price (USD per QPU second), for the status page's cost estimate.
USD_PER_QPU_SECOND = 1.60


class _LRU:
    """A small thread-safe least-recently-used map."""

    def __init__(self, size: int):
        self.size, self._items, self._lock = size, OrderedDict(), threading.Lock()

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
    """Backends and executors of the offered ``names``; ``max_qubits`` caps the JAX simulators."""

    def __init__(self, names: tuple[str, ...], *, max_qubits: int = 20, cache_size: int = 32):
        unknown = sorted(set(names) - set(TARGETS))
        if unknown:
            from qjax.errors import ConfigError

            raise ConfigError(f"--targets: {unknown[0]} is not a backend the service can run; "
                              f"choose from {', '.join(TARGETS)}")
        self.names, self.max_qubits = tuple(names), int(max_qubits)
        self._backends, self._executors = _LRU(cache_size), _LRU(cache_size)

    def _options(self, batch: Batch) -> dict:
        options = {"mitigation": mitigation_config(batch.mitigation), "seed": batch.seed or 0,
                   "shots": batch.shots}
        if batch.device is not None:
            options["device"] = batch.device
        if batch.target in ("simulator", "noisy_simulator"):
            options["max_qubits"] = self.max_qubits
        return options

    def _key(self, batch: Batch, *parts) -> str:
        blob = json.dumps([batch.target, batch.device, batch.shots, batch.seed, batch.mitigation, *parts],
                          sort_keys=True, default=str)
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
        """Refuse (:class:`RequestError`) a batch its target cannot run: width, device, settings."""
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


def _field_of(message: str, default: str = "target") -> str:
    """The request field a backend's config message is about (``backend.shots=...`` → ``shots``)."""
    head = message.split("=", 1)[0].split(":", 1)[0].strip()
    for prefix, field in (("backend.shots", "shots"), ("backend.device", "device"), ("mitigation", "mitigation"),
                          ("backend.seed", "seed")):
        if head.startswith(prefix):
            return field
    return default


def _without_config_prefix(message: str) -> str:
    return message.replace("backend.shots", "shots").replace("backend.device", "device")
