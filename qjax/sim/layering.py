"""Repeated layers run by ``jax.lax.scan``: traced program and compile time flat in depth.

Variational circuits repeat one layer (a hardware-efficient layer, a QAOA cost plus
mixer layer, a classifier layer) with new angles. :func:`layer` finds, at compile
time and in Python only, the stretch of steps that repeats most: the sequence of
step signatures (gate, wires, angle count, fixed matrix) is periodic there with
period ``p`` for ``R >= 2`` repetitions. It fuses ONE period into blocks
(:mod:`qjax.sim.fusion`) and runs the ``R`` repetitions with ``lax.scan``: the operators
of all repetitions are built at once by ``vmap`` over their angles, so neither the
traced program nor XLA's compile time grows with ``R``. Steps before and after the
repeated stretch are searched the same way (recursively) and otherwise fused as
they are. Before all that, the one-wire gates that act on a still-untouched ``|0>``
(a first rotation layer, Hadamards, an angle encoding) become the initial product
state (:class:`ProductStart`), built in one pass.

Fusing one period instead of the whole stretch forbids merging gates across a
layer boundary; a stretch is scanned only while that costs at most a quarter more
blocks (state passes) than fusing it whole, so shallow layers (one gate repeated)
stay inline.

:func:`adjoint_values` is the adjoint-method VJP over the segments (memory O(state)):
per block one pass to undo it on ψ, one on λ and one reduction for its gradient; a
scanned segment runs it in a reverse ``lax.scan``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from qjax.sim.fusion import (
    FusedProgram,
    count_blocks,
    fuse,
    one_wire_pool,
    one_wire_pool_rows,
)
from qjax.sim.program import Program

__all__ = ["Segment", "ProductStart", "LayeredProgram", "layer", "find_repeat", "adjoint_values", "subprogram"]

# A repeated stretch is scanned while one period fused, times R, needs at most this
# many times the blocks of the stretch fused whole.
_MAX_EXTRA_BLOCKS = 1.25


class Segment(NamedTuple):
    """Consecutive steps that run as ``repeats`` copies of one fused program.

    ``fused`` holds the steps of ONE copy as a program of its own (local angles
    ``0..g-1``); ``index (repeats, g)`` gives, per copy, the positions of those
    angles in the full program's angle vector.
    """

    fused: FusedProgram
    index: np.ndarray  # type: ignore[assignment]  # shadows tuple.index, as NamedTuple fields may

    @property
    def repeats(self) -> int:
        return self.index.shape[0]

    def operators(self, angles):
        """Block operators of every copy: stacked along a leading axis when scanned."""
        if self.repeats == 1:
            return self.fused.operators(angles[self.index[0]])
        return jax.vmap(self.fused.operators)(angles[self.index])

    def run(self, psi, ops):
        if self.repeats == 1:
            return self.fused.run(psi, ops)
        return jax.lax.scan(lambda p, o: (self.fused.run(p, o), None), psi, ops)[0]

    def _backward(self, carry, ops):
        """Undo one copy on ψ and λ, block by block, collecting each block's cotangent."""
        fused, (psi, lam) = self.fused, carry
        cots = [None] * len(ops)
        for i in range(len(ops) - 1, -1, -1):
            block = fused.blocks[i]
            inverse = fused.dagger(block, ops[i])
            psi = fused.apply(psi, block, inverse)  # the state before block i
            cots[i] = fused.cotangent(block, lam, psi, ops[i]).reshape(jnp.shape(ops[i])).astype(ops[i].dtype)
            lam = fused.apply(lam, block, inverse)
        return (psi, lam), tuple(cots)

    def backward(self, psi, lam, ops):
        """``(ψ, λ)`` before the segment and the cotangents of ``ops`` (same structure)."""
        if self.repeats == 1:
            return self._backward((psi, lam), ops)
        return jax.lax.scan(self._backward, (psi, lam), ops, reverse=True)


