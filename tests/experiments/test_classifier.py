"""The data re-uploading classifier (qjax/classifier.py, +experiment=classifier).

Oracles: PennyLane ``default.qubit`` circuits written gate by gate for the model's
expectations, NumPy for the cross-entropy, scikit-learn for the split and scaler.
"""

from types import SimpleNamespace

import jax.numpy as jnp
import numpy as np
import pennylane as qml
import pytest

from qjax.config import validate
from qjax.errors import BackendError, ConfigError
from qjax.experiments import classifier
from qjax.experiments.build import build_experiment
from qjax.problems import datasets
from qjax.sim.compile import compile as compile_circuit

# complex64 statevector of ≤ 4 qubits and ~40 gates: rounding stays near 1e-6
TOL = 1e-5

IRIS = SimpleNamespace(name="iris", test_size=0.2, seed=0, features=None)
MOONS = SimpleNamespace(name="moons", test_size=0.25, seed=3, n_samples=60, noise=0.2)


def _ansatz(**changes):
    base = dict(
        layers=2,
        reupload=True,
        encoding="RY",
        rotations=("RY", "RZ"),
        entangler="ring",
        wires=None,
        init="random",
        init_scale=0.7,
        logit_scale=2.0,
    )
    return SimpleNamespace(**{**base, **changes})


