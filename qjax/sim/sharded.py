"""One statevector split over the devices of a mesh: ``2**n`` amplitudes on D = 2**k devices.

The flat state index has wire 0 as its most significant bit. Its top k *physical* bits
pick the device (they are *global*), the other ``n - k`` bits index the device's shard
(*local*). :func:`schedule` decides, once, in Python, where every circuit wire lives:

- the k wires that a gate mixes last (a rotation mixes its wire; a control, a phase or a
  diagonal gate does not) start global; every wire starts in ``|0>``, so any layout is
  free at the start;
- a gate that leaves the global bits of its wires alone (a diagonal gate, a control on a
  global wire) runs on every shard with the block of its matrix that the shard's global
  bits select: no communication;
- a gate that mixes a global wire first swaps it with a local one: half of each shard goes,
  by ``ppermute``, to the device that differs in that bit, and the partner's half comes back
  into its place (the index-bit swap of cuStateVec's distributed mode and Lightning-MPI).
  :func:`qjax.sim.swaps.plan` reorders commuting gates so the gates waiting for one global
  wire run after one swap, and gives up the local wire mixed latest (Belady's rule);
- runs of local gates are fused into few wide blocks (:mod:`qjax.sim.fusion`) and run per
  shard as on one device.

Expectation values are computed in the final layout: a Pauli term's Z on a global wire is
a sign from the shard index, its X/Y flips there a ``ppermute`` of the shard to the partner
device; local sums then one ``psum``. The adjoint gradient sweeps back over the same items
inside ``shard_map``, so every state it holds is a shard: memory O(state / D) per device.
Its passes run slice by slice (:meth:`ShardedProgram._chunked`: a loop over the values of
``_CHUNK_BITS`` wires the pass leaves alone, updating ψ and λ in place), so XLA's temporaries
are slice-sized: its temp allocation for W1 is about 5 shards per device, against 6 states
on one device (``memory_analysis``).
Everything runs inside one :func:`jax.shard_map`, so ``jit``, ``grad`` and ``vmap`` compose.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from qjax.ir.pauli import PauliSum
from qjax.sim.pauli import PauliPlan, _flip, _weights
from qjax.sim.program import Program, Step, apply
from qjax.sim.shard_schedule import (
    LocalRun,
    Schedule,
    ShardGate,
    Swap,
    check_devices,
    chunk_view,
    chunk_wires,
    renumber,
    schedule,
    state_mesh,
)

__all__ = [
    "Swap",
    "LocalRun",
    "ShardGate",
    "Schedule",
    "state_mesh",
    "check_devices",
    "schedule",
    "ShardedProgram",
    "sharded_program",
]


def _local_plans(obs: PauliSum, final: tuple[int, ...], k: int, n: int):
    """``obs`` in the final layout, split by ``(global flip axes, global phase axes)``: each
    class a :class:`PauliPlan` on the ``n - k`` local wires."""
    classes: dict[tuple, tuple[dict, dict]] = {}
    for c, word in obs.terms:
        flips = [final[w] for w, p in word if p in "XY"]
        phases = [final[w] for w, p in word if p in "YZ"]
        key = (tuple(sorted(p for p in flips if p < k)), tuple(sorted(p for p in phases if p < k)))
        z_terms, groups = classes.setdefault(key, ({}, {}))
        local_flips = tuple(sorted(p - k for p in flips if p >= k))
        local_phases = tuple(sorted(p - k for p in phases if p >= k))
        if not flips:
            z_terms[local_phases] = z_terms.get(local_phases, 0.0) + float(c)
        else:
            ny = sum(p == "Y" for _, p in word)
            groups.setdefault(local_flips, []).append((c * 1j**ny, local_phases))
    out = []
    for (gf, gz), (z_terms, groups) in classes.items():
        zt = tuple((c, w) for w, c in z_terms.items() if c != 0.0)
        plan = PauliPlan(n - k, zt, tuple((f, tuple(ts)) for f, ts in groups.items()))
        if zt or plan.groups:
            out.append((gf, gz, plan))
    return tuple(out)


def _blocked_sum(v):
    # Sums of 2**(m//2)-long rows keep float32 rounding to the row length (as qjax.sim.pauli).
    size = v.shape[0]
    row = 1 << (max(size.bit_length() - 1, 0) // 2)
    return jnp.sum(jnp.sum(v.reshape(size // row, row), axis=1))


def _re_dot(a, b, shape, axes):
    """``Re Σ conj(a) b`` of two flat complex shards, slice by slice over the view
    ``(shape, axes)`` of :func:`chunk_view`: XLA's CPU reductions take their input
    materialised (real and imaginary parts as separate float arrays), so a one-shot sum would
    add two shard-sized temporaries; a slice adds 1/16 of that. The adjoint's backward pass
    reads ``b`` (Hψ) in the same view, so XLA stores it once."""
    sizes = tuple(1 if i in axes else d for i, d in enumerate(shape))
    c = len(axes)
    a, b = a.reshape(shape), b.reshape(shape)

    def body(i, acc):
        starts = [jnp.zeros((), jnp.int32)] * len(shape)
        for j, ax in enumerate(axes):
            starts[ax] = ((i >> (c - 1 - j)) & 1).astype(jnp.int32)
        x = jax.lax.dynamic_slice(a, starts, sizes).reshape(-1)
        y = jax.lax.dynamic_slice(b, starts, sizes).reshape(-1)
        return acc + _blocked_sum(jnp.real(x) * jnp.real(y) + jnp.imag(x) * jnp.imag(y))

    return jax.lax.fori_loop(0, 2**c, body, jnp.zeros((), jnp.real(a).dtype))


def _h_part(psi, plan: PauliPlan):
    """:func:`qjax.sim.pauli.plan_apply`, with a flip group's constant weight applied after
    the flip (XLA then reads ψ through the flips instead of storing ``c ψ`` first)."""
    n, rd = plan.num_wires, psi.real.dtype
    out = psi * _weights(n, plan.z_terms, rd) if plan.z_terms else jnp.zeros_like(psi)
    for flips, terms in plan.groups:
        if any(wires for _, wires in terms):
            out = out + _flip(psi * _weights(n, terms, psi.dtype), flips, n)
        else:
            out = out + _flip(psi, flips, n) * jnp.asarray(sum(c for c, _ in terms), psi.dtype)
    return out


class ShardedProgram(NamedTuple):
    """A program scheduled on a mesh: run it with :meth:`values`, :meth:`state`, or
    :meth:`adjoint_values` (all ``angles (G,) -> ...`` pure functions)."""

    program: Program
    mesh: Mesh
    k: int
    plan: Schedule
    observables: tuple  # per observable: ((global flips, global phases, PauliPlan), ...)

    @property
    def axes(self) -> tuple[str, ...]:
        return tuple(self.mesh.axis_names)

    @property
    def local_wires(self) -> int:
        return self.program.num_wires - self.k

    # -- inside shard_map -----------------------------------------------------------

    def _bits(self):
        return [jax.lax.axis_index(a) for a in self.axes]

    def _operators(self, angles, bits) -> tuple:
        """One operator per item: a run's block operators, a shard gate's selected block, None for a swap."""
        program = self.program
        matrices = program.matrices(angles)
        out: list = []
        for item in self.plan.items:
            if isinstance(item, LocalRun):
                out.append(item.fused.operators(angles[item.angles_at]))
            elif isinstance(item, ShardGate):
                out.append(self._select(program.matrix(program.steps[item.step], matrices), item, bits))
            else:
                out.append(None)
        return tuple(out)

    def _select(self, u, item: ShardGate, bits):
        """The block of ``u`` on the gate's local wires at this shard's global bits."""
        step = self.program.steps[item.step]
        m = len(step.wires)
        diagonal = step.diagonal
        t = u.reshape((2,) * (m if diagonal else 2 * m))
        # Highest gate position first, the column (input) axes before the row axes: indices stay valid.
        chosen = sorted(item.global_, reverse=True)
        if not diagonal:
            for j, axis in chosen:
                t = jnp.take(t, bits[axis], axis=m + j)
        for j, axis in chosen:
            t = jnp.take(t, bits[axis], axis=j)
        left = m - len(item.global_)
        return t.reshape(-1) if diagonal else t.reshape(2**left, 2**left)

    def _first_back_chunk(self) -> tuple[int, ...]:
        """The chunk wires of the backward sweep's first pass (the circuit's last), or ()."""
        last = self.plan.items[-1] if self.plan.items else None
        if isinstance(last, LocalRun) and last.chunks and last.chunks[-1] is not None:
            return last.chunks[-1][0]
        if isinstance(last, ShardGate):
            return self._gate_chunk(last)
        return ()

    def _local_step(self, item: ShardGate, chunk: tuple[int, ...] = ()) -> Step:
        """The shard gate's step on its local wires (renumbered for a slice without ``chunk``)."""
        step = self.program.steps[item.step]
        glob = {j for j, _ in item.global_}
        wires = tuple(p - self.k for j, p in enumerate(item.physical) if j not in glob)
        return step._replace(wires=renumber(wires, chunk))

    def _gate_chunk(self, item: ShardGate) -> tuple[int, ...]:
        wires = self._local_step(item).wires
        return (chunk_wires(wires, self.local_wires) or ()) if wires else ()

    def _gate_apply(self, psi, item: ShardGate, u, dagger: bool = False, chunk: tuple[int, ...] = ()):
        local = self._local_step(item, chunk)
        nl = self.local_wires - len(chunk)
        if local.diagonal or not local.wires:
            u = jnp.conj(u) if dagger else u
        else:
            u = jnp.conj(u).T if dagger else u
        if not local.wires:
            return psi * u.reshape(())
        return apply(psi.reshape((2,) * nl), u, local).reshape(-1)

    def _gate_cotangent(self, item: ShardGate, lam, psi, u, chunk: tuple[int, ...] = ()):
        """``2 M`` with ``dE = Re Σ 2M ⊙ du`` on this shard (as :meth:`FusedProgram.cotangent`)."""
        local = self._local_step(item, chunk)
        nl = self.local_wires - len(chunk)
        if not local.wires:
            return 2 * jnp.sum(jnp.conj(lam) * psi).reshape(jnp.shape(u))
        wires, k = local.wires, len(local.wires)
        others = tuple(a for a in range(nl) if a not in wires)
        lt, pt = jnp.conj(lam).reshape((2,) * nl), psi.reshape((2,) * nl)
        order = tuple(int(i) for i in np.argsort(np.argsort(wires)))
        if local.diagonal:
            m = jnp.sum(lt * pt, axis=others) if others else lt * pt
            return 2 * jnp.transpose(m, order).reshape(-1)
        m = jnp.tensordot(lt, pt, axes=(others, others))
        m = jnp.transpose(m, order + tuple(k + i for i in order))
        return 2 * m.reshape(2**k, 2**k)

    def _chunked(self, chunk: tuple[int, ...], arrays, fn, extra):
        """``fn(slices) -> (new slices, term)`` over the shards in ``arrays``: whole (``chunk``
        empty), or slice by slice (each value of the ``chunk`` wires) in a loop that writes each
        slice back in place. Returns the new arrays and ``extra`` plus the sum of the terms."""
        if not chunk:
            new, term = fn(list(arrays))
            return new, jax.tree.map(jnp.add, extra, term)
        shape, axes = chunk_view(self.local_wires, chunk)
        sizes = tuple(1 if a in axes else d for a, d in enumerate(shape))
        c = len(chunk)

        def body(i, carry):
            views, acc = carry
            starts = [jnp.zeros((), jnp.int32)] * len(shape)
            for j, a in enumerate(axes):
                starts[a] = ((i >> (c - 1 - j)) & 1).astype(jnp.int32)
            new, term = fn([jax.lax.dynamic_slice(v, starts, sizes).reshape(-1) for v in views])
            views = [jax.lax.dynamic_update_slice(v, x.reshape(sizes), starts) for v, x in zip(views, new)]
            return views, jax.tree.map(jnp.add, acc, term)

        views, extra = jax.lax.fori_loop(0, 2**c, body, ([a.reshape(shape) for a in arrays], extra))
        return [v.reshape(-1) for v in views], extra

    def _block_pass(self, item: LocalRun, b: int, op):
        """``(chunk wires, program, block, operator)`` of block ``b``'s passes."""
        if item.chunks[b] is None:
            return (), item.fused, item.fused.blocks[b], op
        chunk, fused = item.chunks[b]
        block = fused.blocks[0]
        if block.kind == "diagonal":  # (2|1,)*n: the chunk wires are 1s, dropped
            op = op.reshape(tuple(d for w, d in enumerate(jnp.shape(op)) if w not in chunk))
        return chunk, fused, block, op

    @staticmethod
    def _groups(item: LocalRun) -> list[tuple[tuple[int, ...], list[int]]]:
        """Consecutive blocks that leave the same chunk wires alone, as ``(chunk, blocks)``:
        one loop runs them all on a slice (while it is in cache); ``()`` a block run whole."""
        groups: list[tuple[tuple[int, ...], list[int]]] = []
        for b, entry in enumerate(item.chunks):
            chunk = entry[0] if entry is not None else ()
            if chunk and groups and groups[-1][0] == chunk:
                groups[-1][1].append(b)
            else:
                groups.append((chunk, [b]))
        return groups

    def _run_local(self, psi, item: LocalRun, ops, chunked: bool):
        """A local run's blocks on ``psi``; ``chunked``: slice by slice, in place."""
        if not chunked:
            return item.fused.run(psi, ops)
        zero = jnp.zeros((), self.program.real_dtype)
        for chunk, blocks in self._groups(item):
            passes = [self._block_pass(item, b, ops[b])[1:] for b in blocks]

            def fn(x, passes=passes):
                p = x[0]
                for fused, block, sub in passes:
                    p = fused.apply(p, block, sub)
                return [p], zero

            (psi,), _ = self._chunked(chunk, [psi], fn, zero)
        return psi

    def _back_local(self, psi, lam, item: LocalRun, ops):
        """Undo a local run's blocks on ψ and λ (slice by slice, in place) and their cotangents."""
        cots: list = [None] * len(ops)
        for chunk, blocks in reversed(self._groups(item)):
            passes = [self._block_pass(item, b, ops[b])[1:] for b in blocks]
            shapes = [(jnp.shape(ops[b]), ops[b].dtype) for b in blocks]

            def fn(x, passes=passes, shapes=shapes):
                p, lam_ = x
                out: list = [None] * len(passes)
                for j in range(len(passes) - 1, -1, -1):
                    fused, block, sub = passes[j]
                    dag = fused.dagger(block, sub)
                    p = fused.apply(p, block, dag)
                    out[j] = fused.cotangent(block, lam_, p, sub).reshape(shapes[j][0]).astype(shapes[j][1])
                    lam_ = fused.apply(lam_, block, dag)
                return [p, lam_], tuple(out)

            extra = tuple(jnp.zeros(shape, dtype) for shape, dtype in shapes)
            (psi, lam), block_cots = self._chunked(chunk, [psi, lam], fn, extra)
            for b, c in zip(blocks, block_cots):
                cots[b] = c
        return psi, lam, tuple(cots)

    def _back_gate(self, psi, lam, item: ShardGate, op):
        chunk = self._gate_chunk(item)

        def fn(x):
            p = self._gate_apply(x[0], item, op, dagger=True, chunk=chunk)
            c = self._gate_cotangent(item, x[1], p, op, chunk).reshape(jnp.shape(op)).astype(op.dtype)
            return [p, self._gate_apply(x[1], item, op, dagger=True, chunk=chunk)], c

        (psi, lam), cot = self._chunked(chunk, [psi, lam], fn, jnp.zeros(jnp.shape(op), op.dtype))
        return psi, lam, cot

    def _run_gate(self, psi, item: ShardGate, op, chunked: bool):
        chunk = self._gate_chunk(item) if chunked else ()
        zero = jnp.zeros((), self.program.real_dtype)

        def fn(x):
            return [self._gate_apply(x[0], item, op, chunk=chunk)], zero

        (psi,), _ = self._chunked(chunk, [psi], fn, zero)
        return psi

    def _swap(self, arrays, item: Swap, bits, chunked: bool = True):
        """Exchange global bit ``item.axis`` with local bit ``item.local`` in every shard of
        ``arrays``: the half of a shard whose local bit differs from this device's global bit
        goes to the partner device, and the partner's half comes back into its place (an
        in-place update, slice by slice: a slice's half is sent and received at a time)."""
        p = item.local - self.k
        chunk = (chunk_wires((p,), self.local_wires) or ()) if chunked else ()
        q = renumber((p,), chunk)[0]
        nl = self.local_wires - len(chunk)
        away = 1 - bits[item.axis]
        zero = jnp.zeros((), self.program.real_dtype)

        def fn(xs):
            out = []
            for x in xs:
                view = x.reshape(2**q, 2, 2 ** (nl - q - 1))
                send = jax.lax.dynamic_slice_in_dim(view, away, 1, axis=1)
                got = jax.lax.ppermute(send, self.axes[item.axis], [(0, 1), (1, 0)])
                out.append(jax.lax.dynamic_update_slice_in_dim(view, got, away, axis=1).reshape(-1))
            return out, zero

        return self._chunked(chunk, list(arrays), fn, zero)[0]

    def _initial(self, bits):
        first = functools.reduce(jnp.logical_and, [b == 0 for b in bits], jnp.bool_(True))
        zero = jnp.zeros((2**self.local_wires,), self.program.dtype)
        return zero.at[0].set(jnp.where(first, 1, 0).astype(self.program.dtype))

    def _forward(self, angles, bits, ops, chunked: bool = False):
        """The final shard. ``chunked`` (the adjoint's forward pass): every pass slice by
        slice in place, so XLA holds one shard and slice-sized temporaries; JAX's own
        autodiff (backprop) takes the passes whole."""
        psi = self._initial(bits)
        for item, op in zip(self.plan.items, ops):
            if isinstance(item, LocalRun):
                psi = self._run_local(psi, item, op, chunked)
            elif isinstance(item, ShardGate):
                psi = self._run_gate(psi, item, op, chunked)
            else:
                (psi,) = self._swap([psi], item, bits, chunked)
        return psi

    def _partner(self, psi, flips):
        for axis in flips:
            psi = jax.lax.ppermute(psi, self.axes[axis], [(0, 1), (1, 0)])
        return psi

    def _h_apply(self, psi, bits, classes):
        """``H ψ`` on this shard for one observable's classes: each class's term from this
        shard or, for X/Y on global wires, from the partner's (one ``ppermute``), times the
        sign its Z/Y on global wires read from the shard index."""
        out = None
        rd = psi.real.dtype
        for flips, phases, plan in classes:
            sign = jnp.ones((), rd)
            for axis in phases:  # the phase reads the partner's bit: (b ^ f) & z
                bit = bits[axis] ^ (1 if axis in flips else 0)
                sign = sign * (1 - 2 * bit).astype(rd)
            part = sign.astype(psi.dtype) * _h_part(self._partner(psi, flips), plan)
            out = part if out is None else out + part
        return jnp.zeros_like(psi) if out is None else out

    def _measure(self, psi, bits, keep: bool = False):
        """``(k,)`` values ``Re Σ conj(ψ) Hψ`` (a local sum per shard, then one ``psum``), and
        with ``keep`` the list of ``Hψ`` shards (for the adjoint's λ)."""
        hs = [self._h_apply(psi, bits, c) for c in self.observables]
        view = chunk_view(self.local_wires, self._first_back_chunk() or tuple(range(min(4, self.local_wires))))
        local = jnp.stack([_re_dot(psi, h, *view) for h in hs])
        return jax.lax.psum(local, self.axes), (hs if keep else None)

    # -- public pure functions ------------------------------------------------------

    def _shard_map(self, f, in_specs, out_specs):
        return jax.shard_map(f, mesh=self.mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False)

    @property
    def spec(self) -> PartitionSpec:
        """The flat state's partition: its leading bits over the mesh axes."""
        return PartitionSpec(self.axes)

    def physical_state(self, angles):
        """``(2**n,)`` global array, sharded, in the final physical layout."""

        def f(angles):
            bits = self._bits()
            return self._forward(angles, bits, self._operators(angles, bits))

        return self._shard_map(f, (PartitionSpec(),), self.spec)(angles)

    def state(self, angles):
        """``(2**n,)`` in wire order (wire 0 the most significant bit)."""
        n = self.program.num_wires
        psi = self.physical_state(angles).reshape((2,) * n)
        out = jnp.transpose(psi, self.plan.final).reshape(-1)
        # XLA moves the amplitudes; the result stays split over the devices, as the state was.
        return jax.lax.with_sharding_constraint(out, NamedSharding(self.mesh, self.spec))

    def values(self, angles):
        """``(k,)`` expectation values (differentiable by JAX's own autodiff: backprop)."""

        def f(angles):
            bits = self._bits()
            psi = self._forward(angles, bits, self._operators(angles, bits))
            return self._measure(psi, bits)[0]

        return self._shard_map(f, (PartitionSpec(),), PartitionSpec())(angles)

    def adjoint_values(self) -> Callable:
        """``angles (G,) -> (k,)`` with the adjoint-method VJP, swept back inside ``shard_map``."""

        @jax.custom_vjp
        def f(angles):
            return self.values(angles)

        def fwd(angles):
            def run(angles):
                bits = self._bits()
                psi = self._forward(angles, bits, self._operators(angles, bits), chunked=True)
                values, hs = self._measure(psi, bits, keep=True)
                # One observable: its Hψ is kept for λ = c Hψ (no second pass, no second partner copy).
                return values, psi, (hs[0] if len(hs) == 1 else jnp.zeros((0,), psi.dtype))

            spec, h_spec = self.spec, (self.spec if len(self.observables) == 1 else PartitionSpec())
            values, psi, h = self._shard_map(run, (PartitionSpec(),), (PartitionSpec(), spec, h_spec))(angles)
            return values, (angles, psi, h)

        def bwd(res, cot):
            angles, psi, h = res
            h_spec = self.spec if len(self.observables) == 1 else PartitionSpec()
            return (
                self._shard_map(self._backward, (PartitionSpec(), self.spec, h_spec, PartitionSpec()), PartitionSpec())(
                    angles, psi, h, cot
                ),
            )

        f.defvjp(fwd, bwd)
        return f

    def _backward(self, angles, psi, h, cot):
        bits = self._bits()
        ops, pullback = jax.vjp(lambda a: self._operators(a, bits), angles)
        if len(self.observables) == 1:
            lam = h  # λ = c Hψ; the sweep is linear in λ, so c scales the gradient at the end
        else:
            lam = sum(cot[j].astype(psi.dtype) * self._h_apply(psi, bits, c) for j, c in enumerate(self.observables))
        cots: list = [None] * len(ops)
        for i in range(len(ops) - 1, -1, -1):
            item, op = self.plan.items[i], ops[i]
            if isinstance(item, Swap):
                psi, lam = self._swap([psi, lam], item, bits)
            elif isinstance(item, ShardGate):
                psi, lam, cots[i] = self._back_gate(psi, lam, item, op)
            else:
                psi, lam, cots[i] = self._back_local(psi, lam, item, op)
        (grad,) = pullback(tuple(cots))
        if len(self.observables) == 1:
            grad = grad * cot[0].astype(grad.dtype)
        return jax.lax.psum(grad, self.axes)


def sharded_program(program: Program, observables: tuple[PauliSum, ...], mesh: Mesh) -> ShardedProgram:
    """Schedule ``program`` on ``mesh`` (from :func:`state_mesh`) and split ``observables`` by shard."""
    D = int(np.asarray(mesh.devices).size)
    widest = max((len(s.wires) for s in program.steps), default=1)
    k = check_devices(D, program.num_wires, widest)
    plan = schedule(program, k)
    n = program.num_wires
    obs = tuple(_local_plans(o, plan.final, k, n) for o in observables)
    return ShardedProgram(program, mesh, k, plan, obs)


def shard_state(x, mesh: Mesh):
    """Place a ``(2**n,)`` array on ``mesh`` split by its leading bits."""
    return jax.device_put(x, NamedSharding(mesh, PartitionSpec(tuple(mesh.axis_names))))
