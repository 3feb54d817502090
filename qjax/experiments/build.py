"""Experiments: from a validated config to a problem, an ansatz and initial parameters.

This is the only place where config names (``problem=h2``, ``ansatz=ucc``) meet
the library's builders; adding a problem or ansatz is one function and one
registry line.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from qjax.config import check_rules
from qjax.errors import ConfigError
from qjax.hardware_defaults import has_reference
from qjax.ir import ansatze as templates
from qjax.ir.circuit import Circuit
from qjax.noise.mitigation import Reference
from qjax.problems import chemistry, maxcut, spin, tapering
from qjax.problems.base import Problem, basis_state_energy

__all__ = ["Experiment", "build_experiment", "maxcut_graph", "PROBLEMS", "ANSATZE", "EXPERIMENTS"]


class Experiment(NamedTuple):
    """Everything a run trains: ``circuit``, ``problem.observable`` and ``initial_params (P,)``.

    Optional hooks, for experiments whose loss or results are not just an energy:
    ``objective(backend, gradient) -> Objective`` replaces
    ``backend.objective(circuit, problem.observable)`` (e.g. a classifier's loss
    over a data set); ``report(params, result) -> dict`` adds experiment-specific
    fields to ``result.json`` from the final parameters and the result so far
    (e.g. QAOA's approximation ratio); ``summary(result) -> str`` is the final
    line's description of the outcome (default: energy vs exact); ``reference``: the
    :class:`~qjax.noise.mitigation.Reference` state of reference-state mitigation (parameters of
    ``circuit`` that prepare a classically known state, and its exact energy), or ``None``.
    """

    name: str
    problem: Problem
    circuit: Circuit
    initial_params: jax.Array
    loss_name: str
    objective: Callable[[Any, str], Any] | None = None
    report: Callable[[Any, dict], dict] | None = None
    summary: Callable[[dict], str] | None = None
    reference: Any = None
    layout: Any = None


def maxcut_graph(c) -> maxcut.Graph:
    """The graph a ``problem=maxcut`` config describes."""
    if c.edges is not None:  # the nodes are those the edges use; problem.n sizes random graphs only
        return maxcut.from_edges(None, c.edges)
    return maxcut.random_regular(c.n, c.degree, c.graph_seed)


PROBLEMS: dict[str, Callable[[Any], Problem]] = {
    "h2": lambda c: chemistry.h2(c.bond_length, c.basis),
    "lih": lambda c: chemistry.lih(c.bond_length, c.basis, c.active_electrons, c.active_orbitals),
    "tfim": lambda c: spin.tfim(c.n, c.J, c.h, c.periodic),
    "maxcut": lambda c: maxcut.maxcut_problem(maxcut_graph(c)),
}


def _ucc(cfg, problem: Problem) -> Circuit:
    if getattr(cfg, "form", "excitations") == "real_amplitudes":  # validate() allows it on tapered molecules only
        assert problem.hf_state is not None, "real_amplitudes starts from a molecule's Hartree-Fock state"
        return templates.real_amplitudes(problem.num_wires, cfg.reps, problem.hf_state)
    if problem.tapering is not None:  # the excitations tapered like the Hamiltonian
        return tapering.tapered_ucc(problem)
    assert problem.electrons is not None, "UCC runs on molecules (config.check_rules)"
    return templates.uccsd(problem.num_wires, problem.electrons)


def _hea(cfg, problem: Problem, layout=None) -> Circuit:
    return templates.hardware_efficient(
        problem.num_wires,
        cfg.layers,
        rotations=tuple(cfg.rotations),
        entangler=cfg.entangler,
        pairs=None if layout is None else layout.pairs,
    )


def _qaoa(cfg, problem: Problem) -> Circuit:
    edges, weights = [], []
    for coeff, word in problem.observable.terms:  # ZZ terms: problem=maxcut (config.check_rules)
        edges.append(tuple(w for w, _ in word))
        weights.append(coeff)
    return templates.qaoa(edges, problem.num_wires, cfg.p, weights)


ANSATZE: dict[str, Callable[[Any, Problem], Circuit]] = {"ucc": _ucc, "hea": _hea, "qaoa": _qaoa}


def _initial_params(cfg, num_params: int, seed: int, dtype) -> jax.Array:
    if cfg.init == "zeros":
        return jnp.zeros(num_params, dtype)
    if cfg.init == "ramp":  # QAOA: [γ_1..γ_p, β_1..β_p] on a linear annealing path
        fraction = (jnp.arange(cfg.p) + 0.5) / cfg.p
        return jnp.concatenate([cfg.ramp_gamma * fraction, cfg.ramp_beta * (1 - fraction)]).astype(dtype)
    scale = getattr(cfg, "init_scale", 0.1)
    # drawn in float32 whatever the precision, so precision=double starts where single does
    return (scale * jax.random.normal(jax.random.PRNGKey(seed), (num_params,), jnp.float32)).astype(dtype)


def build_vqe(rc) -> Experiment:
    """VQE: minimise ⟨H⟩ of the configured problem with the configured ansatz.

    ``ansatz.entangler=device``: the device's qubits are chosen now, by calibration
    (:func:`qjax.backends.layout.device_layout`), the ansatz entangles their couplers, and the
    objective hands the layout to the backend, which transpiles onto exactly those qubits.
    """
    problem = PROBLEMS[rc.problem.name](rc.problem)
    if getattr(rc.problem, "taper", False) is True:  # validate() resolved auto
        problem = tapering.taper(problem)
    layout = None
    if getattr(rc.ansatz, "entangler", None) == "device":
        from qjax.backends.layout import device_layout

        layout = device_layout(rc.backend, problem.num_wires)
        circuit = _hea(rc.ansatz, problem, layout)
    else:
        circuit = ANSATZE[rc.ansatz.name](rc.ansatz, problem)
    dtype = jnp.float64 if rc.precision == "double" else jnp.float32
    params = _initial_params(rc.ansatz, circuit.num_params, rc.seed, dtype)
    reference = _reference(rc, problem, circuit)
    experiment = Experiment("vqe", problem, circuit, params, "energy", reference=reference, layout=layout)
    if layout is not None:
        experiment = experiment._replace(objective=partial(_laid_out_objective, experiment))
    return experiment


def _reference(rc, problem: Problem, circuit: Circuit) -> Reference | None:
    """REM's reference: UCC at parameters 0 prepares the (tapered) Hartree–Fock state, whose energy is exact."""
    if not has_reference(rc.problem, rc.ansatz) or problem.hf_state is None:
        return None
    return Reference(
        np.zeros(circuit.num_params),
        basis_state_energy(problem.observable, problem.hf_state),
        "hartree_fock",
        model=getattr(rc.mitigation, "rem_model", "shift"),
        constant=float(sum(coeff for coeff, word in problem.observable.terms if not word)),
    )


def _laid_out_objective(experiment: Experiment, backend, gradient: str):
    """The backend's objective of ``experiment`` on the qubits of its device layout."""
    backend.use_layout(experiment.layout)
    return backend.objective(experiment.circuit, experiment.problem.observable, gradient=gradient)


def build_qaoa(rc) -> Experiment:
    """QAOA MaxCut: minimise ``<H_P>``; report the expected cut against brute force and classical heuristics.

    The cut samples come from the backend that trained (:meth:`~qjax.backends.base.Backend.sample`): on
    hardware and noisy backends one more job on the same device and layout, taken with the final evaluation
    (so it is counted in ``num_jobs``, ``shots_total`` and the budget); ``sampled_on`` says where.
    """
    experiment = build_vqe(rc)._replace(name="qaoa")  # config.check_rules made sure problem=maxcut
    graph = maxcut_graph(rc.problem)
    taken: dict[str, Any] = {}
    return experiment._replace(
        objective=partial(_sampling_objective, experiment, rc, taken),
        report=partial(_maxcut_report, graph, experiment.circuit, rc, taken),
        summary=partial(_maxcut_summary, graph, rc.ansatz.p),
    )


def _sampling_objective(experiment: Experiment, rc, taken: dict, backend, gradient: str):
    """The backend's objective, whose final report also samples the trained circuit on that backend.

    A noiseless backend (whose ``sample`` is the base class's) keeps its objective as it is: the report then
    samples the ideal state, as it always has."""
    from qjax.backends.base import Backend

    objective = backend.objective(experiment.circuit, experiment.problem.observable, gradient=gradient)
    if type(backend).sample is Backend.sample:
        return objective
    final_report = objective.report

    def report(params) -> dict:
        # a report always carries the energy at the final parameters (qjax.evaluate reads it)
        out = final_report(params) if final_report is not None else {"energy": float(objective.value(params))}
        taken["samples"] = backend.sample(experiment.circuit, params, rc.problem.samples, seed=rc.seed)
        return out

    return objective._replace(report=report)


def _maxcut_report(graph: maxcut.Graph, circuit: Circuit, rc, taken: dict, params, result: dict) -> dict:
    """Cut figures: expected cut from the run's final energy, best cut of the samples the backend took of the
    trained state (ideal statevector samples when the run did not sample, e.g. a report without a run)."""
    from qjax.backends.base import ideal_samples

    expected = (graph.total_weight - result["energy"]) / 2  # <C> = (W - <H_P>) / 2
    report = {"expected_cut": expected}
    if "samples" not in taken:
        taken["samples"] = ideal_samples(circuit, params, rc.problem.samples, seed=rc.seed)
    samples, sampled_on = np.asarray(taken["samples"].bits), taken["samples"].sampled_on
    weights = np.asarray(graph.weights)
    cuts = (samples[:, [i for i, _ in graph.edges]] != samples[:, [j for _, j in graph.edges]]) @ weights
    best = int(np.argmax(cuts))
    report.update(
        best_sampled_cut=float(cuts[best]),
        best_sampled_bits="".join(map(str, samples[best])),
        samples=int(rc.problem.samples),
        sampled_on=sampled_on,
    )
    if graph.n <= maxcut.BRUTE_FORCE_MAX_NODES:
        max_cut, _ = maxcut.brute_force(graph)
        report.update(max_cut=max_cut, approx_ratio=expected / max_cut, sampled_optimal=bool(cuts[best] >= max_cut))
    greedy, _ = maxcut.greedy_cut(graph, seed=rc.seed)
    report["greedy_cut"] = greedy
    try:
        report["goemans_williamson_cut"] = maxcut.goemans_williamson(graph, seed=rc.seed)[0]
    except ImportError:  # cvxpy is optional
        pass
    return report


def _maxcut_summary(graph: maxcut.Graph, p: int, result: dict) -> str:
    head = f"maxcut ({graph.n} nodes, {len(graph.edges)} edges, p={p}): expected cut {result['expected_cut']:.3f}"
    if "max_cut" in result:
        optimal = " (optimal)" if result["sampled_optimal"] else ""
        head += (
            f" of max {result['max_cut']:g} (ratio {result['approx_ratio']:.3f}), "
            f"best sampled cut {result['best_sampled_cut']:g}{optimal}"
        )
    else:
        head += f", best sampled cut {result['best_sampled_cut']:g}"
    classical = f"greedy {result['greedy_cut']:g}"
    if "goemans_williamson_cut" in result:
        classical += f", Goemans–Williamson {result['goemans_williamson_cut']:g}"
    return f"{head}; {classical}"


def build_classifier(rc) -> Experiment:
    """A data re-uploading classifier (:mod:`qjax.experiments.classifier`): minimise the mean cross-entropy over the
    training split; report train/test accuracy against the majority-class baseline. Simulator only."""
    from qjax.backends import make_backend
    from qjax.config import classifier_backend_refusal
    from qjax.errors import BackendError
    from qjax.experiments import classifier
    from qjax.problems import datasets
    from qjax.sim.compile import compile as compile_circuit

    data = datasets.load_dataset(rc.problem)  # config.check_rules made sure problem is a data set
    model = classifier.build_model(rc.ansatz, data.num_features, data.num_classes)
    readout = classifier.readout_observables(data.num_classes, model.num_wires)
    # the readout as one observable for the generic run machinery (logs, manifest); the loss uses each Z_c
    problem = Problem(rc.problem.name, sum(readout[1:], readout[0]), model.num_wires, None)
    dtype = jnp.float64 if rc.precision == "double" else jnp.float32
    params = classifier.initial_params(model, rc.ansatz, rc.seed, dtype)
    built: dict[str, Any] = {}

    def objective(backend, gradient: str):
        refusal = classifier_backend_refusal(backend.name)  # the backend actually handed over
        if refusal is not None:
            raise BackendError(refusal)
        for obs in readout:
            backend.check(model.circuit, obs)
        compiled = compile_circuit(model.circuit, readout, dtype=backend.dtype, gradient=gradient)
        built.update(classifier.classifier_objective(compiled.expval, model, data.x_train, data.y_train)._asdict())
        return built["objective"]

    def report(final_params, result: dict) -> dict:
        if "logits" not in built:  # report without a run (e.g. from a notebook)
            objective(
                make_backend("simulator", dtype=jnp.complex128 if rc.precision == "double" else jnp.complex64), "auto"
            )
        # one batch (one compile) for both splits
        logits = np.asarray(
            built["logits"](
                jnp.asarray(final_params, dtype), jnp.asarray(np.concatenate([data.x_train, data.x_test]), dtype)
            )
        )
        n_train = len(data.y_train)
        return {
            "train_accuracy": classifier.accuracy(logits[:n_train], data.y_train),
            "test_accuracy": classifier.accuracy(logits[n_train:], data.y_test),
            "baseline_accuracy": classifier.majority_baseline(data.y_train, data.y_test),
            "baseline": "majority class of the training split",
            "num_train": int(len(data.y_train)),
            "num_test": int(len(data.y_test)),
            "num_features": data.num_features,
            "num_classes": data.num_classes,
        }

    def summary(result: dict) -> str:
        return (
            f"{rc.problem.name}: test accuracy {result['test_accuracy']:.3f} (train {result['train_accuracy']:.3f}, "
            f"majority baseline {result['baseline_accuracy']:.3f}; {result['num_test']} test samples)"
        )

    return Experiment(
        "classifier",
        problem,
        model.circuit,
        params,
        "cross_entropy",
        objective=objective,
        report=report,
        summary=summary,
    )


EXPERIMENTS: dict[str, Callable[[Any], Experiment]] = {
    "vqe": build_vqe,
    "qaoa": build_qaoa,
    "classifier": build_classifier,
}


def build_experiment(rc) -> Experiment:
    """The :class:`Experiment` named by ``rc.experiment``.

    The cross-group rules (``ansatz=ucc`` needs a molecule, QAOA needs MaxCut, the classifier a data set
    and the simulator) are checked once more here with :func:`qjax.config.check_rules`, their one
    definition, so a :class:`~qjax.schemas.RunConfig` built in Python without :func:`~qjax.config.validate`
    fails with the same message.
    """
    try:
        builder = EXPERIMENTS[rc.experiment]
    except KeyError:
        raise ConfigError(f"+experiment={rc.experiment} is unknown; choose one of {', '.join(EXPERIMENTS)}") from None
    check_rules(rc)
    return builder(rc)
