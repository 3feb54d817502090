"""``backend=ibm``: IBM Quantum hardware through ``QiskitRuntimeService``.

The token comes from ``QISKIT_IBM_TOKEN`` or Qiskit's saved account
(``QiskitRuntimeService.save_account``), never from qjax's config, and is never
written anywhere. Job ids are real, so a step whose job was submitted before a
crash re-attaches to it (``service.job(id)``) instead of running again.
"""

from __future__ import annotations

import os

from qjax.backends.runtime import RuntimeBackend
from qjax.errors import BackendError, BackendUnavailable

__all__ = ["IBMBackend"]


class IBMBackend(RuntimeBackend):
    name = "ibm"
    persistent_ids = True
    opens_modes = True  # backend.execution_mode=session keeps the queue slot between steps

    def __init__(self, *, channel: str | None = None, instance: str | None = None, **options):
        super().__init__(**options)
        self.channel, self.instance = channel, instance
        self._service = None

    def service(self):
        if self._service is None:
            try:
                from qiskit_ibm_runtime import QiskitRuntimeService

                kwargs = {k: v for k, v in (("channel", self.channel), ("instance", self.instance)) if v is not None}
                token = os.environ.get("QISKIT_IBM_TOKEN")
                if token:
                    kwargs["token"] = token
                    kwargs.setdefault("channel", "ibm_quantum_platform")
                self._service = QiskitRuntimeService(**kwargs)
            except Exception as exc:  # noqa: BLE001 - no account, bad token, no network
                raise BackendUnavailable(
                    f"backend=ibm cannot reach IBM Quantum ({type(exc).__name__}); set QISKIT_IBM_TOKEN or save an "
                    "account with QiskitRuntimeService.save_account(...), or use backend=ibm_fake"
                ) from None
        return self._service

    def resolve_device(self, num_qubits: int):
        service = self.service()
        try:
            if self.device_name == "least_busy":
                limit = self.max_pending_jobs
                return service.least_busy(
                    min_num_qubits=max(num_qubits, self.min_qubits or 1),
                    operational=True,
                    simulator=False,
                    filters=(lambda b: b.status().pending_jobs <= limit) if limit is not None else None,
                )
            return service.backend(self.device_name)
        except Exception as exc:  # noqa: BLE001
            raise BackendError(
                f"backend.device={self.device_name}: IBM Quantum has no such backend available to "
                f"this account ({type(exc).__name__}); list them with QiskitRuntimeService().backends()"
            ) from None
