"""qjax: train variational quantum circuits with JAX, Optax, Hydra and Orbax.

The public API, flat::

    import qjax
    c = qjax.Circuit(2).h(0).ry(qjax.Param(0), 1).cnot(0, 1)
    f = qjax.compile(c, qjax.PauliSum.from_string("Z0 Z1"))
    value, grad = jax.value_and_grad(f.expval)(jnp.array([0.3]))

Wire 0 is the most significant bit of a state index (PennyLane's convention);
``qjax.from_qiskit`` maps Qiskit qubit k to wire k. Angles are radians.
"""

from importlib.metadata import PackageNotFoundError, version as _version

from qjax import errors, templates
from qjax.backends import Backend, Objective, make_backend
from qjax.checkpointing import CheckpointOptions
from qjax.circuit import Angle, Circuit, Input, Operation, Param
from qjax.errors import QjaxError
from qjax.gates import GATES
from qjax.observables import PauliSum
from qjax.pennylane_interop import from_pennylane
from qjax.problems import Problem
from qjax.qiskit_interop import from_qasm, from_qiskit, to_qasm, to_qiskit
from qjax.sim import Compiled, compile
from qjax.tracking import Run, load_run
from qjax.training import FitResult, fit

try:
    __version__ = _version("qjax")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "Angle",
    "Backend",
    "CheckpointOptions",
    "Circuit",
    "Compiled",
    "FitResult",
    "GATES",
    "Input",
    "Objective",
    "Operation",
    "Param",
    "PauliSum",
    "Problem",
    "QjaxError",
    "Run",
    "compile",
    "errors",
    "fit",
    "from_pennylane",
    "from_qasm",
    "from_qiskit",
    "load_run",
    "make_backend",
    "templates",
    "to_qasm",
    "to_qiskit",
]
