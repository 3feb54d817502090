"""Where the wires of a sharded statevector live, and in what order its gates and swaps run.

Planned once per circuit, in Python, for :mod:`qjax.sim.sharded` (which runs the plan):
the mesh of D = 2**k devices (:func:`state_mesh`, :func:`check_devices`), which wires
start global and where each swap goes (:func:`schedule`, with the reordering of
:func:`qjax.sim.swaps.plan`), the fused runs of local gates (:class:`LocalRun`), and the
slices a pass over a shard is cut into (:func:`chunk_wires`: a loop over the values of
``_CHUNK_BITS`` wires the pass leaves alone, so XLA's temporaries are slice-sized).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple, Sequence, cast

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from qjax.errors import ConfigError
from qjax.ir.gates import GATES
from qjax.sim import swaps
from qjax.sim.fusion import FusedProgram, fuse
from qjax.sim.layering import subprogram
from qjax.sim.program import Program, Step

__all__ = [
    "AXIS_PREFIX",
    "Swap",
    "LocalRun",
    "ShardGate",
    "Schedule",
    "state_mesh",
    "check_devices",
    "mixed_positions",
    "schedule",
    "chunk_wires",
    "chunk_view",
    "renumber",
]

#: Mesh axis names of the k global bits, most significant first.
AXIS_PREFIX = "qjax_wire"


class Swap(NamedTuple):
    """Exchange global physical bit ``axis`` (0 = most significant) with local physical bit ``local`` (≥ k)."""

    axis: int
    local: int


class LocalRun(NamedTuple):
    """Consecutive steps whose wires are all local: fused blocks on the ``n - k`` local wires.

    ``angles_at``: the ``(g,)`` positions of the run's angles in the program's angle vector;
    ``chunks``: per block, None (its passes run whole) or ``(chunk wires, the block on a
    slice)`` from :func:`chunk_wires` and :func:`sliced`."""

    fused: FusedProgram
    angles_at: np.ndarray
    chunks: tuple = ()


class ShardGate(NamedTuple):
    """A step with some wires global, none of which it mixes: each shard applies the
    block of its matrix that the shard's bits on those wires select.

    ``step``: index into the program's steps; ``physical``: its wires' physical bits, in
    gate order; ``global_``: ``((gate position, global axis), ...)``."""

    step: int
    physical: tuple[int, ...]
    global_: tuple[tuple[int, int], ...]


class Schedule(NamedTuple):
    """What :func:`schedule` decided: the items in order, the initial and final layouts
    (``final[w]`` = physical bit of wire ``w``) and the wires that start global."""

    items: tuple
    initial: tuple[int, ...]
    final: tuple[int, ...]
    global_wires: tuple[int, ...]

    @property
    def num_swaps(self) -> int:
        return sum(isinstance(item, Swap) for item in self.items)


def check_devices(count: int, num_wires: int, widest_gate: int = 1) -> int:
    """``k = log2(count)``, after checking that ``count`` is a power of two and leaves every
    gate room on the local wires; raises :class:`ConfigError` (one line) otherwise."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1 or count & (count - 1):
        raise ConfigError(
            f"backend.devices={count!r}: a sharded statevector needs a power of two devices (1, 2, 4, 8, ...); "
            "pass one, or devices=1 to run on one device"
        )
    k = count.bit_length() - 1
    if k and k > num_wires - max(widest_gate, 1):
        raise ConfigError(
            f"{count} devices make {k} global wires but the circuit has {num_wires} wires and a "
            f"{widest_gate}-wire gate, which leaves too few local wires; use at most "
            f"{2 ** max(num_wires - max(widest_gate, 1), 0)} devices"
        )
    return k


