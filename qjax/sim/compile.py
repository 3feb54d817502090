"""Compile a :class:`~qjax.ir.circuit.Circuit` into pure JAX statevector functions.

``compile`` does all the Python work once: it reads the circuit's linear angle
map, looks every gate up in the table, precomputes fixed matrices, marks diagonal
gates, fuses the gates into few wide blocks (:mod:`qjax.sim.fusion`: one pass over the
state per block instead of one per gate), runs repeated layers with ``lax.scan``
(:mod:`qjax.sim.layering`: compile time flat in depth) and groups observables into bit-mask
plans. The functions it returns contain only array math, so ``jax.jit``, ``jax.vmap`` and ``jax.grad`` compose with them and
a second call with new parameters does not retrace.

Conventions (see DESIGN.md, "Qubit order"): the state is a ``(2**n,)`` vector whose
index has wire 0 as its most significant bit; a fused block views it as
``(2**lo, 2**k, 2**(n-hi))`` (no transposes), single gates as a ``(2,)*n`` tensor
with axis ``w`` = wire ``w``. Within a gate the first wire is the most significant
(``CNOT(control, target)``).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax.numpy as jnp

from qjax.errors import ConfigError, ObservableError
from qjax.ir.circuit import Circuit
from qjax.ir.pauli import PauliSum
from qjax.sim import sharded
from qjax.sim.checks import (
    angle_function,
    check_circuit,
    check_dtype,
    observables_of,
    sampler,
)
from qjax.sim.clifford import conjugate, split_tail
from qjax.sim.gradients import GRADIENT_METHODS, parameter_shift_values
from qjax.sim.layering import LayeredProgram, adjoint_values, layer
from qjax.sim.pauli import adjoint_observables, expectation_values, expval_plan
from qjax.sim.program import lower

__all__ = ["compile", "Compiled", "auto_gradient"]


class Compiled(NamedTuple):
    """What :func:`compile` returns: pure functions plus the facts they were built from.

    Functions (P = ``num_params``, F = ``num_inputs``, n = ``circuit.num_wires``,
    ``real`` = float32 for complex64 and float64 for complex128):

    - ``state(params, x=None)``: ``params (P,)``, ``x (F,)`` → ``(2**n,) dtype``.
    - ``probs(params, x=None)`` → ``(2**n,) real``.
    - ``sample(key, params, shots, x=None)`` → ``(shots, n) int32`` bits, wire 0 first.
      ``shots`` is a Python int; under ``jit`` mark it static (``static_argnums=2``).
    - ``expval(params, x=None)`` → ``() real`` for one observable, ``(k,) real`` for a
      list. Its reverse-mode derivative follows ``gradient``; ``adjoint`` and
      ``parameter_shift`` are ``custom_vjp`` rules (use backprop for forward mode).

    ``params=None`` is accepted when P = 0. Shapes are checked when the function is
    traced (under ``vmap``: the per-example shapes) and raise ``ParameterShapeError``.

    Fields: ``circuit`` as compiled; ``observables`` as PauliSums (converted from
    strings, SparsePauliOp or PennyLane ops); ``num_params`` (P); ``num_inputs`` (F);
    ``dtype`` (numpy complex dtype); ``gradient`` (the method name as given).
    """

    state: Callable
    probs: Callable
    sample: Callable
    expval: Callable
    circuit: Circuit
    observables: tuple[PauliSum, ...]
    num_params: int
    num_inputs: int
    dtype: Any
    gradient: str


def compile(circuit: Circuit, observables=None, *, dtype=jnp.complex64, gradient: str = "auto", mesh=None) -> Compiled:
    """Compile ``circuit`` (and optionally observables) into pure JAX functions.

    Args:
      circuit: the :class:`~qjax.ir.circuit.Circuit` to simulate from ``|0…0>``.
      observables: None, one observable, or a list/tuple of them. Each is a
        :class:`PauliSum` (or a Pauli string, qiskit ``SparsePauliOp`` or PennyLane
        operator, converted with the same wire rules).
      dtype: ``jnp.complex64`` or ``jnp.complex128`` (needs ``jax_enable_x64``).
      gradient: how ``expval`` is differentiated: ``"auto"`` (backprop below 13
        wires while its tape fits in 512 MiB, else adjoint; see :func:`auto_gradient`),
        ``"backprop"``, ``"adjoint"`` or ``"parameter_shift"``.
      mesh: None (one device), or the devices to split ONE statevector over: a
        ``jax.sharding.Mesh``, a list of devices, or a count of ``jax.devices()``; a power of
        two D = 2**k (:mod:`qjax.sim.sharded`). The functions then run inside ``shard_map``;
        ``state`` returns a ``(2**n,)`` array split over the devices.

    Returns:
      a :class:`Compiled` named tuple.

    ``expval`` does not apply the circuit's trailing angle-free Clifford gates: it
    measures the observables conjugated through them (:mod:`qjax.sim.clifford`), which is
    exact; ``state``, ``probs`` and ``sample`` run every gate.
    """
    check_circuit(circuit, "compile")
    dt = check_dtype(dtype)
    if gradient not in GRADIENT_METHODS:
        raise ConfigError(f"gradient={gradient!r} is not known; choose one of {', '.join(GRADIENT_METHODS)}")
    n, P, F = circuit.num_wires, circuit.num_params, circuit.num_inputs
    single, obs = observables_of(observables, n)
    program = lower(circuit, dt)
    if mesh is not None:
        state_mesh = sharded.state_mesh(mesh)
        if state_mesh.devices.size > 1:
            return _compile_sharded(circuit, program, obs, single, dt, gradient, state_mesh)
    # expval measures C† H C on the state before the trailing Clifford gates C
    # (qjax.sim.clifford); state, probs and sample run the whole circuit, laid out when
    # first traced.
    head, tail = split_tail(program) if obs else (program, ())
    plans = tuple(expval_plan(conjugate(o, tail), n) for o in obs)
    measured = layer(head)
    layered = functools.cache(lambda: layer(program) if tail else measured)
    inputs = angle_function(program, dt, P, F)

    def state(params, x=None):
        return layered().run(inputs(params, x))

    def probs(params, x=None):
        psi = state(params, x)
        return jnp.real(psi) ** 2 + jnp.imag(psi) ** 2

    sample = sampler(probs, n)
    values = _expval_values(circuit, measured, plans, gradient)

    return Compiled(
        state, probs, sample, _expval(values, inputs, bool(plans), single), circuit, obs, P, F, dt, gradient
    )


# Stored intermediate states of backprop above which gradient="auto" uses the adjoint
# method (memory O(state)) instead.
_AUTO_BACKPROP_BYTES = 512 * 2**20
# From this many wires on, gradient="auto" uses the adjoint method whatever the tape:
# once the state outgrows the core's caches, re-reading it beats storing one per block.
# Measured with scripts/benchmark.py's W1 (2-core EPYC): equal at n = 12, adjoint
# 1.3x faster at n = 14 and 16, 1.7x at 18, 1.2x at 20; backprop 1.3x faster at n = 8.
_AUTO_ADJOINT_WIRES = 13


def _expval(values: Callable, inputs: Callable, observed: bool, single: bool) -> Callable:
    """``expval(params, x=None)``: the observables' values (one scalar when one observable was given)."""

    def expval(params, x=None):
        if not observed:
            raise ObservableError(
                "this circuit was compiled without observables; pass them to "
                "compile(circuit, observables=PauliSum.from_string('Z0'), ...) to use expval"
            )
        out = values(inputs(params, x))
        return out[0] if single else out

    return expval


