"""The log levels of the libraries qjax drives, for the entry points (train, evaluate, serve).

Orbax logs every file it writes, JAX its TPU probe, Qiskit every transpiler pass and
job step: at INFO they bury qjax's own lines. Each entry point calls
:func:`quiet_libraries` once at start-up. A bottom-layer module, so that the
training CLI and the service, which must not import each other, share it.
"""

from __future__ import annotations

import logging

__all__ = ["quiet_libraries", "NOISY_LOGGERS"]

#: Loggers set to WARNING by :func:`quiet_libraries`.
NOISY_LOGGERS = (
    "absl",
    "jax._src.xla_bridge",
    "qiskit",
    "qiskit_ibm_runtime",
    "qiskit_mitigation",
    "qiskit_aer",
    "httpx",
)


def quiet_libraries() -> None:
    """Set :data:`NOISY_LOGGERS` to WARNING; absl's (Orbax's) errors lose their tracebacks. Idempotent."""
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    absl = logging.getLogger("absl")
    if not any(isinstance(f, _WithoutTraceback) for f in absl.filters):
        absl.addFilter(_WithoutTraceback())


class _WithoutTraceback(logging.Filter):
    """Log Orbax's background-thread errors as one line: the failure reaches the main thread as a CheckpointError,
    which the CLI reports with the fix; their tracebacks (tensorstore's run to kilobytes) add nothing to it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info or record.exc_text:
            record.msg, record.args = (record.getMessage().splitlines() or [""])[0][:300], None
            record.exc_info, record.exc_text = None, None
        return True