def state_mesh(devices: Sequence[Any] | Mesh | int | None = None) -> Mesh:
    """A mesh of k size-2 axes (``qjax_wire0`` = most significant global bit) over
    ``devices`` (a Mesh, a list of devices, a count of ``jax.devices()`` from the first, or
    None for all of them). The count must be a power of two."""
    if isinstance(devices, Mesh):
        devs = list(np.asarray(devices.devices).flat)
    elif devices is None:
        devs = jax.devices()
    elif isinstance(devices, int) and not isinstance(devices, bool):
        available = jax.devices()
        if devices > len(available):
            raise ConfigError(
                f"backend.devices={devices} but JAX sees {len(available)} device(s); ask for at most "
                f"{len(available)} (on CPU: XLA_FLAGS=--xla_force_host_platform_device_count=N before JAX starts)"
            )
        devs = available[:devices]
    else:
        devs = list(cast(Sequence[Any], devices))
    D = len(devs)
    if D < 1 or D & (D - 1):
        raise ConfigError(
            f"a sharded statevector needs a power of two devices (1, 2, 4, 8, ...), got {D}; pass a mesh of 2**k devices"
        )
    k = D.bit_length() - 1
    return Mesh(np.array(devs, dtype=object).reshape((2,) * k), tuple(f"{AXIS_PREFIX}{j}" for j in range(k)))


@functools.lru_cache(maxsize=None)
def _pattern(gate: str, fixed_bytes: bytes | None, size: int) -> np.ndarray:
    """The nonzero pattern ``(2**m, 2**m)`` bool of a gate's matrix at any angle."""
    spec = GATES[gate]
    if fixed_bytes is not None:
        m = np.frombuffer(fixed_bytes, np.complex128).reshape(size, -1)
        return np.abs(np.diag(m[:, 0]) if m.shape[1] == 1 else m) > 0
    if spec.diagonal:
        return np.eye(size, dtype=bool)
    if spec.trig is not None:
        _, a, b, c = spec.trig
        return (np.abs(a) + np.abs(b) + np.abs(c)) > 0
    rng = np.random.default_rng(0)
    total = np.zeros((size, size))
    for _ in range(2):  # two random angle sets: an entry zero at both is zero at all (analytic in the angles)
        # complex64 (what JAX computes without x64): a zero entry rounds to ~1e-7 at most, a unitary's others are O(1)
        total += np.abs(np.asarray(spec.matrix(jnp.asarray(rng.uniform(0.1, 3.0, spec.num_params)), jnp.complex64)))
    return total > 1e-4


def mixed_positions(step: Step) -> tuple[int, ...]:
    """Positions (in gate order) of the wires whose bit ``step``'s matrix can change."""
    m = len(step.wires)
    if step.diagonal:
        return ()
    fixed = None if step.fixed is None else np.ascontiguousarray(step.fixed, np.complex128)
    pattern = _pattern(step.gate, None if fixed is None else fixed.reshape(2**m, -1).tobytes(), 2**m)
    rows, cols = np.nonzero(pattern)
    return tuple(i for i in range(m) if np.any(((rows >> (m - 1 - i)) & 1) != ((cols >> (m - 1 - i)) & 1)))


def schedule(program: Program, k: int, reorder: bool = True) -> Schedule:
    """Place the wires and order the gates and swaps for ``k`` global bits (Python only):
    :func:`qjax.sim.swaps.plan` reorders commuting gates so that the gates waiting for a
    global wire run after one swap (``reorder=False``: circuit order)."""
    n, steps = program.num_wires, program.steps
    mixes = [tuple(s.wires[i] for i in mixed_positions(s)) for s in steps]
    swap_plan = swaps.plan([s.wires for s in steps], mixes, n, k, reorder=reorder)
    global_wires = swap_plan.initial
    physical_of = {w: j for j, w in enumerate(global_wires)}
    rest = [w for w in range(n) if w not in physical_of]
    physical_of.update({w: k + j for j, w in enumerate(rest)})
    pos = [physical_of[w] for w in range(n)]  # wire -> physical bit
    at = [0] * n  # physical bit -> wire
    for w, p in enumerate(pos):
        at[p] = w
    initial = tuple(pos)
    items: list = []
    run: list[tuple[int, tuple[int, ...]]] = []

    def flush():
        if run:
            items.append(_local_run(program, run, k))
            run.clear()

    for event in swap_plan.events:
        if event[0] == "swap":
            flush()
            g, local = pos[event[1]], pos[event[2]]
            items.append(Swap(g, local))
            pos[event[1]], pos[event[2]], at[g], at[local] = local, g, event[2], event[1]
            continue
        i = event[1]
        phys = tuple(pos[w] for w in steps[i].wires)
        on_global = tuple((j, p) for j, p in enumerate(phys) if p < k)
        if on_global:
            flush()
            items.append(ShardGate(i, phys, on_global))
        else:
            run.append((i, phys))
    flush()
    return Schedule(tuple(items), initial, tuple(pos), global_wires)


