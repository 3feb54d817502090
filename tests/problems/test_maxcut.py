"""MaxCut references against networkx and brute force written independently here."""

import itertools

import networkx as nx
import numpy as np
import pytest

from qjax.errors import ConfigError
from qjax.problems import maxcut


def _nx_brute_force(graph: maxcut.Graph) -> float:
    """Maximum cut by enumerating node subsets with networkx's own cut_size."""
    g = graph.to_networkx()
    return max(
        nx.cut_size(g, [v for v in range(graph.n) if bits[v]], weight="weight")
        for bits in itertools.product((0, 1), repeat=graph.n)
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_regular_graph_is_regular_and_seeded(seed):
    graph = maxcut.random_regular(10, 3, seed)
    degrees = nx.Graph(graph.edges).degree()
    assert graph.n == 10 and len(graph.edges) == 15 and all(d == 3 for _, d in degrees)
    assert graph == maxcut.random_regular(10, 3, seed)
    assert graph.edges != maxcut.random_regular(10, 3, seed + 10).edges


def test_impossible_regular_graph_is_refused():
    with pytest.raises(ConfigError, match=r"problem\.degree=3 with problem\.n=5 is invalid"):
        maxcut.random_regular(5, 3, 0)


@pytest.mark.parametrize("seed", [0, 3])
def test_cut_values_match_networkx_for_every_assignment(seed):
    rng = np.random.default_rng(seed)
    edges = [[i, j, float(rng.uniform(0.5, 2.0))] for i in range(6) for j in range(i + 1, 6) if rng.random() < 0.6]
    graph = maxcut.from_edges(6, edges)
    values = maxcut.cut_values(graph)
    g = graph.to_networkx()
    for index, bits in enumerate(itertools.product((0, 1), repeat=6)):  # wire 0 is the most significant bit
        expected = nx.cut_size(g, [v for v in range(6) if bits[v]], weight="weight")
        assert values[index] == pytest.approx(expected)
        assert maxcut.cut_value(graph, bits) == pytest.approx(expected)
    best, bits = maxcut.brute_force(graph)
    assert best == pytest.approx(_nx_brute_force(graph)) and maxcut.cut_value(graph, bits) == pytest.approx(best)


def test_cost_observable_is_total_weight_minus_twice_the_cut():
    graph = maxcut.from_edges(None, [[0, 1, 2.0], [1, 2], [0, 2], [2, 3, 0.5]])
    diagonal = maxcut.cost_observable(graph).diagonal(graph.n)
    assert np.allclose(diagonal, graph.total_weight - 2 * maxcut.cut_values(graph))
    problem = maxcut.maxcut_problem(graph)
    assert problem.exact_energy == pytest.approx(graph.total_weight - 2 * _nx_brute_force(graph))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classical_heuristics_meet_their_guarantees(seed):
    graph = maxcut.random_regular(10, 3, seed)
    best = _nx_brute_force(graph)
    greedy, bits = maxcut.greedy_cut(graph, seed=seed)
    assert best / 2 <= greedy <= best and maxcut.cut_value(graph, bits) == pytest.approx(greedy)
    pytest.importorskip("cvxpy")
    gw, bits = maxcut.goemans_williamson(graph, seed=seed)
    assert 0.878 * best <= gw <= best and maxcut.cut_value(graph, bits) == pytest.approx(gw)


@pytest.mark.parametrize(
    "edges, n, message",
    [
        ([[0, 0]], None, r"an edge joins two different nodes"),
        ([[0, 1], [1, 0]], None, r"lists an edge twice"),
        ([[0, 1.5]], None, r"must be \[i, j\] or \[i, j, weight\]"),
        ([[0, 1, 2, 3]], None, r"must be \[i, j\] or \[i, j, weight\]"),
        ([], None, r"problem\.edges is empty"),
        ([[0, 4]], 3, r"problem\.n=3 is too small for problem\.edges, which use node 4"),
    ],
)
def test_bad_edges_are_refused(edges, n, message):
    with pytest.raises(ConfigError, match=message):
        maxcut.from_edges(n, edges)


def test_brute_force_refuses_graphs_too_big_to_enumerate():
    with pytest.raises(ConfigError, match=r"brute force covers n ≤ 20"):
        maxcut.cut_values(maxcut.random_regular(22, 3, 0))
    assert maxcut.maxcut_problem(maxcut.random_regular(22, 3, 0)).exact_energy is None
