"""MaxCut: graphs, cut values, and the classical answers QAOA is measured against.

Pure NumPy / networkx, no JAX. A :class:`Graph` is ``n`` nodes plus weighted
edges; its QAOA cost is ``H_P = Σ w_ij Z_i Z_j`` (see
:func:`qjax.ir.ansatze.qaoa`), so a basis state of energy ``E`` cuts
``(Σ w_ij - E) / 2``. Bit ``k`` of a state index is wire ``n-1-k`` (wire 0 is the
most significant bit), as everywhere in qjax.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from qjax.errors import ConfigError
from qjax.ir.pauli import PauliSum
from qjax.problems.base import Problem

__all__ = [
    "Graph",
    "maxcut_problem",
    "random_regular",
    "from_edges",
    "cut_values",
    "cut_value",
    "brute_force",
    "greedy_cut",
    "goemans_williamson",
    "cost_observable",
    "BRUTE_FORCE_MAX_NODES",
]

#: Largest graph whose optimum :func:`brute_force` computes (2**20 cut values in memory).
BRUTE_FORCE_MAX_NODES = 20


class Graph(NamedTuple):
    """``n`` nodes ``0..n-1`` and ``edges`` ``((i, j), ...)`` with ``weights`` (one per edge)."""

    n: int
    edges: tuple[tuple[int, int], ...]
    weights: tuple[float, ...]

    @property
    def total_weight(self) -> float:
        return float(sum(self.weights))

    def to_networkx(self):
        import networkx as nx

        g = nx.Graph()
        g.add_nodes_from(range(self.n))
        g.add_weighted_edges_from((i, j, w) for (i, j), w in zip(self.edges, self.weights))
        return g


def random_regular(n: int, degree: int, seed: int) -> Graph:
    """A random ``degree``-regular graph on ``n`` nodes (networkx), unit weights."""
    import networkx as nx

    if degree < 1 or degree >= n or (n * degree) % 2:
        raise ConfigError(
            f"problem.degree={degree} with problem.n={n} is invalid: a regular graph needs "
            f"1 ≤ degree < n and n·degree even (e.g. problem.n=10 problem.degree=3)"
        )
    g = nx.random_regular_graph(degree, n, seed=seed)
    return Graph(n, tuple(sorted(tuple(sorted(e)) for e in g.edges())), (1.0,) * g.number_of_edges())


def from_edges(n: int | None, edges: Sequence[Sequence[float]]) -> Graph:
    """A graph from ``[[i, j], ...]`` or ``[[i, j, w], ...]``; ``n`` defaults to the largest node + 1."""
    pairs, weights = [], []
    for e in edges:
        if len(e) not in (2, 3) or any(float(v) != int(v) for v in e[:2]):
            raise ConfigError(
                f"problem.edges entry {list(e)} is invalid: must be [i, j] or [i, j, weight] with "
                "integer nodes (e.g. problem.edges=[[0,1],[1,2],[2,0]])"
            )
        i, j = int(e[0]), int(e[1])
        if i == j or min(i, j) < 0:
            raise ConfigError(f"problem.edges entry {list(e)} is invalid: an edge joins two different nodes ≥ 0")
        pairs.append((min(i, j), max(i, j)))
        weights.append(float(e[2]) if len(e) == 3 else 1.0)
    if not pairs:
        raise ConfigError("problem.edges is empty: give at least one edge (e.g. problem.edges=[[0,1]])")
    if len(set(pairs)) != len(pairs):
        raise ConfigError("problem.edges lists an edge twice; give each edge once (merge the weights)")
    size = max(max(p) for p in pairs) + 1
    n = size if n is None else int(n)
    if n < size:
        raise ConfigError(
            f"problem.n={n} is too small for problem.edges, which use node {size - 1}; set problem.n={size} or more"
        )
    return Graph(n, tuple(pairs), tuple(weights))


def cost_observable(graph: Graph) -> PauliSum:
    """``H_P = Σ w_ij Z_i Z_j``: minimising ``<H_P>`` maximises the expected cut ``(W - <H_P>)/2``."""
    return PauliSum([(w, {i: "Z", j: "Z"}) for (i, j), w in zip(graph.edges, graph.weights)], graph.n)


def cut_value(graph: Graph, bits: Sequence[int]) -> float:
    """The weight of edges cut by the assignment ``bits`` (``bits[w]`` is node ``w``'s side)."""
    return float(sum(w for (i, j), w in zip(graph.edges, graph.weights) if int(bits[i]) != int(bits[j])))


def cut_values(graph: Graph) -> np.ndarray:
    """``(2**n,)`` cut value of every basis state, indexed like the state vector (wire 0 = MSB)."""
    if graph.n > BRUTE_FORCE_MAX_NODES:
        raise ConfigError(f"problem.n={graph.n}: brute force covers n ≤ {BRUTE_FORCE_MAX_NODES} nodes")
    index = np.arange(2**graph.n, dtype=np.int64)
    out = np.zeros(2**graph.n)
    for (i, j), w in zip(graph.edges, graph.weights):
        bit_i = (index >> (graph.n - 1 - i)) & 1
        bit_j = (index >> (graph.n - 1 - j)) & 1
        out += w * (bit_i ^ bit_j)
    return out


def brute_force(graph: Graph) -> tuple[float, tuple[int, ...]]:
    """The maximum cut and one assignment achieving it, by enumerating all ``2**n`` assignments."""
    values = cut_values(graph)
    best = int(np.argmax(values))
    return float(values[best]), tuple((best >> (graph.n - 1 - w)) & 1 for w in range(graph.n))


def greedy_cut(graph: Graph, seed: int = 0) -> tuple[float, tuple[int, ...]]:
    """networkx's one-exchange local search (a 1/2-approximation) from a random start."""
    from networkx.algorithms.approximation import one_exchange

    value, (side, _) = one_exchange(graph.to_networkx(), seed=seed, weight="weight")
    return float(value), tuple(int(w in side) for w in range(graph.n))


def goemans_williamson(graph: Graph, seed: int = 0, rounds: int = 100) -> tuple[float, tuple[int, ...]]:
    """Goemans–Williamson: SDP relaxation (cvxpy) and the best of ``rounds`` random hyperplane roundings.

    Needs the optional ``cvxpy`` package (``pip install cvxpy``); raises ``ImportError`` without it.
    """
    import cvxpy as cp

    n = graph.n
    X = cp.Variable((n, n), PSD=True)
    objective = sum(w * (1 - X[i, j]) / 2 for (i, j), w in zip(graph.edges, graph.weights))
    cp.Problem(cp.Maximize(objective), [cp.diag(X) == 1]).solve()
    assert X.value is not None, "the SDP solver returned no solution"
    vals, vecs = np.linalg.eigh(X.value)
    vectors = vecs * np.sqrt(np.clip(vals, 0, None))
    rng = np.random.default_rng(seed)
    best_value, best_bits = -1.0, tuple(0 for _ in range(n))
    for _ in range(rounds):
        bits = tuple(int(b) for b in (vectors @ rng.normal(size=n) >= 0))
        value = cut_value(graph, bits)
        if value > best_value:
            best_value, best_bits = value, bits
    return best_value, best_bits


def maxcut_problem(graph: Graph) -> Problem:
    """MaxCut on a ``graph``: minimise ``H_P = Σ w Z_i Z_j``; exact by brute force (n ≤ 20)."""
    exact = None
    if graph.n <= BRUTE_FORCE_MAX_NODES:
        exact = graph.total_weight - 2 * brute_force(graph)[0]
    return Problem("maxcut", cost_observable(graph), graph.n, exact)