def _local_run(program: Program, run, k: int) -> LocalRun:
    sub, index = subprogram(program, [i for i, _ in run])
    steps = tuple(s._replace(wires=tuple(p - k for p in phys)) for s, (_, phys) in zip(sub.steps, run))
    local = sub._replace(num_wires=program.num_wires - k, steps=steps)
    fused = fuse(local)
    chunks = []
    for block in fused.blocks:
        chunk = chunk_wires(touched_wires(fused, block), local.num_wires)
        chunks.append(None if chunk is None else (chunk, sliced(fused, block, chunk)))
    return LocalRun(fused, index, tuple(chunks))


#: A pass over a shard runs in ``2**_CHUNK_BITS`` slices of the shard (a loop that updates
#: the state in place), so XLA's transposes and products around a block are slice-sized
#: instead of shard-sized; only when a slice holds at least ``_CHUNK_MIN`` amplitudes.
_CHUNK_BITS = 4
_CHUNK_MIN = 2**12


def chunk_wires(touched, local_wires: int) -> tuple[int, ...] | None:
    """The ``_CHUNK_BITS`` local wires (the highest ones that ``touched`` leaves alone) that
    index the slices of a pass reading and writing local wires ``touched``; None: run whole."""
    c = _CHUNK_BITS
    free = [w for w in range(local_wires) if w not in set(touched)]
    if len(free) < c or (2**local_wires >> c) < _CHUNK_MIN:
        return None
    return tuple(free[:c])


def renumber(wires, chunk: tuple[int, ...]) -> tuple[int, ...]:
    """Wire numbers on a slice: each wire moves down by the chunk wires above it."""
    return tuple(w - sum(s < w for s in chunk) for w in wires)


def sliced(fused: FusedProgram, block, chunk: tuple[int, ...]):
    """``fused`` (for ``block`` only) on the slices that fixing ``chunk`` makes."""
    program = fused.program
    steps = list(program.steps)
    for i in block.steps:
        steps[i] = steps[i]._replace(wires=renumber(steps[i].wires, chunk))
    sub = program._replace(num_wires=program.num_wires - len(chunk), steps=tuple(steps))
    shift = sum(s < block.lo for s in chunk)
    return fused._replace(program=sub, blocks=(block._replace(lo=block.lo - shift, hi=block.hi - shift),))


def chunk_view(local_wires: int, chunk: tuple[int, ...]):
    """A low-rank view of a shard with each chunk wire an axis of its own: ``(shape, axes)``."""
    shape: list[int] = []
    axes: list[int] = []
    for w in range(local_wires):
        if w in chunk:
            axes.append(len(shape))
            shape.append(2)
        elif shape and (len(shape) - 1) not in axes:
            shape[-1] *= 2
        else:
            shape.append(2)
    return tuple(shape), tuple(axes)


def touched_wires(fused: FusedProgram, block) -> tuple[int, ...]:
    if block.kind == "dense":
        return tuple(range(block.lo, block.hi))
    return tuple(sorted({w for i in block.steps for w in fused.program.steps[i].wires}))
