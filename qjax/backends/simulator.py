"""The embedded JAX statevector backend: exact expectations, autodiff gradients.

It is also an :class:`~qjax.backends.executor.Executor` (:class:`SimulatorExecutor`):
a fallback target for hardware runs, and the oracle against which the batched
parameter-shift path is tested.
"""

from __future__ import annotations

import hashlib

import jax
import jax.numpy as jnp
import numpy as np

from qjax.backends.base import Backend, Capabilities, Objective
from qjax.backends.executor import DoneJob, Evaluation, angle_circuit
from qjax.errors import BackendError
from qjax.ir.circuit import Circuit
from qjax.ir.pauli import PauliSum
from qjax.schemas import MAX_OPERATIONS
from qjax.sim.compile import compile as compile_circuit
from qjax.sim.gradients import GRADIENT_METHODS
from qjax.sim.program import lower
from qjax.sim.sharded import check_devices, sharded_program, state_mesh

__all__ = ["SimulatorBackend", "SimulatorExecutor"]


class SimulatorBackend(Backend):
    """Runs circuits with :func:`qjax.compile`; jit-ed once per objective.

    ``max_qubits`` bounds the state size (``2**n`` amplitudes, 8 bytes each in
    complex64) and ``max_operations`` the circuit's gate count (compile time grows with
    it); ``shots`` must be ``None``: this backend computes exact expectations.
    """

    name = "simulator"

    def __init__(
        self,
        *,
        max_qubits: int = 26,
        max_operations: int = MAX_OPERATIONS,
        shots: int | None = None,
        dtype=jnp.complex64,
        devices: int | str = 1,
        mitigation=None,
    ):
        # exact, noiseless, no device, no jobs: make_backend drops the run's other keys (seed, state_dir, budget,
        # fallback_options) and the uniform ones (device, seed_simulator; every execution_mode runs as job mode)
        if shots is not None:
            raise BackendError(
                f"backend.shots={shots}: the simulator backend computes exact expectations; "
                "set backend.shots=null (this backend has no shot noise)"
            )
        if mitigation is not None and mitigation.techniques:
            raise BackendError(
                f"mitigation={mitigation.name}: backend=simulator is noiseless, there is nothing to mitigate; "
                "use mitigation=none, or a noisy backend (backend=ibm_fake)"
            )
        self.max_qubits, self.max_operations = int(max_qubits), int(max_operations)
        self.dtype = dtype
        self.devices = resolve_devices(devices)
        self.global_wires: list[int] = []

    def check(self, circuit: Circuit, observable: PauliSum) -> None:
        self.check_limits(circuit, observable)

    def objective(self, circuit: Circuit, observable: PauliSum, *, gradient: str = "auto") -> Objective:
        if gradient not in GRADIENT_METHODS:
            raise BackendError(
                f"gradient={gradient} is not available on backend=simulator; choose one of "
                f"{', '.join(GRADIENT_METHODS)}"
            )
        self.check(circuit, observable)
        if self.devices > 1:
            mesh = state_mesh(self.devices)
            compiled = compile_circuit(circuit, observable, dtype=self.dtype, gradient=gradient, mesh=mesh)
            self.global_wires = list(sharded_program(lower(circuit, self.dtype), (), mesh).plan.global_wires)
        else:
            compiled = compile_circuit(circuit, observable, dtype=self.dtype, gradient=gradient)
        expval = compiled.expval
        return Objective(
            value=jax.jit(expval),
            value_and_grad=jax.jit(jax.value_and_grad(expval)),
            values=jax.jit(jax.vmap(expval)),
            num_params=circuit.num_params,
        )

    def executor(self, circuit: Circuit, observables) -> "SimulatorExecutor":
        """This simulator as an :class:`~qjax.backends.executor.Executor` of ``circuit``'s gate angles."""
        observables = list(observables)
        for obs in observables:
            self.check(circuit, obs)
        return SimulatorExecutor(circuit, observables, self.dtype)

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            gradients=GRADIENT_METHODS, max_qubits=self.max_qubits, max_operations=self.max_operations, shots=False
        )

    def describe(self) -> dict:
        out = {"name": self.name, "device": None, "shots": None, "dtype": jnp.dtype(self.dtype).name}
        if self.devices > 1:  # one device: the manifest stays as before
            out.update(devices=self.devices, global_wires=self.global_wires)
        return out


def resolve_devices(devices: int | str) -> int:
    """``backend.devices``: ``1``, ``"auto"`` (the largest power of two of ``jax.devices()``) or a power of two N."""
    if devices == "auto":
        count = len(jax.devices())
        return 1 << (count.bit_length() - 1)
    if isinstance(devices, str) and devices.isdigit():
        devices = int(devices)
    if isinstance(devices, bool) or not isinstance(devices, int):
        raise BackendError(f"backend.devices={devices!r}: use 1, auto, or a power of two such as 2, 4, 8")
    check_devices(devices, num_wires=64)
    available = len(jax.devices())
    if devices > available:
        raise BackendError(
            f"backend.devices={devices} but JAX sees {available} device(s); use backend.devices=auto or at most "
            f"{available} (on CPU set XLA_FLAGS=--xla_force_host_platform_device_count={devices} before starting)"
        )
    return devices


class SimulatorExecutor:
    """Exact expectations of ``observables`` at batches of gate-angle vectors ``(B, G)``.

    Parameter sets are the circuit's gate angles (see
    :func:`~qjax.backends.executor.angle_circuit`); one ``submit`` is one
    ``jit(vmap(expval))`` call, finished when it returns.
    """

    name: str = "simulator"
    persistent_ids: bool = False
    shots: int | None = None

    def __init__(self, circuit: Circuit, observables: list[PauliSum], dtype=jnp.complex64):
        self.circuit = angle_circuit(circuit)
        self.observables = list(observables)
        self.num_params = self.circuit.num_params
        self.num_observables = len(self.observables)
        compiled = compile_circuit(self.circuit, self.observables, dtype=dtype, gradient="backprop")
        self._values = jax.jit(jax.vmap(compiled.expval))
        self._dtype = jnp.finfo(dtype).dtype

    def submit(self, params, *, mitigate: bool = True) -> DoneJob:
        params = np.asarray(params, dtype=float)
        values = np.asarray(self._values(jnp.asarray(params, self._dtype)), dtype=float).reshape(len(params), -1)
        return DoneJob(Evaluation(values, np.zeros_like(values)))

    def attach(self, job_id: str) -> None:
        return None

    def planned_cost(self, batch_size: int, *, mitigate: bool = True) -> tuple[int, float]:
        return 0, 0.0

    def fingerprint(self) -> str:
        blob = repr((self.circuit, [o.terms for o in self.observables], str(self._dtype)))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def describe(self) -> dict:
        return {"name": self.name, "device": None, "shots": None}
