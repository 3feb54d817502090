"""``backend=ibm_fake``: a qiskit-ibm-runtime fake device, run locally on Aer with its noise.

No account, no network. The same code path as ``backend=ibm``
(:class:`~qjax.backends.runtime.RuntimeBackend`); only the device lookup differs,
and job ids live in memory, so after a restart a pending step is submitted again
(and ``events.jsonl`` says so).
"""

from __future__ import annotations

import difflib
import functools

from qjax.backends.runtime import RuntimeBackend
from qjax.errors import BackendError

__all__ = ["IBMFakeBackend", "fake_device_names", "fake_device"]


@functools.lru_cache(maxsize=1)
def fake_device_names() -> tuple[str, ...]:
    """Class names of every BackendV2 fake device in ``qiskit_ibm_runtime.fake_provider``."""
    from qiskit_ibm_runtime import fake_provider
    from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2

    return tuple(
        sorted(
            name
            for name in dir(fake_provider)
            if isinstance(getattr(fake_provider, name), type)
            and issubclass(getattr(fake_provider, name), FakeBackendV2)
            and getattr(fake_provider, name) is not FakeBackendV2
        )
    )


def fake_device(name: str):
    """The qiskit-ibm-runtime fake device ``name``, instantiated; an unknown name suggests close ones."""
    from qiskit_ibm_runtime import fake_provider

    names = fake_device_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else f"e.g. FakeManilaV2 ({len(names)} are available)"
        raise BackendError(f"backend.device={name} is not a qiskit-ibm-runtime fake device; {hint}")
    return getattr(fake_provider, name)()


class IBMFakeBackend(RuntimeBackend):
    name = "ibm_fake"
    persistent_ids = False
    default_device = "FakeManilaV2"

    def known_device(self):
        if self._device is None and self.device_name != "least_busy":  # local, no network: look it up now
            self._device = fake_device(self.device_name)
        return self._device

    def resolve_device(self, num_qubits: int):
        from qiskit_ibm_runtime import fake_provider

        names = fake_device_names()
        if self.device_name == "least_busy":
            # fake devices have no queue: the smallest one that fits is the fastest to simulate
            need = max(num_qubits, self.min_qubits or 1)
            sized = sorted((getattr(fake_provider, n)().num_qubits, n) for n in names)
            for size, n in sized:
                if size >= need:
                    return getattr(fake_provider, n)()
            raise BackendError(f"no fake device has {need} qubits (the largest has {sized[-1][0]})")
        return fake_device(self.device_name)