def auto_gradient(layered: LayeredProgram) -> str:
    """What ``gradient="auto"`` means for ``layered`` (from :func:`qjax.sim.layering.layer`):
    ``"adjoint"`` from 13 wires on or when the backprop tape (one state per block pass)
    would exceed 512 MiB, else ``"backprop"`` (which also supports forward mode)."""
    tape = (layered.num_blocks + 1) * 2**layered.num_wires * jnp.dtype(layered.program.dtype).itemsize
    if layered.num_wires >= _AUTO_ADJOINT_WIRES or tape > _AUTO_BACKPROP_BYTES:
        return "adjoint"
    return "backprop"


def _expval_values(circuit: Circuit, layered: LayeredProgram, plans, gradient: str) -> Callable:
    values = expectation_values(layered, plans)
    if gradient == "auto" and plans:
        gradient = auto_gradient(layered)
    if not plans or gradient == "backprop":
        return values
    if gradient == "adjoint":
        return adjoint_values(layered, *adjoint_observables(plans))
    return parameter_shift_values(values, circuit)


def _compile_sharded(circuit: Circuit, program, obs, single: bool, dt, gradient: str, mesh) -> Compiled:
    """:func:`compile` with the state split over ``mesh`` (:mod:`qjax.sim.sharded`)."""
    P, F, n = circuit.num_params or 0, circuit.num_inputs or 0, circuit.num_wires
    prog = sharded.sharded_program(program, obs, mesh)
    inputs = angle_function(program, dt, P, F)

    def state(params, x=None):
        return prog.state(inputs(params, x))

    def probs(params, x=None):
        psi = state(params, x)
        return jnp.real(psi) ** 2 + jnp.imag(psi) ** 2

    method = gradient
    if method == "auto":
        # Backprop's tape holds one shard per item and device; the adjoint method a few.
        tape = (len(prog.plan.items) + 1) * 2**n // mesh.devices.size * jnp.dtype(dt).itemsize
        method = "adjoint" if n >= _AUTO_ADJOINT_WIRES or tape > _AUTO_BACKPROP_BYTES else "backprop"
    if method == "adjoint":
        values = prog.adjoint_values()
    elif method == "parameter_shift":
        values = parameter_shift_values(prog.values, circuit)
    else:
        values = prog.values

    expval = _expval(values, inputs, bool(obs), single)
    return Compiled(state, probs, sampler(probs, n), expval, circuit, obs, P, F, dt, gradient)
