"""What both compilers check before they build anything, and how both sample.

The statevector compiler (:mod:`qjax.sim.compile`) and the density-matrix compiler
(:mod:`qjax.noise.density`) take the same circuits, observables, dtypes and
parameter vectors, so they refuse bad ones with the same messages: a circuit that
is no :class:`~qjax.ir.circuit.Circuit`, a dtype other than complex64/complex128 (or
complex128 without JAX's x64 mode: never silently downgraded), an observable on a
wire the circuit lacks, a parameter or input vector of the wrong shape or a complex
one, and non-integer shots.
"""

from __future__ import annotations

import numbers
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from qjax.errors import (
    CircuitError,
    ConfigError,
    ObservableError,
    ParameterShapeError,
    PrecisionError,
)
from qjax.ir.circuit import Circuit
from qjax.ir.pauli import PauliSum, as_pauli_sums

__all__ = ["check_circuit", "check_dtype", "check_x64", "check_wires", "observables_of", "angle_function", "sampler"]


def check_circuit(circuit: Any, who: str) -> None:
    """A :class:`CircuitError` unless ``circuit`` is a qjax Circuit (``who`` names the caller)."""
    if not isinstance(circuit, Circuit):
        raise CircuitError(
            f"{who} needs a qjax.Circuit, got {type(circuit).__name__}; convert it first "
            "(qjax.from_qiskit, qjax.from_qasm, qjax.from_pennylane)"
        )


def check_dtype(dtype) -> np.dtype:
    """``dtype`` as a numpy complex dtype; a :class:`PrecisionError` unless complex64/complex128 (with x64)."""
    try:
        dt = jnp.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (jnp.dtype(jnp.complex64), jnp.dtype(jnp.complex128)):
        raise PrecisionError(f"dtype={dtype!r} is not supported; use jnp.complex64 (default) or jnp.complex128")
    check_x64(dt)
    return dt


def check_x64(dt) -> None:
    """complex128 needs JAX's 64-bit mode (checked again at trace time: it may be switched off later)."""
    if dt == jnp.dtype(jnp.complex128) and not jax.config.read("jax_enable_x64"):
        raise PrecisionError(
            "dtype=complex128 needs JAX's 64-bit mode, which is off; call "
            'jax.config.update("jax_enable_x64", True) before compiling (CLI: precision=double), '
            "or use dtype=jnp.complex64"
        )


def check_wires(obs: PauliSum, num_wires: int) -> None:
    """An :class:`ObservableError` when ``obs`` names a wire the circuit lacks."""
    bad = [w for w in obs.wires if w >= num_wires]
    if bad:
        raise ObservableError(
            f"observable {obs} acts on wire {bad[-1]} but the circuit has {num_wires} wire(s) "
            f"(0..{num_wires - 1}); use a wider circuit or fix the observable's wires"
        )


def observables_of(observables, num_wires: int) -> tuple[bool, tuple[PauliSum, ...]]:
    """``(single, sums)``: whether one observable (not a list) was given, and each as a checked PauliSum."""
    single = observables is not None and not isinstance(observables, (list, tuple))
    sums = () if observables is None else as_pauli_sums([observables] if single else observables)
    for o in sums:
        check_wires(o, num_wires)
    return single, sums


def angle_function(program, dt, num_params: int, num_inputs: int) -> Callable:
    """``(params, x) -> (G,)`` angles of ``program`` (a :class:`~qjax.sim.program.Program`).

    Checks shapes at trace time (they are static; under ``vmap`` the per-example
    shapes) and raises :class:`ParameterShapeError` naming the expected shape.
    """
    P, F, rd = num_params, num_inputs, program.real_dtype

    def angles(params, x):
        check_x64(dt)
        if params is None and P == 0:
            params = jnp.zeros((0,), rd)
        if params is None or jnp.shape(params) != (P,):
            shape = None if params is None else jnp.shape(params)
            raise ParameterShapeError(
                f"params has shape {shape} but the circuit has {P} trainable parameter(s); pass a ({P},) array"
                + ("; for a batch of parameter sets use jax.vmap(compiled.expval)" if shape and len(shape) > 1 else "")
            )
        if jnp.iscomplexobj(params):
            raise ParameterShapeError("params must be real angles (radians), got a complex array")
        if F == 0:
            if x is not None and jnp.shape(x) != (0,):
                raise ParameterShapeError(
                    f"x has shape {jnp.shape(x)} but the circuit reads no Input features; call without x"
                )
            x = jnp.zeros((0,), rd)
        elif x is None or jnp.shape(x) != (F,):
            got = "no x" if x is None else f"x with shape {jnp.shape(x)}"
            raise ParameterShapeError(
                f"got {got} but the circuit reads {F} input feature(s) (Input(0..{F - 1})); pass x as a ({F},) array"
            )
        elif jnp.iscomplexobj(x):
            raise ParameterShapeError("x must be real features, got a complex array")
        return program.angles(jnp.asarray(params).astype(rd), jnp.asarray(x).astype(rd))

    return angles


def sampler(probs: Callable, num_wires: int) -> Callable:
    """``sample(key, params, shots, x=None) -> (shots, n) int32`` bits (wire 0 first) drawn from ``probs``."""
    shifts = np.arange(num_wires - 1, -1, -1, dtype=np.int32)

    def sample(key, params, shots, x=None):
        if isinstance(shots, bool) or not isinstance(shots, numbers.Integral) or shots < 1:
            raise ConfigError(
                f"shots={shots!r} must be a positive Python int (under jit mark it static: "
                "jax.jit(compiled.sample, static_argnums=2))"
            )
        p = jnp.maximum(probs(params, x), 0.0)  # a density matrix's rounding can leave -1e-9
        index = jax.random.choice(key, 2**num_wires, shape=(int(shots),), p=p / jnp.sum(p))
        return (index[:, None] >> shifts) & 1

    return sample
