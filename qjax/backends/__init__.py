"""Backends: one abstract base (:class:`Backend`), one file per implementation.

Implementations are imported when first asked for, so choosing the simulator
never imports Qiskit's runtime stack and vice versa.
"""

from __future__ import annotations

from importlib import import_module

from qjax.backends.base import RUN_KEYS, UNIFORM_KEYS, Backend, Capabilities, Objective
from qjax.backends.executor import Evaluation, Executor, Job
from qjax.backends.jobs import Budget, JobRunner, RunControl
from qjax.errors import ConfigError

__all__ = [
    "Backend",
    "Capabilities",
    "Objective",
    "Executor",
    "Job",
    "Evaluation",
    "JobRunner",
    "RunControl",
    "Budget",
    "BACKENDS",
    "backend_class",
    "make_backend",
]

BACKENDS: dict[str, str] = {
    "simulator": "qjax.backends.simulator:SimulatorBackend",
    "noisy_simulator": "qjax.backends.noisy_simulator:NoisySimulatorBackend",
    "ibm_fake": "qjax.backends.ibm_fake:IBMFakeBackend",
    "ibm": "qjax.backends.ibm:IBMBackend",
    "remote": "qjax.backends.remote:RemoteBackend",
}
"""Backend name (the ``backend=`` config option) → ``module:class`` of its implementation."""


def backend_class(name: str) -> type[Backend]:
    """The class registered as ``name`` (imported now); :class:`ConfigError` for an unknown name."""
    try:
        module, cls = BACKENDS[name].split(":")
    except KeyError:
        raise ConfigError(f"backend={name} is not available; choose one of {', '.join(BACKENDS)}") from None
    return getattr(import_module(module), cls)


def make_backend(name: str, **options) -> Backend:
    """Instantiate the backend registered as ``name`` with its config ``options``.

    An option the backend does not take (:meth:`Backend.options`) is refused with
    :class:`ConfigError` before anything is constructed, naming the allowed ones; the
    keys every run passes (:data:`~qjax.backends.base.RUN_KEYS`) and every backend's
    config has (:data:`~qjax.backends.base.UNIFORM_KEYS`) are dropped where the backend
    has no use for them. ``backend.execution_mode`` is checked here for every backend.
    """
    from qjax.backends.modes import check_execution_mode

    cls = backend_class(name)
    # every backend's: the final evaluation's target precision (Backend.final_precision), not a constructor option
    final_precision = options.pop("final_precision", None)
    check_execution_mode(options.get("execution_mode", "job"), name)
    allowed = cls.options()
    unknown = [k for k in options if k not in allowed and k not in RUN_KEYS | UNIFORM_KEYS]
    if unknown:
        raise ConfigError(f"backend={name} has no option {unknown[0]!r}; its options are: {', '.join(allowed)}")
    backend = cls(**{k: v for k, v in options.items() if k in allowed})
    backend.final_precision = None if final_precision == "auto" else final_precision
    return backend
