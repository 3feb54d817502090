"""+experiment=qaoa end to end: the issue's acceptance numbers, checked against Qiskit and brute force."""

import json

import networkx as nx
import numpy as np
import pytest
from qiskit.quantum_info import Statevector

from qjax.interop.qiskit import to_qiskit
from qjax.ir import ansatze as templates
from qjax.problems import maxcut


def _qiskit_expected_cut(graph: maxcut.Graph, p: int, params) -> float:
    """<C> from Qiskit's Statevector of the exported circuit, cut sizes from networkx."""
    qc = to_qiskit(templates.qaoa(graph.edges, graph.n, p, graph.weights))
    probs = Statevector(qc.assign_parameters(np.asarray(params, dtype=float))).probabilities()
    g = graph.to_networkx()
    # Qiskit's bit k of an index is qubit k = wire k
    cuts = [nx.cut_size(g, [w for w in range(graph.n) if (i >> w) & 1], weight="weight") for i in range(len(probs))]
    return float(probs @ np.asarray(cuts, dtype=float))


@pytest.mark.parametrize("graph_seed", [0, 1, 2])
def test_default_qaoa_reaches_the_acceptance_ratio_and_samples_the_optimum(
    tmp_path, capsys, graph_seed, train_in_process
):
    result = train_in_process("+experiment=qaoa", f"problem.graph_seed={graph_seed}")
    graph = maxcut.random_regular(10, 3, graph_seed)
    best = max(nx.cut_size(graph.to_networkx(), [w for w in range(10) if (i >> w) & 1]) for i in range(2**10))
    assert result["max_cut"] == best
    # the bar: expected cut ≥ 0.85 of the optimum, and the best sampled cut is optimal
    assert result["approx_ratio"] >= 0.85
    assert result["best_sampled_cut"] == best and result["sampled_optimal"]
    sampled_bits = [int(b) for b in result["best_sampled_bits"]]
    assert maxcut.cut_value(graph, sampled_bits) == best
    # complex64 statevector vs Qiskit's double precision: 1e-4 on a cut of ~12
    assert result["expected_cut"] == pytest.approx(_qiskit_expected_cut(graph, 3, result["final_params"]), abs=1e-4)
    assert result["approx_ratio"] == pytest.approx(result["expected_cut"] / best)
    assert result["greedy_cut"] <= best
    assert result["exact_energy"] == pytest.approx(15 - 2 * best)
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert f"of max {best:g} (ratio {result['approx_ratio']:.3f}), best sampled cut {best:g} (optimal)" in line
    on_disk = json.loads((tmp_path / "result.json").read_text())
    assert {"expected_cut", "max_cut", "approx_ratio", "best_sampled_cut"} <= set(on_disk)


def test_qaoa_on_a_weighted_graph_given_by_its_edges(tmp_path, train_in_process):
    edges = [[0, 1, 2.0], [1, 2, 1.0], [0, 2, 1.0], [2, 3, 0.5]]
    result = train_in_process(
        "+experiment=qaoa", f"problem.edges={json.dumps(edges).replace(' ', '')}", "trainer.steps=40"
    )
    graph = maxcut.from_edges(None, edges)
    assert result["max_cut"] == pytest.approx(3.5)  # {0, 2} vs {1, 3}: edges 0-1, 1-2, 2-3
    assert len(result["best_sampled_bits"]) == 4  # the nodes the edges use
    assert result["expected_cut"] == pytest.approx(_qiskit_expected_cut(graph, 3, result["final_params"]), abs=1e-4)
    assert result["best_sampled_cut"] == pytest.approx(3.5)


def test_qaoa_resumes_and_reports_a_finished_run(tmp_path, train_in_process):
    first = train_in_process("+experiment=qaoa", "problem.n=6", "trainer.steps=10")
    again = train_in_process("+experiment=qaoa", "problem.n=6", "trainer.steps=10")
    assert again["already_finished"] and again["expected_cut"] == pytest.approx(first["expected_cut"], abs=1e-6)
