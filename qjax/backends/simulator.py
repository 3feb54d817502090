"""The embedded JAX statevector backend: exact expectations, autodiff gradients."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from qjax.backends.base import Objective
from qjax.circuit import Circuit
from qjax.errors import BackendError
from qjax.observables import PauliSum
from qjax.sim import compile as compile_circuit

__all__ = ["SimulatorBackend"]

_GRADIENTS = ("auto", "backprop", "adjoint", "parameter_shift")


class SimulatorBackend:
    """Runs circuits with :func:`qjax.compile`; jit-ed once per objective.

    ``max_qubits`` bounds the state size (``2**n`` amplitudes, 8 bytes each in
    complex64); ``shots`` must be ``None``: this backend computes exact expectations.
    """

    name = "simulator"

    def __init__(self, *, max_qubits: int = 26, shots: int | None = None, dtype=jnp.complex64, **_ignored):
        if shots is not None:
            raise BackendError(
                f"backend.shots={shots}: the simulator backend computes exact expectations; "
                "set backend.shots=null (this backend has no shot noise)"
            )
        self.max_qubits = int(max_qubits)
        self.dtype = dtype

    def check(self, circuit: Circuit, observable: PauliSum) -> None:
        n = max(circuit.num_wires, observable.num_wires)
        if n > self.max_qubits:
            raise BackendError(
                f"the circuit needs {n} qubits but backend=simulator is limited to "
                f"{self.max_qubits} (backend.max_qubits); reduce the problem size or raise the limit"
            )

    def objective(self, circuit: Circuit, observable: PauliSum, *, gradient: str = "auto") -> Objective:
        if gradient not in _GRADIENTS:
            raise BackendError(
                f"gradient={gradient} is not available on backend=simulator; choose one of {', '.join(_GRADIENTS)}"
            )
        self.check(circuit, observable)
        compiled = compile_circuit(circuit, observable, dtype=self.dtype, gradient=gradient)
        expval = compiled.expval
        return Objective(
            value=jax.jit(expval),
            value_and_grad=jax.jit(jax.value_and_grad(expval)),
            values=jax.jit(jax.vmap(expval)),
            num_params=circuit.num_params,
        )

    def describe(self) -> dict:
        return {"name": self.name, "device": None, "shots": None, "dtype": jnp.dtype(self.dtype).name}

    def stats(self) -> dict:
        return {"num_jobs": 0, "shots_total": 0}
