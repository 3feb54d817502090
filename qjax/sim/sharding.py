"""Batches of circuit evaluations spread over every available device.

A batch of parameter sets (a population, a parameter-shift batch, a hyper-parameter
sweep) or of data points (a classifier's mini-batch) is embarrassingly parallel: each
row is one statevector simulation. :func:`batched` vmaps a per-example function and
shards the batch axis over a one-axis :class:`jax.sharding.Mesh` of all devices
(GPUs, or CPU devices from ``XLA_FLAGS=--xla_force_host_platform_device_count=N``),
so XLA runs ``batch / devices`` rows per device with no communication but the
results. Example::

    energy_and_grad = qjax.sim.sharding.batched(jax.value_and_grad(compiled.expval))
    energies, grads = energy_and_grad(param_sets)  # (B,), (B, P)
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from qjax.errors import ParameterShapeError

__all__ = ["BATCH_AXIS", "batch_mesh", "shard_batch", "batched"]

BATCH_AXIS = "batch"


def batch_mesh(devices: Sequence[Any] | None = None) -> Mesh:
    """A one-axis mesh named ``"batch"`` over ``devices`` (default: all of ``jax.devices()``)."""
    return Mesh(np.array(jax.devices() if devices is None else list(devices)), (BATCH_AXIS,))


def shard_batch(x, mesh: Mesh | None = None):
    """Put every array of the pytree ``x`` on ``mesh`` split along its leading axis.

    The leading axis must be a multiple of the number of devices (:func:`batched` pads
    for you)."""
    mesh = batch_mesh() if mesh is None else mesh
    sharding = NamedSharding(mesh, PartitionSpec(BATCH_AXIS))

    def put(a):
        a = jnp.asarray(a)
        if a.ndim == 0 or a.shape[0] % mesh.size:
            raise ParameterShapeError(
                f"shard_batch needs a leading batch axis divisible by {mesh.size} device(s), got shape {a.shape}; "
                "pad the batch or use qjax.sharding.batched, which pads"
            )
        return jax.device_put(a, sharding)

    return jax.tree_util.tree_map(put, x)


def batched(fn: Callable, mesh: Mesh | None = None, in_axes=0) -> Callable:
    """``jax.vmap(fn, in_axes)``, jit-compiled, with the batch sharded over ``mesh``.

    Args:
      fn: a per-example function, e.g. ``compiled.expval`` or
        ``jax.value_and_grad(compiled.expval)``.
      mesh: default :func:`batch_mesh` over all devices.
      in_axes: as for :func:`jax.vmap`; arguments with ``None`` are replicated.

    Returns:
      a function of batched arguments (leading axis B, any B ≥ 1) returning ``fn``'s
      outputs stacked along a leading B axis. B is padded internally to a multiple of
      the device count by repeating the last row; the padding is dropped from the result.
    """
    mesh = batch_mesh() if mesh is None else mesh
    run = jax.jit(jax.vmap(fn, in_axes=in_axes))

    def call(*args):
        axes = in_axes if isinstance(in_axes, (tuple, list)) else (in_axes,) * len(args)
        if len(axes) != len(args):
            raise ParameterShapeError(f"in_axes has {len(axes)} entries for {len(args)} argument(s)")
        sizes = {
            jnp.shape(leaf)[0] for a, ax in zip(args, axes) if ax is not None for leaf in jax.tree_util.tree_leaves(a)
        }
        if len(sizes) != 1:
            raise ParameterShapeError(
                f"batched arguments need one common leading batch size, got sizes {sorted(sizes)}"
            )
        size = sizes.pop()
        pad = -size % mesh.size

        def prepare(a, ax):
            if ax is None:
                return jax.device_put(a, NamedSharding(mesh, PartitionSpec()))
            if ax != 0:
                raise ParameterShapeError("batched shards the leading axis; use in_axes=0 (or None to replicate)")
            if pad:
                a = jax.tree_util.tree_map(lambda v: jnp.concatenate([v, jnp.repeat(v[-1:], pad, axis=0)]), a)
            return shard_batch(a, mesh)

        out = run(*[prepare(a, ax) for a, ax in zip(args, axes)])
        return jax.tree_util.tree_map(lambda v: v[:size], out) if pad else out

    return call
