"""Run one PennyLane tape on qjax's statevector simulator.

The device (:mod:`qjax.frontends.pennylane_device`) hands each tape here after
PennyLane's preprocessing has decomposed it into the gates of :data:`PENNYLANE_GATES`
and mapped its wires to ``0..n-1`` (wire 0 the most significant bit, as in both
PennyLane and qjax). :func:`lower` turns the tape into a qjax
:class:`~qjax.ir.circuit.Circuit` in which every gate angle is its own parameter, plus
the tape's angle values; the circuit depends only on the tape's *structure*, so the
compiled, jitted functions are cached on it (:func:`programs`) and a new set of angles,
or a JAX tracer, reuses them without retracing.

Measurements: expectation values of observables with a Pauli form (Pauli words, sums,
Hamiltonians with concrete coefficients, and small matrices such as ``Hermitian``,
``Projector`` or ``Hadamard`` expanded with ``qml.pauli_decompose``) are computed by
qjax's Pauli kernels; everything else (var, probs, state, sample, counts, any
measurement with shots, observables with traced coefficients) from the final state by
PennyLane's own measurement code, the code ``default.qubit`` uses.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pennylane as qml
from pennylane.devices.qubit import measure_final_state
from pennylane.measurements import ExpectationMP

from qjax.errors import ObservableError
from qjax.ir.circuit import Circuit, Operation, Param
from qjax.ir.gates import GATES
from qjax.ir.pauli import PauliSum
from qjax.sim.compile import compile as qjax_compile

__all__ = ["PENNYLANE_GATES", "NATIVE_OPS", "Lowered", "lower", "programs", "pauli_observables", "run_tape"]

#: PennyLane operation name -> qjax gate-table name (same matrices: checked in
#: tests/frontends/test_pennylane_device.py against ``qml.matrix``).
PENNYLANE_GATES = {
    "Hadamard": "H", "PauliX": "X", "PauliY": "Y", "PauliZ": "Z", "S": "S", "T": "T",
    "Adjoint(S)": "Sdg", "Adjoint(T)": "Tdg", "SX": "SX", "RX": "RX", "RY": "RY", "RZ": "RZ",
    "PhaseShift": "PhaseShift", "U3": "U3", "CNOT": "CNOT", "CY": "CY", "CZ": "CZ", "SWAP": "SWAP",
    "ISWAP": "iSWAP", "CRX": "CRX", "CRY": "CRY", "CRZ": "CRZ", "ControlledPhaseShift": "CPhase",
    "IsingXX": "RXX", "IsingYY": "RYY", "IsingZZ": "RZZ", "Toffoli": "Toffoli", "CSWAP": "CSWAP",
}  # fmt: skip
#: Operations the device runs without decomposing them (QubitUnitary only with a concrete,
#: unbatched matrix, as operations without a decomposition; GlobalPhase multiplies the
#: state; Identity does nothing).
NATIVE_OPS = frozenset(PENNYLANE_GATES) | {"QubitUnitary", "GlobalPhase", "Identity"}
# Observables on at most this many wires without a Pauli form are expanded with
# qml.pauli_decompose (4**k terms); wider ones are measured from the state by PennyLane.
_MAX_DECOMPOSED_WIRES = 3
# Up to this many wires a circuit runs in microseconds whatever XLA does, while its
# compilation (once per circuit structure) costs 0.1-0.3 s of CPU: compile it with XLA's
# cheap settings (a third less compile time here; calls stay under a millisecond).
_QUICK_COMPILE_WIRES = 8
_QUICK_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


class Lowered(NamedTuple):
    """A tape as qjax sees it.

    ``key``: the structure (gate names, wires, fixed matrices), hashable; ``num_wires``;
    ``angles``: the gate angles in parameter order, each a scalar or a ``(B,)`` batch
    (NumPy or JAX, possibly traced); ``phases``: the GlobalPhase angles;
    ``param_of``: for each tape operation parameter (``tape.get_parameters(
    trainable_only=False, operations_only=True)`` order), the qjax parameter it is, or -1.
    """

    key: tuple
    num_wires: int
    angles: list
    phases: list
    param_of: tuple[int, ...]


def lower(tape) -> Lowered:
    """Lower ``tape`` (standard wires, native operations only) to its structure and angles."""
    key: list[Any] = []
    angles: list = []
    phases: list = []
    param_of: list[int] = []
    for op in tape.operations:
        name, wires = op.name, tuple(int(w) for w in op.wires)
        if name == "GlobalPhase":
            phases.append(op.data[0])
            param_of.append(-1)
        elif name == "Identity":
            param_of.extend([-1] * len(op.data))
        elif name not in PENNYLANE_GATES:  # QubitUnitary or an op without decomposition: its fixed matrix
            matrix = np.asarray(qml.matrix(op, wire_order=op.wires), dtype=np.complex128)
            key.append(("Unitary", wires, matrix.tobytes()))
            param_of.extend([-1] * len(op.data))
        else:
            first = len(angles)
            key.append((PENNYLANE_GATES[name], wires))
            angles.extend(op.data)
            param_of.extend(range(first, len(angles)))
    return Lowered(tuple(key), tape.num_wires, angles, phases, tuple(param_of))


def _circuit(key: tuple, num_wires: int) -> Circuit:
    ops, k = [], 0
    for item in key:
        if item[0] == "Unitary":
            dim = 2 ** len(item[1])
            matrix = np.frombuffer(item[2], dtype=np.complex128).reshape(dim, dim)
            ops.append(Operation("Unitary", item[1], matrix=tuple(tuple(complex(v) for v in row) for row in matrix)))
            continue
        gate, wires = item
        count = GATES[gate].num_params
        ops.append(Operation(gate, wires, tuple(Param(k + j) for j in range(count))))
        k += count
    return Circuit(max(num_wires, 1), tuple(ops), num_params=k)


class Programs:
    """The jitted functions of one tape structure, built on first use."""

    def __init__(self, key: tuple, num_wires: int, observables: tuple[PauliSum, ...], dtype: str):
        self.circuit = _circuit(key, num_wires)
        self.observables = observables
        self.dtype = jnp.dtype(dtype)
        self.quick = num_wires <= _QUICK_COMPILE_WIRES

    def jit(self, f):
        """``jax.jit(f)``; small circuits called with concrete values get XLA's cheap settings
        (JAX takes compiler options only at the top level, not inside a user's jit)."""
        plain = jax.jit(f)
        if not self.quick:
            return plain
        quick = jax.jit(f, compiler_options=_QUICK_COMPILE)

        def call(params):
            return plain(params) if isinstance(params, jax.core.Tracer) else quick(params)

        return call

    def _compiled(self, gradient: str):
        return qjax_compile(self.circuit, list(self.observables) or None, dtype=self.dtype, gradient=gradient)

    @functools.cached_property
    def state(self):
        return self.jit(self._compiled("auto").state)

    @functools.cached_property
    def state_batched(self):
        return self.jit(jax.vmap(self._compiled("auto").state))

    @functools.cached_property
    def expval(self):
        return self.jit(self._compiled("auto").expval)

    @functools.cached_property
    def expval_batched(self):
        return self.jit(jax.vmap(self._compiled("auto").expval))

    @functools.cached_property
    def value_and_jacobian(self):
        """``params (P,) -> ((k,) values, (k, P) jacobian)`` by the adjoint method."""
        f = self._compiled("adjoint").expval
        k = len(self.observables)

        def value_and_jac(params):
            values, pullback = jax.vjp(f, params)
            (jac,) = jax.vmap(pullback)(jnp.eye(k, dtype=values.dtype))
            return values, jac

        return self.jit(value_and_jac)


@functools.lru_cache(maxsize=256)
def programs(key: tuple, num_wires: int, observables: tuple[PauliSum, ...], dtype: str) -> Programs:
    """The (cached) :class:`Programs` of a tape structure, its Pauli observables and ``dtype``."""
    return Programs(key, num_wires, observables, dtype)


def _is_traced(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def _pauli_observable(obs) -> PauliSum | None:
    if any(_is_traced(d) for d in obs.data):
        return None
    try:
        if obs.pauli_rep is not None:
            return PauliSum.from_pennylane(obs)
        if obs.has_matrix and len(obs.wires) <= _MAX_DECOMPOSED_WIRES:
            matrix = qml.matrix(obs, wire_order=obs.wires)
            if not np.allclose(matrix, np.conj(matrix.T), atol=1e-10):
                return None
            return PauliSum.from_pennylane(qml.pauli_decompose(matrix, wire_order=obs.wires, pauli=True))
    except (ObservableError, qml.exceptions.MatrixUndefinedError, TypeError, ValueError):
        return None
    return None


def pauli_observables(tape) -> tuple[PauliSum, ...] | None:
    """Each measurement's observable as a PauliSum, or None unless all are expectation values that have one."""
    if not tape.measurements or not all(isinstance(m, ExpectationMP) and m.obs is not None for m in tape.measurements):
        return None
    sums = []
    for m in tape.measurements:
        s = _pauli_observable(m.obs)
        if s is None:
            return None
        sums.append(s)
    return tuple(sums)


def params_of(lowered: Lowered, batch_size: int | None):
    """The angle vector ``(P,)`` (or ``(B, P)`` for a broadcast tape), NumPy unless an angle is a JAX value."""
    angles = lowered.angles
    if any(isinstance(a, (jax.Array, jax.core.Tracer)) for a in angles):
        if batch_size is None:
            return jnp.stack([jnp.asarray(a, dtype=jnp.result_type(float)) for a in angles]) if angles else None
        cols = [jnp.broadcast_to(jnp.asarray(a, dtype=jnp.result_type(float)), (batch_size,)) for a in angles]
        return jnp.stack(cols, axis=1) if cols else jnp.zeros((batch_size, 0))
    if batch_size is None:
        return np.array([qml.math.toarray(a) for a in angles], dtype=np.float64) if angles else None
    if not angles:
        return np.zeros((batch_size, 0))
    return np.stack([np.broadcast_to(np.asarray(qml.math.toarray(a), np.float64), (batch_size,)) for a in angles], 1)


def _phase(lowered: Lowered, batch_size: int | None):
    total = qml.math.sum(qml.math.stack([qml.math.cast(p, float) for p in lowered.phases]), axis=0)
    factor = qml.math.exp(-1j * total)
    return factor if batch_size is None else qml.math.reshape(factor, (-1, 1))


def final_state(tape, lowered: Lowered, dtype: str):
    """``(2,)*n`` (or ``(B,) + (2,)*n``) final state of ``tape``."""
    batch = tape.batch_size
    progs = programs(lowered.key, lowered.num_wires, (), dtype)
    params = params_of(lowered, batch)
    if batch is None:
        state = progs.state(params)
    else:
        state = progs.state_batched(params)
    if lowered.phases:
        state = state * jnp.asarray(_phase(lowered, batch), dtype=state.dtype)
    n = max(lowered.num_wires, 1)
    shape = (2,) * n if batch is None else (batch,) + (2,) * n
    state = jnp.reshape(state, shape)
    if lowered.num_wires == 0:  # no wires at all: the extra wire stays |0>; keep its amplitude only
        state = state[..., 0]
    return state


def run_tape(tape, dtype: str, rng=None, prng_key=None):
    """The results of one tape (standard wires, native operations), as PennyLane returns them."""
    lowered = lower(tape)
    batch = tape.batch_size
    obs = None if tape.shots else pauli_observables(tape)
    if obs is not None and lowered.num_wires > 0:
        progs = programs(lowered.key, lowered.num_wires, obs, dtype)
        params = params_of(lowered, batch)
        values = progs.expval(params) if batch is None else progs.expval_batched(params)
        values = jnp.reshape(values, (len(obs),) if batch is None else (batch, len(obs)))
        if not isinstance(values, jax.core.Tracer):
            values = np.asarray(values)
        results = tuple(values[..., i] for i in range(len(obs)))
        return results[0] if len(results) == 1 else results
    state = final_state(tape, lowered, dtype)
    if not isinstance(state, jax.core.Tracer) and prng_key is None:
        # PennyLane's NumPy sampler (seeded by rng) needs a NumPy state whose probabilities sum
        # to 1 within float64 rounding: complex64 rounding over a long circuit leaves ~1e-6.
        state = np.asarray(state, dtype=np.complex128)
        if tape.shots:
            axes = tuple(range(state.ndim - lowered.num_wires, state.ndim))
            state = state / np.sqrt(np.sum(np.abs(state) ** 2, axis=axes, keepdims=True))
    return measure_final_state(tape, state, batch is not None, rng=rng, prng_key=prng_key)
