"""Backends: one protocol (:class:`Backend`), one file per implementation.

Implementations are imported when first asked for, so choosing the simulator
never imports Qiskit's runtime stack and vice versa.
"""

from __future__ import annotations

from importlib import import_module

from qjax.backends.base import Backend, Objective
from qjax.backends.executor import Evaluation, Executor, Job
from qjax.backends.jobs import Budget, JobRunner, RunControl
from qjax.errors import ConfigError

__all__ = ["Backend", "Objective", "Executor", "Job", "Evaluation", "JobRunner", "RunControl", "Budget", "BACKENDS",
           "make_backend"]

BACKENDS: dict[str, str] = {
    "simulator": "qjax.backends.simulator:SimulatorBackend",
    "noisy_simulator": "qjax.backends.noisy_simulator:NoisySimulatorBackend",
    "ibm_fake": "qjax.backends.ibm_fake:IBMFakeBackend",
    "ibm": "qjax.backends.ibm:IBMBackend",
    "remote": "qjax.backends.remote:RemoteBackend",
}
"""Backend name (the ``backend=`` config option) → ``module:class`` of its implementation."""


def make_backend(name: str, **options) -> Backend:
    """Instantiate the backend registered as ``name`` with its config ``options``."""
    try:
        module, cls = BACKENDS[name].split(":")
    except KeyError:
        raise ConfigError(f"backend={name} is not available; choose one of {', '.join(BACKENDS)}") from None
    return getattr(import_module(module), cls)(**options)