def _pennylane_logits(model: classifier.ReuploadModel, cfg, params: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The model written out by hand in PennyLane: ``(N, F)`` samples → ``(N, C)`` logits (float64)."""
    n, P, F = model.num_wires, model.circuit.num_params, model.num_features
    theta = params[:P]
    weights = params[P : P + model.encodings * n].reshape(model.encodings, n)
    gates = {"RX": qml.RX, "RY": qml.RY, "RZ": qml.RZ}
    pairs = [(k, k + 1) for k in range(n - 1)] + ([(n - 1, 0)] if cfg.entangler == "ring" and n >= 3 else [])

    @qml.qnode(qml.device("default.qubit", wires=n))
    def circuit(samples):  # (N, F): PennyLane broadcasts the encoding gates over the samples
        p = 0
        for layer in range(cfg.layers):
            if cfg.reupload or layer == 0:
                for k in range(n):
                    gates[cfg.encoding](weights[layer if cfg.reupload else 0, k] * samples[:, k % F], wires=k)
            for gate in cfg.rotations:
                for k in range(n):
                    gates[gate](theta[p], wires=k)
                    p += 1
            for a, b in pairs:
                qml.CNOT(wires=[a, b])
        return [qml.expval(qml.PauliZ(c)) for c in range(model.num_classes)]

    return np.asarray(circuit(np.asarray(x)), dtype=float).T * params[-1]


def _random_params(model, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [
            rng.uniform(-np.pi, np.pi, model.circuit.num_params),
            rng.uniform(0.5, 1.5, model.num_params - model.circuit.num_params - 1),
            [1.7],
        ]
    )


def _functions(model, data):
    compiled = compile_circuit(model.circuit, classifier.readout_observables(model.num_classes, model.num_wires))
    return classifier.classifier_objective(compiled.expval, model, data.x_train, data.y_train)


CASES = [
    pytest.param(IRIS, {}, id="iris-reupload-ring"),
    pytest.param(
        MOONS,
        dict(encoding="RX", layers=3, wires=3, reupload=False, entangler="chain", rotations=("RX", "RY", "RZ")),
        id="moons-angle-rx-chain-3wires",
    ),
]


@pytest.mark.parametrize("problem, changes", CASES)
def test_logits_and_loss_match_a_pennylane_circuit(problem, changes):
    cfg = _ansatz(**changes)
    data = datasets.load_dataset(problem)
    model = classifier.build_model(cfg, data.num_features, data.num_classes)
    params = _random_params(model, seed=7)
    fns = _functions(model, data)
    x = data.x_train[:6]
    expected = _pennylane_logits(model, cfg, params, x)
    got = np.asarray(fns.logits(jnp.asarray(params, jnp.float32), jnp.asarray(x, jnp.float32)))
    np.testing.assert_allclose(got, expected, atol=TOL * params[-1])

    # the training loss over every sample against NumPy's cross-entropy of PennyLane's logits
    all_logits = _pennylane_logits(model, cfg, params, data.x_train)
    shifted = all_logits - all_logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    reference = -np.mean(log_probs[np.arange(len(data.y_train)), data.y_train])
    assert float(fns.objective.value(jnp.asarray(params, jnp.float32))) == pytest.approx(reference, abs=TOL)


def test_a_step_with_new_params_does_not_retrace():
    data = datasets.load_dataset(MOONS)
    model = classifier.build_model(_ansatz(layers=1), data.num_features, data.num_classes)
    compiled = compile_circuit(model.circuit, classifier.readout_observables(2, model.num_wires))
    traces = []

    def counting_expval(theta, inputs):  # runs once per trace, never per call of the jit-ed function
        traces.append(1)
        return compiled.expval(theta, inputs)

    objective = classifier.classifier_objective(counting_expval, model, data.x_train, data.y_train).objective
    params = classifier.initial_params(model, _ansatz(layers=1), 0, jnp.float32)
    for step in range(4):
        objective.value_and_grad(params + 0.1 * step)
        if step == 0:
            first = len(traces)
    assert first >= 1 and len(traces) == first
    objective.value(params)
    for step in range(3):
        objective.value(params - 0.1 * step)
    assert len(traces) == first + 1  # value is its own jit: one trace, then none

    # and value_and_grad's gradient is value's: central differences (float32: eps² ≈ 1e-4, rounding ≈ 1e-5)
    eps = 1e-2
    _, grad = objective.value_and_grad(params)
    fd = [
        (objective.value(params.at[i].add(eps)) - objective.value(params.at[i].add(-eps))) / (2 * eps)
        for i in range(model.num_params)
    ]
    np.testing.assert_allclose(np.asarray(grad), np.asarray(fd), atol=2e-3)
    assert len(traces) == first + 1


def test_split_is_stratified_seeded_and_scaled_on_train_only():
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import MinMaxScaler

    x, y = load_breast_cancer(return_X_y=True)  # imbalanced (212 / 357): stratification shows
    x_tr, x_te, y_tr, y_te = datasets.split_and_scale(x, y, test_size=0.25, seed=5)
    for labels in (y_tr, y_te):
        assert abs(np.mean(labels) - np.mean(y)) < 1 / len(labels) + 1e-12
    # the same seed gives the same split as scikit-learn's own, and the scaler is fit on its train part only
    raw_tr, raw_te, _, _ = train_test_split(x, y, test_size=0.25, random_state=5, stratify=y)
    scaler = MinMaxScaler(feature_range=datasets.ANGLE_RANGE).fit(raw_tr)
    np.testing.assert_allclose(x_tr, scaler.transform(raw_tr), atol=1e-12)
    np.testing.assert_allclose(x_te, scaler.transform(raw_te), atol=1e-12)
    np.testing.assert_allclose(x_tr.min(axis=0), -np.pi / 2, atol=1e-12)
    np.testing.assert_allclose(x_tr.max(axis=0), np.pi / 2, atol=1e-12)
    again = datasets.split_and_scale(x, y, test_size=0.25, seed=5)
    np.testing.assert_array_equal(again[0], x_tr)
    other = datasets.split_and_scale(x, y, test_size=0.25, seed=6)
    assert not np.array_equal(other[2], y_tr)


def test_pca_is_fit_on_train_only():
    from sklearn.datasets import load_breast_cancer
    from sklearn.decomposition import PCA
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    x, y = load_breast_cancer(return_X_y=True)
    x_tr, x_te, _, _ = datasets.split_and_scale(x, y, test_size=0.2, seed=0, pca=3)
    raw_tr, raw_te, _, _ = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    standard = StandardScaler().fit(raw_tr)
    pca = PCA(n_components=3, random_state=0).fit(standard.transform(raw_tr))
    minmax = MinMaxScaler(feature_range=datasets.ANGLE_RANGE).fit(pca.transform(standard.transform(raw_tr)))
    np.testing.assert_allclose(x_te, minmax.transform(pca.transform(standard.transform(raw_te))), atol=1e-9)
    assert x_tr.shape == (len(raw_tr), 3)


def test_majority_baseline_and_accuracy():
    assert classifier.majority_baseline(np.array([0, 1, 1, 2]), np.array([1, 0, 1, 1])) == 0.75
    assert classifier.accuracy(np.array([[0.1, 0.9], [2.0, -1.0], [0.0, 1.0]]), np.array([1, 0, 0])) == pytest.approx(
        2 / 3
    )


@pytest.mark.parametrize(
    "overrides, match",
    [
        (
            ["backend=ibm_fake"],
            r"^\+experiment=classifier runs on backend=simulator only .*backend=ibm_fake; "
            r"use backend=simulator$",
        ),
        (["backend=noisy_simulator"], r"backend=noisy_simulator; use backend=simulator$"),
        (["problem=h2"], r"^\+experiment=classifier trains on a data set, not problem=h2; use problem="),
        (["ansatz=hea"], r"^\+experiment=classifier needs ansatz=reupload, not ansatz=hea"),
        (
            ["experiment=vqe", "problem=iris"],
            r"^problem=iris is a data set, .*use \+experiment=classifier problem=iris$",
        ),
        (
            ["experiment=vqe", "problem=tfim", "ansatz=reupload"],
            r"^ansatz=reupload encodes data features, .*use ansatz=hea",
        ),
        (["problem.test_size=1.5"], r"^problem\.test_size=1\.5 is invalid: must be a float in \(0, 1\)"),
        (["problem.features=[0,7]"], r"^problem\.features=\[0,7\] is invalid"),
        (["ansatz.layers=0"], r"^ansatz\.layers=0 is invalid: must be an integer in 1\.\.200000"),
    ],
)
def test_bad_configs_are_refused_in_one_line(overrides, match, compose):
    with pytest.raises(ConfigError, match=match):
        validate(compose("+experiment=classifier", *overrides))


def test_the_objective_hook_refuses_other_backends(tmp_path, monkeypatch, compose):
    monkeypatch.chdir(tmp_path)
    experiment = build_experiment(validate(compose("+experiment=classifier", "ansatz.layers=1")))
    with pytest.raises(BackendError, match=r"backend=simulator only .* not backend=ibm_fake; use backend=simulator$"):
        experiment.objective(SimpleNamespace(name="ibm_fake"), "auto")


def test_too_few_wires_are_refused():
    with pytest.raises(ConfigError, match=r"^ansatz\.wires=2 is too few: .*use ansatz\.wires=4 or null$"):
        classifier.build_model(_ansatz(wires=2), 4, 3)


def test_iris_trains_well_above_the_majority_baseline(tmp_path, capsys, train_in_process):
    import json

    result = train_in_process("+experiment=classifier", "trainer.steps=60", "optimizer.lr=0.1")
    on_disk = json.loads((tmp_path / "result.json").read_text())
    for key in ("train_accuracy", "test_accuracy", "baseline_accuracy", "num_train", "num_test", "loss"):
        assert on_disk[key] == result[key]
    assert (result["num_train"], result["num_test"], result["num_classes"]) == (120, 30, 3)
    assert result["baseline_accuracy"] == pytest.approx(1 / 3)  # the stratified iris split is balanced
    # a 3-class problem: clearly above chance, and near what classical models reach (~0.95)
    assert result["test_accuracy"] >= 0.8 and result["train_accuracy"] >= 0.8
    assert result["exact_energy"] is None
    assert "classifier iris: test accuracy" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param([], id="iris-default"),
        pytest.param(["seed=1", "problem.seed=1"], id="iris-seed1"),
        pytest.param(["seed=2", "problem.seed=2"], id="iris-seed2"),
        pytest.param(["problem=moons", "ansatz.layers=4"], id="moons"),
        pytest.param(["problem=breast_cancer"], id="breast_cancer"),
    ],
)
def test_default_runs_beat_the_baseline_clearly(overrides, train_in_process):
    result = train_in_process("+experiment=classifier", *overrides)
    assert result["test_accuracy"] >= result["baseline_accuracy"] + 0.2
    assert result["test_accuracy"] >= 0.85