class ProductStart(NamedTuple):
    """The circuit's leading one-wire gates, applied to ``|0…0>`` as a product state.

    A one-wire gate that comes before every multi-wire gate on its wire acts on that
    wire's ``|0>`` alone, so the state after all of them is ``⊗_w v_w`` with ``v_w``
    the product of wire ``w``'s gates applied to ``|0>``: one pass to build, instead
    of a block pass per few wires (a VQE ansatz's first rotation layer, QAOA's
    Hadamards, an angle encoding). ``program`` holds those steps with local angles,
    ``index`` their positions in the full angle vector. The 2x2 matrices form one pool
    (the program's gate families in order, then ``fixed (Z, 2, 2)``, then I);
    ``chains (n, L)`` lists each wire's gates in order as pool rows, padded with I.
    """

    program: Program
    index: np.ndarray  # type: ignore[assignment]  # shadows tuple.index, as NamedTuple fields may
    fixed: np.ndarray
    chains: np.ndarray

    def state(self, angles):
        """``(2**n,)`` product state; ``angles`` is the full program's angle vector."""
        sub, n = self.program, self.chains.shape[0]
        dtype = sub.dtype
        if not sub.steps:
            return jnp.zeros((2**n,), dtype).at[0].set(1)
        families = tuple(g for g, _ in sub.families)  # all one-wire
        pool = one_wire_pool(sub.matrices(angles[self.index]), families, self.fixed, dtype)
        v = jnp.zeros((n, 2), dtype).at[:, 0].set(1)
        for t in range(self.chains.shape[1]):
            v = jnp.einsum("wij,wj->wi", pool[self.chains[:, t]], v)
        # ⊗_w v_w as one broadcast product (wire 0 most significant): XLA fuses it
        # into a single loop that writes the state once.
        psi = v[0].reshape((2,) + (1,) * (n - 1))
        for w in range(1, n):
            psi = psi * v[w].reshape((1,) * w + (2,) + (1,) * (n - w - 1))
        return psi.reshape(-1)


def _product_start(program, lead: list[int]) -> ProductStart:
    sub, index = subprogram(program, lead)
    _, fixed, rows, identity = one_wire_pool_rows(sub)
    per_wire: dict[int, list[int]] = {}
    for i, step in enumerate(sub.steps):
        per_wire.setdefault(step.wires[0], []).append(rows[i])
    chains = np.full((program.num_wires, max(map(len, per_wire.values()), default=0)), identity, dtype=np.int32)
    for w, chain in per_wire.items():
        chains[w, : len(chain)] = chain
    return ProductStart(sub, index, fixed, chains)


class LayeredProgram(NamedTuple):
    """A :class:`qjax.sim.program.Program` as a product start and :class:`Segment` s, run in
    circuit order."""

    program: Program
    start: ProductStart
    segments: tuple[Segment, ...]

    @property
    def num_wires(self) -> int:
        return self.program.num_wires

    @property
    def num_blocks(self) -> int:
        """State passes of one run: the start, then blocks per copy times copies."""
        return 1 + sum(len(s.fused.blocks) * s.repeats for s in self.segments)

    def operators(self, angles) -> tuple:
        """``(start state, per-segment block operators)``: everything built from the angles."""
        return self.start.state(angles), tuple(s.operators(angles) for s in self.segments)

    def run(self, angles, built=None):
        """The final state ``(2**n,)``; ``built``: :meth:`operators`' result, if at hand."""
        psi, ops = self.operators(angles) if built is None else built
        for segment, seg_ops in zip(self.segments, ops):
            psi = segment.run(psi, seg_ops)
        return psi


