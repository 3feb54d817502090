"""Exception types raised by qjax.

Every error a user can cause derives from :class:`QjaxError`. Messages name the
bad value, what was expected, and how to fix it; the CLI prints them as one line
and exits non-zero, so a traceback always means a bug in qjax.
"""

from __future__ import annotations

__all__ = [
    "QjaxError",
    "CircuitError",
    "UnknownGateError",
    "WireError",
    "ParameterShapeError",
    "ObservableError",
    "PrecisionError",
    "ConversionError",
    "ConfigError",
    "CheckpointError",
    "BackendError",
    "TrainingInterrupted",
    "TrainingDiverged",
    "BudgetExceeded",
    "BackendUnavailable",
]


class QjaxError(Exception):
    """Base class of every error caused by user input."""


class CircuitError(QjaxError, ValueError):
    """A circuit is malformed (bad gate arguments, bad parameter references)."""


class UnknownGateError(CircuitError):
    """A gate name is not in qjax's gate table."""


class WireError(CircuitError):
    """A wire index is out of range or repeated within one gate."""


class ParameterShapeError(QjaxError, ValueError):
    """A parameter or input vector has the wrong shape for the compiled circuit."""


class ObservableError(QjaxError, ValueError):
    """An observable is malformed or does not fit the circuit."""


class PrecisionError(QjaxError, ValueError):
    """A dtype was requested that JAX cannot honour in its current mode."""


class ConversionError(QjaxError, ValueError):
    """A Qiskit or PennyLane object cannot be converted to qjax."""


class ConfigError(QjaxError, ValueError):
    """A configuration value is invalid."""


class CheckpointError(QjaxError):
    """A checkpoint is missing, corrupt or belongs to another configuration."""


class BackendError(QjaxError):
    """A backend cannot run the requested work (too wide, unsupported option)."""


class TrainingInterrupted(QjaxError):
    """Training stopped on SIGINT/SIGTERM after saving a checkpoint."""

    def __init__(self, message: str, *, step: int, signum: int):
        super().__init__(message)
        self.step = step
        self.signum = signum


class TrainingDiverged(QjaxError):
    """The loss, the gradient or the parameters became non-finite (inf/nan); nothing non-finite was saved.

    ``step``: the step whose loss or update was non-finite; ``quantity``: ``"loss"``,
    ``"gradient"`` or ``"parameters"``; ``detail``: what happened, without the fix
    (front ends name their own knobs).
    """

    def __init__(self, message: str, *, step: int, quantity: str, detail: str):
        super().__init__(message)
        self.step = step
        self.quantity = quantity
        self.detail = detail


class BudgetExceeded(BackendError):
    """The next job would cross ``budget.*``; the run stops with a checkpoint before sending it."""


class BackendUnavailable(BackendError):
    """Every backend of the fallback chain failed; the run stops with a checkpoint."""
