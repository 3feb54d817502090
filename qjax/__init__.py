"""qjax: train variational quantum circuits with JAX, Optax, Hydra and Orbax.

The public API, flat::

    import qjax
    c = qjax.Circuit(2).h(0).ry(qjax.Param(0), 1).cnot(0, 1)
    f = qjax.compile(c, qjax.PauliSum.from_string("Z0 Z1"))
    value, grad = jax.value_and_grad(f.expval)(jnp.array([0.3]))

Wire 0 is the most significant bit of a state index (PennyLane's convention);
``qjax.from_qiskit`` maps Qiskit qubit k to wire k. Angles are radians.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from qjax import errors, jaxcache
from qjax.backends import Backend, Evaluation, Executor, JobRunner, Objective, make_backend
from qjax.errors import QjaxError
from qjax.ir import ansatze as templates
from qjax.ir.circuit import Angle, Circuit, Input, Operation, Param
from qjax.ir.gates import GATES
from qjax.ir.pauli import PauliSum
from qjax.noise import mitigation
from qjax.noise.channels import Channel, NoiseModel
from qjax.noise.density import NoisyCompiled, compile_noisy
from qjax.problems.base import Problem
from qjax.sim import sharding
from qjax.sim.compile import Compiled, compile
from qjax.training.checkpoint import CheckpointOptions
from qjax.training.fit import FitResult, fit
from qjax.training.records import Run, load_run

# The converters pull in PennyLane / Qiskit (seconds to import): load them on first use.
_LAZY = {
    "from_pennylane": "qjax.interop.pennylane",
    "from_qasm": "qjax.interop.qiskit",
    "from_qiskit": "qjax.interop.qiskit",
    "to_qasm": "qjax.interop.qiskit",
    "to_qiskit": "qjax.interop.qiskit",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'qjax' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


try:
    __version__ = _version("qjax")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "Angle",
    "Backend",
    "Channel",
    "CheckpointOptions",
    "Circuit",
    "Compiled",
    "Evaluation",
    "Executor",
    "FitResult",
    "GATES",
    "Input",
    "JobRunner",
    "NoiseModel",
    "NoisyCompiled",
    "Objective",
    "Operation",
    "Param",
    "PauliSum",
    "Problem",
    "QjaxError",
    "Run",
    "compile",
    "compile_noisy",
    "errors",
    "fit",
    "from_pennylane",
    "from_qasm",
    "from_qiskit",
    "jaxcache",
    "load_run",
    "make_backend",
    "mitigation",
    "sharding",
    "templates",
    "to_qasm",
    "to_qiskit",
]
