"""A circuit lowered for the simulators: :class:`Step` s, the linear angle map, one apply kernel.

:func:`lower` resolves a :class:`~qjax.ir.circuit.Circuit` once, in Python: each
operation becomes a :class:`Step` (a fixed matrix, or a slot in the batch of
matrices one gate family builds at once), and the circuit's linear angle map
becomes the arrays ``A``, ``B``, ``c`` of :meth:`Program.angles`. The statevector
compiler (:mod:`qjax.sim.compile`), gate fusion, layering, the Clifford tail and the
density-matrix compiler (:mod:`qjax.noise.density`) all start from a :class:`Program`.

Conventions: the state is a ``(2,)*n`` tensor with axis ``w`` = wire ``w`` (wire 0 the
most significant bit of the flat index); within a gate the first wire is the most
significant (``CNOT(control, target)``).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from qjax.ir.circuit import Circuit
from qjax.ir.gates import GATES, trig_matrices

__all__ = ["Step", "Program", "apply", "lower"]


class Step(NamedTuple):
    """One operation, resolved at compile time.

    ``fixed`` is the matrix of an angle-free gate (complex128 numpy; only the
    diagonal when ``diagonal``). A parametrised gate instead has ``slot``: its row
    in the batch of matrices :meth:`Program.matrices` builds for all occurrences of
    ``gate`` at once; its angles are ``angles[start:stop]``.
    """

    gate: str
    wires: tuple[int, ...]
    start: int
    stop: int
    diagonal: bool
    fixed: np.ndarray | None
    slot: int


class Program(NamedTuple):
    """A circuit lowered to :class:`Step` s and the arrays of its linear angle map.

    ``families`` lists each parametrised gate with the ``(m, p)`` indices into the
    angle vector of its m occurrences: building all m matrices in one vmapped call
    keeps the traced program (and XLA's compile time) small.
    """

    num_wires: int
    steps: tuple[Step, ...]
    families: tuple[tuple[str, np.ndarray], ...]
    A: np.ndarray  # (G, P)
    B: np.ndarray  # (G, F)
    c: np.ndarray  # (G,)
    dtype: Any

    @property
    def real_dtype(self):
        return jnp.finfo(self.dtype).dtype

    def angles(self, params, x):
        """``A @ params + B @ x + c``: ``(G,)`` real."""
        rd = self.real_dtype
        out = jnp.asarray(self.c, rd)
        if self.A.shape[1]:
            out = out + jnp.asarray(self.A, rd) @ params
        if self.B.shape[1]:
            out = out + jnp.asarray(self.B, rd) @ x
        return out

    def _family_fn(self, gate: str, derivative: bool):
        spec = GATES[gate]
        if spec.trig is not None and not derivative:
            # a few array operations for all occurrences; vmap of the gate's matrix
            # function traces several times as many (40 ms of a 20-wire step's trace)
            return lambda a: trig_matrices(spec.trig, a, self.dtype, spec.diagonal)

        def fn(a):
            m = spec.matrix(a, self.dtype)
            return jnp.diagonal(m) if spec.diagonal else m

        return jax.vmap(jax.jacfwd(fn) if derivative else fn)

    def matrices(self, angles) -> dict:
        """Gate name → ``(m, 2**k, 2**k)`` matrices of its occurrences (``(m, 2**k)`` diagonals)."""
        return {g: self._family_fn(g, False)(angles[index]) for g, index in self.families}

    def jacobians(self, angles) -> dict:
        """Gate name → ``(m, 2**k, 2**k, p)`` angle derivatives (``(m, 2**k, p)`` for diagonal gates)."""
        return {g: self._family_fn(g, True)(angles[index]) for g, index in self.families}

    def matrix(self, step: Step, matrices: dict):
        """The step's unitary ``(2**k, 2**k)``, or its diagonal ``(2**k,)`` for diagonal steps."""
        if step.fixed is not None:
            return jnp.asarray(step.fixed, self.dtype)
        return matrices[step.gate][step.slot]

    def initial_state(self):
        n = self.num_wires
        return jnp.zeros((2,) * n, self.dtype).at[(0,) * n].set(1)

    def run(self, angles):
        """The final state as a ``(2,)*n`` tensor."""
        matrices = self.matrices(angles)
        psi = self.initial_state()
        for step in self.steps:
            psi = apply(psi, self.matrix(step, matrices), step)
        return psi


def apply(psi, u, step: Step):
    """Apply ``u`` (matrix, or diagonal when ``step.diagonal``) to ``step.wires`` of ``psi`` ``(2,)*n``."""
    wires, k, n = step.wires, len(step.wires), psi.ndim
    if step.diagonal:
        # Reorder the gate's axes to ascending wires, then broadcast over the rest.
        d = jnp.transpose(u.reshape((2,) * k), np.argsort(wires).tolist())
        shape = [2 if a in wires else 1 for a in range(n)]
        return psi * d.reshape(shape)
    out = jnp.tensordot(u.reshape((2,) * (2 * k)), psi, axes=(tuple(range(k, 2 * k)), wires))
    return jnp.moveaxis(out, tuple(range(k)), wires)


@functools.lru_cache(maxsize=None)
def _fixed_matrix(gate: str, dtype) -> np.ndarray:
    """An angle-free gate's matrix as complex128 numpy, rounded to the run dtype as
    JAX would (complex64: H's 1/sqrt 2 in float32), once per gate and dtype; numpy
    only (building it with JAX cost an XLA compile per gate, 56 ms for CNOT)."""
    m = np.asarray(np.asarray(GATES[gate].constant, dtype), np.complex128)
    m.setflags(write=False)
    return m


def lower(circuit: Circuit, dtype) -> Program:
    """Resolve ``circuit`` into a :class:`Program` (Python only; no tracing)."""
    lm = circuit.linear_map()
    steps: list = []
    families: dict = {}
    for op, (start, stop) in zip(circuit.operations, lm.slices):
        spec = GATES[op.gate]
        if op.gate == "Unitary":
            m = op.matrix_array()
            diagonal = bool(np.allclose(m, np.diag(np.diag(m)), atol=0.0))
            steps.append(Step(op.gate, op.wires, start, stop, diagonal, np.diag(m) if diagonal else m, -1))
        elif spec.num_params == 0:
            m = _fixed_matrix(op.gate, jnp.dtype(dtype))
            steps.append(Step(op.gate, op.wires, start, stop, spec.diagonal, np.diag(m) if spec.diagonal else m, -1))
        else:
            rows = families.setdefault(op.gate, [])
            steps.append(Step(op.gate, op.wires, start, stop, spec.diagonal, None, len(rows)))
            rows.append(range(start, stop))
    fams = tuple((g, np.array(rows, dtype=np.int32)) for g, rows in families.items())
    return Program(circuit.num_wires, tuple(steps), fams, lm.A, lm.B, lm.c, dtype)
