"""Backprop for PennyLane's Autograd interface through qjax's JAX functions.

With ``diff_method="backprop"`` PennyLane hands the device tapes whose parameters are
Autograd boxes. :func:`autograd_run` runs such a tape as ONE Autograd primitive whose
inputs are the boxed parameters and whose output is every result flattened into one
real vector (complex results as real and imaginary parts); its vector-Jacobian product
is ``jax.vjp`` of the same JAX computation, itself wrapped as a primitive, so
higher derivatives (``qml.jacobian`` of ``qml.grad``, Hessians) work too.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from autograd import numpy as anp
from autograd.extend import defvjp_argnum, primitive
from autograd.tracer import Box, getval

__all__ = ["has_autograd_boxes", "autograd_run"]


def has_autograd_boxes(tape) -> bool:
    """Whether any parameter of ``tape`` is being differentiated by Autograd."""
    return any(isinstance(p, Box) for p in tape.get_parameters(trainable_only=False))


def _primitive(fn: Callable) -> Callable:
    """``fn`` (JAX arrays -> one JAX array) as an Autograd primitive, differentiable to any order."""

    def forward(*args):
        return np.asarray(fn(*args))

    prim = primitive(forward)

    def vjp_maker(argnum, ans, args, kwargs):
        def pullback(*args_and_g):
            *inputs, g = args_and_g
            return jax.vjp(fn, *inputs)[1](jnp.asarray(g))[argnum]

        back = _primitive(pullback)
        return lambda g: back(*args, g)

    defvjp_argnum(prim, vjp_maker)
    return prim


def autograd_run(tape, run: Callable):
    """``run(tape)`` (results as JAX values) with Autograd able to differentiate the tape's boxed parameters."""
    params = list(tape.get_parameters(trainable_only=False))
    boxed = [i for i, p in enumerate(params) if isinstance(p, Box)]
    values = [np.asarray(getval(p)) for p in params]  # getval unwraps nested boxes (higher derivatives)

    def results(*traced):
        new = list(values)
        for i, v in zip(boxed, traced):
            new[i] = v
        return run(tape.bind_new_parameters(new, list(range(len(new)))))

    shapes = jax.eval_shape(results, *[values[i] for i in boxed])
    leaves, treedef = jax.tree_util.tree_flatten(shapes)

    def flat(*traced):
        parts = []
        for leaf in jax.tree_util.tree_leaves(results(*traced)):
            leaf = jnp.ravel(jnp.asarray(leaf))
            parts.append(jnp.real(leaf))
            if jnp.iscomplexobj(leaf):
                parts.append(jnp.imag(leaf))
        return jnp.concatenate(parts) if parts else jnp.zeros(0)

    out = _primitive(flat)(*[params[i] for i in boxed])
    rebuilt, pos = [], 0
    for leaf in leaves:
        size = int(np.prod(leaf.shape))
        part = anp.reshape(out[pos : pos + size], leaf.shape)
        pos += size
        if jnp.issubdtype(leaf.dtype, jnp.complexfloating):
            part = part + 1j * anp.reshape(out[pos : pos + size], leaf.shape)
            pos += size
        rebuilt.append(part)
    return jax.tree_util.tree_unflatten(treedef, rebuilt)