def find_repeat(signatures) -> tuple[int, int, int] | None:
    """``(start, period, repeats)`` of the periodic stretch covering most entries
    (``repeats >= 2``; ties: the shortest period, then the earliest start), or None.

    For each period ``p`` it marks where ``s[i] == s[i + p]``; a run of ``m`` marks
    from ``i`` means ``s[i : i + m + p]`` has period ``p``: ``(m + p) // p`` copies."""
    a = np.asarray(signatures)
    best, best_key = None, None
    for p in range(1, len(a) // 2 + 1):
        same = np.concatenate([[False], a[:-p] == a[p:], [False]])
        edges = np.flatnonzero(np.diff(same.astype(np.int8)))
        starts, stops = edges[::2], edges[1::2]
        repeats = (stops - starts + p) // p
        if not len(repeats) or repeats.max() < 2:
            continue
        j = int(np.argmax(repeats * p))  # first of the longest
        key = (int(repeats[j]) * p, -p)
        if best_key is None or key > best_key:
            best, best_key = (int(starts[j]), p, int(repeats[j])), key
    return best


def _signature(step) -> tuple:
    fixed = None if step.fixed is None else np.asarray(step.fixed).tobytes()
    return (step.gate, step.wires, step.stop - step.start, step.diagonal, fixed)


def subprogram(program, indices):
    """Steps ``indices`` of ``program`` as a program of their own with local angles
    ``0..g-1``, and the ``(g,)`` positions of those angles in ``program``'s.

    The sub-program's ``A``/``B``/``c`` are empty: it reads its angles from the
    parent's vector (``Segment.index``), never from parameters."""
    steps, families, positions = [], {}, []
    for i in indices:
        s = program.steps[i]
        start = len(positions)
        positions.extend(range(s.start, s.stop))
        slot = -1
        if s.fixed is None:
            rows = families.setdefault(s.gate, [])
            slot = len(rows)
            rows.append(range(start, len(positions)))
        steps.append(s._replace(start=start, stop=len(positions), slot=slot))
    fams = tuple((g, np.array(rows, dtype=np.int32)) for g, rows in families.items())
    g = len(positions)
    empty = np.zeros((g, 0))
    sub = program._replace(steps=tuple(steps), families=fams, A=empty, B=empty, c=np.zeros(g))
    return sub, np.array(positions, dtype=np.int32)


def _phase(program, start: int, period: int, repeats: int, max_wires) -> tuple[int, int] | None:
    """Where to cut a repeated stretch into copies: ``(first, copies)``, or None when
    scanning would cost more than ``_MAX_EXTRA_BLOCKS`` times the blocks of fusing it whole.

    A copy may begin anywhere in the period (the rest of the stretch then runs
    inline before and after): a hardware-efficient layer fuses best from its
    entangler on, where the next layer's rotations fold into the entangler's blocks."""
    steps, n = program.steps, program.num_wires
    end = start + period * repeats

    def blocks(a: int, b: int) -> int:
        return count_blocks(steps[a:b], n, max_wires) if b > a else 0

    limit = _MAX_EXTRA_BLOCKS * blocks(start, end)
    best, best_cost = None, None
    for phase in range(0, period, max(1, period // 64)):
        first, copies = start + phase, repeats - (phase > 0)
        if copies < 2:
            continue
        stop = first + copies * period
        cost = blocks(start, first) + copies * blocks(first, first + period) + blocks(stop, end)
        if cost <= limit and (best_cost is None or cost < best_cost):
            best, best_cost = (first, copies), cost
    return best


def _segments(program, ids: np.ndarray, lo: int, hi: int, max_wires) -> list[Segment]:
    """Segments for steps ``[lo, hi)``: the best repeated stretch scanned, the rest recursively."""
    if lo >= hi:
        return []
    found = find_repeat(ids[lo:hi])
    cut = None if found is None else _phase(program, found[0] + lo, found[1], found[2], max_wires)
    if found is None or cut is None:
        sub, positions = subprogram(program, range(lo, hi))
        return [Segment(fuse(sub, max_wires), positions[None, :])]
    first, copies = cut
    period = found[1]
    copy, positions = subprogram(program, range(first, first + period))
    index = np.stack(
        [positions]
        + [subprogram(program, range(first + r * period, first + (r + 1) * period))[1] for r in range(1, copies)]
    )
    stop = first + copies * period
    return (
        _segments(program, ids, lo, first, max_wires)
        + [Segment(fuse(copy, max_wires), index)]
        + _segments(program, ids, stop, hi, max_wires)
    )


def _leading_one_wire(program) -> list[int]:
    """Steps that act on ``|0>`` alone: one-wire gates before any multi-wire gate on their wire."""
    touched, out = set(), []
    for i, step in enumerate(program.steps):
        if len(step.wires) == 1 and step.wires[0] not in touched:
            out.append(i)
        else:
            touched.update(step.wires)
    return out


def layer(program, max_wires: int | None = None) -> LayeredProgram:
    """Split ``program`` (a :class:`qjax.sim.program.Program`) into a product start and fused,
    possibly scanned, segments."""
    lead = _leading_one_wire(program)
    start = _product_start(program, lead)
    lead_set = set(lead)
    rest, rest_index = subprogram(program, [i for i in range(len(program.steps)) if i not in lead_set])
    table: dict = {}
    ids = np.array([table.setdefault(_signature(s), len(table)) for s in rest.steps], dtype=np.int64)
    segments = [Segment(s.fused, rest_index[s.index]) for s in _segments(rest, ids, 0, len(ids), max_wires)]
    return LayeredProgram(program, start, tuple(segments))


def adjoint_values(layered: LayeredProgram, measure: Callable, apply_h: Callable) -> Callable:
    """``angles (G,) -> (k,)`` expectation values with an adjoint-method VJP.

    ``measure(psi (2**n,)) -> ((k,) values, aux)``, where ``aux`` is anything the
    backward pass may reuse (e.g. ``Hψ``; None for nothing);
    ``apply_h(psi, aux, cot (k,)) -> Σ_j cot_j H_j ψ``.
    Memory: the final state plus a few state-sized temporaries, whatever the depth.
    """

    @jax.custom_vjp
    def f(angles):
        return measure(layered.run(angles))[0]

    def fwd(angles):
        # The operators' pullback is a pytree of residuals: built once, here, not
        # re-traced in bwd (building the operators is most of the traced program).
        built, pullback = jax.vjp(layered.operators, angles)
        psi = layered.run(angles, built)
        values, aux = measure(psi)
        return values, (built[1], pullback, psi, aux)

    def bwd(res, cot):
        ops, pullback, psi, aux = res
        lam = apply_h(psi, aux, cot)
        cots = [None] * len(ops)
        for i in range(len(ops) - 1, -1, -1):
            (psi, lam), cots[i] = layered.segments[i].backward(psi, lam, ops[i])
        # dE = 2 Re <λ|dψ> at the start: the start state's cotangent is 2 conj(λ).
        return pullback((2 * jnp.conj(lam), tuple(cots)))

    f.defvjp(fwd, bwd)
    return f
