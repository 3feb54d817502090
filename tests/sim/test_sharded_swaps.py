"""qjax.sim.swaps: the swap planner of the sharded statevector.

References: the commutation rule is checked against the gates' matrices (numpy, embedded in
the full space by Kronecker products); the swap count against a brute-force search (0-1 BFS
over every start layout, every order the commutation rule allows and every swap). That the
reordered schedule gives the unsharded state, expectation and gradients is checked on forced
CPU devices in tests/sim/test_sharded.py (its random circuits run through this planner).
"""

import collections
import itertools
import sys

import jax.numpy as jnp
import numpy as np
from oracles import random_problem

from qjax.ir.ansatze import hardware_efficient
from qjax.sim import swaps
from qjax.sim.program import lower
from qjax.sim.shard_schedule import mixed_positions, schedule


def _gates(circuit):
    program = lower(circuit, jnp.complex64)
    wires = [s.wires for s in program.steps]
    mixes = [tuple(s.wires[i] for i in mixed_positions(s)) for s in program.steps]
    return program, wires, mixes


def brute_force_min_swaps(wires, mixes, n, k):
    """Fewest swaps over every start layout, gate order allowed by ``swaps.commute`` and swap."""
    S = len(wires)
    preds = [
        frozenset(j for j in range(i) if not swaps.commute(wires[j], mixes[j], wires[i], mixes[i])) for i in range(S)
    ]
    dist: dict = {}
    queue: collections.deque = collections.deque()
    for G in itertools.combinations(range(n), k):
        dist[(frozenset(), frozenset(G))] = 0
        queue.append((frozenset(), frozenset(G)))
    while queue:
        state = queue.popleft()
        d, (done, G) = dist[state], state
        if len(done) == S:
            return d
        moves = [((done | {i}, G), 0) for i in range(S) if i not in done and preds[i] <= done and not set(mixes[i]) & G]
        moves += [((done, (G - {g}) | {w}), 1) for g in G for w in range(n) if w not in G]
        for nxt, cost in moves:
            if nxt not in dist or dist[nxt] > d + cost:
                dist[nxt] = d + cost
                (queue.appendleft if cost == 0 else queue.append)(nxt)
    raise AssertionError("unreachable")


def _embed(u, gate_wires, n):
    """``u`` on ``gate_wires`` (first = most significant) as a ``2**n`` matrix (wire 0 = MSB)."""
    m = len(gate_wires)
    t = np.asarray(u).reshape((2,) * (2 * m))
    full = np.eye(2**n, dtype=complex).reshape((2,) * (2 * n))
    # full[out..., in...]: contract the gate's input axes with the output axes of the identity
    out = np.tensordot(t, full, axes=(list(range(m, 2 * m)), list(gate_wires)))
    return np.moveaxis(out, list(range(m)), list(gate_wires)).reshape(2**n, 2**n)


def test_structural_commutation_implies_the_matrices_commute():
    n, checked = 4, 0
    for seed in range(6):
        _, ops, circuit, p, x = random_problem(seed, n, extra=10)
        program, wires, mixes = _gates(circuit)
        angles = program.angles(jnp.asarray(p, jnp.float32), jnp.asarray(x, jnp.float32))
        matrices = program.matrices(angles)
        full = []
        for s in program.steps:
            u = np.asarray(program.matrix(s, matrices), complex)
            full.append(_embed(np.diag(u) if s.diagonal else u, s.wires, n))
        for i, j in itertools.combinations(range(len(full)), 2):
            if swaps.commute(wires[i], mixes[i], wires[j], mixes[j]):
                a, b = full[i], full[j]
                assert np.abs(a @ b - b @ a).max() < 1e-5, (program.steps[i], program.steps[j])
                checked += 1
    assert checked > 50


def test_hardware_efficient_swaps_equal_the_brute_force_minimum():
    # 2 layers of RY, RZ on 4 wires and a CNOT chain: the minimum is one swap per global wire
    # (every wire is rotated in the first layer, so a wire that starts global must come in once).
    circuit = hardware_efficient(4, 2, rotations=("RY", "RZ"), entangler="chain")
    _, wires, mixes = _gates(circuit)
    for k, in_order in [(1, 3), (2, 9)]:
        best = brute_force_min_swaps(wires, mixes, 4, k)
        assert best == k
        assert swaps.plan(wires, mixes, 4, k).num_swaps == best
        assert swaps.plan(wires, mixes, 4, k, reorder=False).num_swaps == in_order  # circuit order


def test_random_circuits_never_worse_than_circuit_order_and_close_to_the_minimum():
    total = {"plan": 0, "brute": 0}
    for seed in range(6):
        circuit = random_problem(seed, 5, extra=9)[2]
        _, wires, mixes = _gates(circuit)
        if 5 - 2 < max(len(w) for w in wires):
            continue
        for k in (1, 2):
            best = brute_force_min_swaps(wires, mixes, 5, k)
            got = swaps.plan(wires, mixes, 5, k).num_swaps
            assert best <= got <= swaps.plan(wires, mixes, 5, k, reorder=False).num_swaps
            assert got <= best + 2, (seed, k, got, best)  # greedy (Belady), not optimal in general
            total["plan"] += got
            total["brute"] += best
    print("random circuits, swaps planned / minimum:", total, file=sys.stderr)


def test_plan_is_a_valid_order_and_the_sharded_schedule_follows_it():
    circuit = hardware_efficient(12, 4, rotations=("RY", "RZ"), entangler="chain")
    program, wires, mixes = _gates(circuit)
    for k in (1, 2, 3):
        plan = swaps.plan(wires, mixes, 12, k)
        order = plan.order
        assert sorted(order) == list(range(len(wires)))
        position = {i: t for t, i in enumerate(order)}
        for i, j in itertools.combinations(range(len(wires)), 2):
            if not swaps.commute(wires[i], mixes[i], wires[j], mixes[j]):
                assert position[i] < position[j], (i, j)
        # replay: no gate mixes a wire while it is global
        glob = set(plan.initial)
        for event in plan.events:
            if event[0] == "swap":
                assert event[1] in glob and event[2] not in glob
                glob = (glob - {event[1]}) | {event[2]}
            else:
                assert not set(mixes[event[1]]) & glob
        assert plan.num_swaps == k  # W1's floor: each wire that starts global comes in once
        assert schedule(program, k).num_swaps == k
