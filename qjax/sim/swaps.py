"""Which wires are global, and when to swap them, for a statevector split over 2**k devices.

A gate that *mixes* a wire (changes that bit of the basis index: a rotation's wire, a CNOT's
target) needs the wire local; a gate that leaves a wire's bit alone (a diagonal gate, a
control) does not. :func:`plan` orders the circuit's gates and the global/local swaps, in
Python, at compile time:

- **Reordering.** Two gates commute when every wire they share is left alone by both (each
  is then block-diagonal in that wire's basis; disjoint wires and diagonal gates are the
  common cases). A gate may run once every earlier gate it does not commute with has run,
  so the pass runs, in circuit order, every gate that needs no swap before it swaps: all
  the gates that wait for one global wire run together, after one swap.
- **Swaps (Belady's rule).** When every gate that may run needs a global wire, the wire the
  earliest of them needs is swapped in, and the local wire given up is the one whose next
  mixing gate comes last (never: first).
- **Start layout.** Every wire starts in ``|0>``, so any layout is free: the k wires a gate
  mixes last start global.

``reorder=False`` keeps circuit order (the scheduler before this pass), for comparison.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

__all__ = ["SwapPlan", "commute", "plan"]


class SwapPlan(NamedTuple):
    """``initial``: the k wires that start global (sorted); ``events``: in order,
    ``("gate", step index)`` or ``("swap", global wire, local wire)`` (after it the global
    wire is local and the local one global)."""

    initial: tuple[int, ...]
    events: tuple[tuple, ...]

    @property
    def num_swaps(self) -> int:
        return sum(e[0] == "swap" for e in self.events)

    @property
    def order(self) -> tuple[int, ...]:
        return tuple(e[1] for e in self.events if e[0] == "gate")


def commute(wires_a: Sequence[int], mixes_a: Sequence[int], wires_b: Sequence[int], mixes_b: Sequence[int]) -> bool:
    """Whether two gates commute by structure: every shared wire is mixed by neither."""
    shared = set(wires_a) & set(wires_b)
    return not (shared & (set(mixes_a) | set(mixes_b)))


def plan(
    wires: Sequence[Sequence[int]], mixes: Sequence[Sequence[int]], num_wires: int, k: int, reorder: bool = True
) -> SwapPlan:
    """Order the gates (``wires[i]``, of which ``mixes[i]`` are mixed) and the swaps for k global wires."""
    S = len(wires)
    uses: dict[int, list[int]] = {w: [] for w in range(num_wires)}
    for i, ws in enumerate(mixes):
        for w in ws:
            uses[w].append(i)
    done = [False] * S
    # preds[i]: earlier gates that i does not commute with (in circuit order: every earlier gate)
    preds: list[set[int]] = []
    for i in range(S):
        if reorder:
            preds.append({j for j in range(i) if not commute(wires[j], mixes[j], wires[i], mixes[i])})
        else:
            preds.append({i - 1} if i else set())
    waiting = [len(p) for p in preds]
    succs: list[list[int]] = [[] for _ in range(S)]
    for i, p in enumerate(preds):
        for j in p:
            succs[j].append(i)

    def next_mix(w: int) -> float:
        later = [i for i in uses[w] if not done[i]]
        return later[0] if later else math.inf

    order = sorted(range(num_wires), key=lambda w: (-next_mix(w), w))
    initial = tuple(sorted(order[:k]))
    is_global = [w in initial for w in range(num_wires)]
    ready = sorted(i for i in range(S) if waiting[i] == 0)
    events: list[tuple] = []

    def run(i: int) -> None:
        ready.remove(i)
        done[i] = True
        events.append(("gate", i))
        for j in succs[i]:
            waiting[j] -= 1
            if waiting[j] == 0:
                ready.append(j)
        ready.sort()

    while ready:
        free = next((i for i in ready if not any(is_global[w] for w in mixes[i])), None)
        if free is not None:
            run(free)
            continue
        first = ready[0]  # every ready gate mixes a global wire: serve the earliest
        for g in [w for w in mixes[first] if is_global[w]]:
            candidates = [w for w in range(num_wires) if not is_global[w] and w not in wires[first]]
            local = max(candidates, key=lambda w: (next_mix(w), w))
            is_global[g], is_global[local] = False, True
            events.append(("swap", g, local))
        run(first)
    if not all(done):  # pragma: no cover - the dependency graph is acyclic by construction
        raise AssertionError("swap planning left gates unscheduled")
    return SwapPlan(initial, tuple(events))
