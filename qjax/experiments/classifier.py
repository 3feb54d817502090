"""A data re-uploading quantum classifier: the circuit, its loss and accuracy (data sets: :mod:`qjax.problems.datasets`).

The model (Pérez-Salinas et al., Quantum 4, 226 (2020)): ``layers`` blocks, each
one encoding the features as rotation angles (``encoding(w[l, k] * x[k mod F])`` on
wire ``k``, ``w`` trainable and initialised to 1), then trainable rotations on every
wire and a CNOT entangler. With ``reupload=False`` the features are encoded once,
before the first block (plain angle encoding). Class ``c``'s logit is
``scale * <Z_c>``, ``scale`` trainable; the loss is the mean softmax cross-entropy
over the training set, one ``jax.vmap`` of the compiled ``expval`` over the samples.

The circuit IR only holds linear angle maps, so the trainable feature weights are
applied outside it: the circuit reads one :func:`~qjax.ir.circuit.Input` per encoding
gate, fed with ``w * x``. The model's parameter vector is
``[circuit params (P,), feature weights (L_enc * n,), scale]``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from qjax.backends.base import Objective
from qjax.errors import ConfigError
from qjax.ir.circuit import Circuit, Input, Operation, Param
from qjax.ir.pauli import PauliSum

__all__ = [
    "reupload_circuit",
    "ReuploadModel",
    "build_model",
    "readout_observables",
    "initial_params",
    "cross_entropy",
    "accuracy",
    "majority_baseline",
    "classifier_objective",
]


def reupload_circuit(
    num_wires: int,
    layers: int,
    *,
    reupload: bool = True,
    encoding: str = "RY",
    rotations=("RY", "RZ"),
    entangler: str = "ring",
) -> Circuit:
    """The classifier's circuit: ``layers`` × (encoding, trainable rotations, CNOT entangler).

    The encoding gate on wire ``k`` of layer ``l`` reads ``Input(l * num_wires + k)`` (only
    layer 0 encodes when ``reupload`` is false). Trainable rotation ``r`` of layer ``l`` on
    wire ``k`` is ``Param((l * len(rotations) + r) * num_wires + k)``. Entangler: ``CNOT(k, k+1)``
    (``chain``), plus ``CNOT(n-1, 0)`` for ``ring`` when ``n ≥ 3``.
    """
    n = num_wires
    pairs = [(k, k + 1) for k in range(n - 1)] + ([(n - 1, 0)] if entangler == "ring" and n >= 3 else [])
    ops, p, i = [], 0, 0
    for layer in range(layers):
        if reupload or layer == 0:
            ops += [Operation(encoding, (k,), (Input(i + k),)) for k in range(n)]
            i += n
        for gate in rotations:
            ops += [Operation(gate, (k,), (Param(p + k),)) for k in range(n)]
            p += n
        ops += [Operation("CNOT", pair) for pair in pairs]
    return Circuit(n, tuple(ops), num_params=p, num_inputs=i)


def readout_observables(num_classes: int, num_wires: int) -> list[PauliSum]:
    """``Z_c`` for each class ``c`` (one wire per class; 2 classes read wires 0 and 1)."""
    return [PauliSum(f"Z{c}", num_wires) for c in range(num_classes)]


class ReuploadModel(NamedTuple):
    """The classifier's layout: ``circuit`` with ``circuit.num_params`` angles and ``encodings × num_wires`` inputs.

    Model params ``(num_params,)`` = ``[circuit params, feature weights (encodings, num_wires), scale]``.
    """

    circuit: Circuit
    num_features: int
    num_classes: int
    encodings: int

    @property
    def num_wires(self) -> int:
        return self.circuit.num_wires

    @property
    def num_params(self) -> int:
        return self.circuit.num_params + self.encodings * self.num_wires + 1

    def circuit_inputs(self, params: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``params (num_params,)``, one sample ``x (F,)`` → circuit params ``(P,)`` and inputs ``(encodings·n,)``."""
        P, n = self.circuit.num_params, self.num_wires
        weights = params[P : P + self.encodings * n].reshape(self.encodings, n)
        per_wire = x[np.arange(n) % self.num_features]  # wire k encodes feature k mod F
        return params[:P], (weights * per_wire).reshape(-1)

    def logits(self, expval: Callable, params: jax.Array, x: jax.Array) -> jax.Array:
        """Class logits ``(C,)`` = ``scale * <Z_c>`` of one sample ``x (F,)``; ``expval`` from :func:`qjax.compile`."""
        theta, inputs = self.circuit_inputs(params, x)
        return params[-1] * expval(theta, inputs)


def build_model(cfg, num_features: int, num_classes: int) -> ReuploadModel:
    """The model of an ``ansatz=reupload`` config for a data set with these features and classes."""
    needed = max(num_features, num_classes)
    wires = needed if cfg.wires is None else cfg.wires
    if wires < needed:
        raise ConfigError(
            f"ansatz.wires={wires} is too few: this data set has {num_features} features and "
            f"{num_classes} classes (one readout wire each); use ansatz.wires={needed} or null"
        )
    circuit = reupload_circuit(
        wires,
        cfg.layers,
        reupload=cfg.reupload,
        encoding=cfg.encoding,
        rotations=tuple(cfg.rotations),
        entangler=cfg.entangler,
    )
    return ReuploadModel(circuit, num_features, num_classes, cfg.layers if cfg.reupload else 1)


def initial_params(model: ReuploadModel, cfg, seed: int, dtype) -> jax.Array:
    """Circuit angles ``N(0, init_scale²)`` (zeros with ``init: zeros``), feature weights 1, ``scale = logit_scale``."""
    P = model.circuit.num_params
    # drawn in float32 whatever the precision, so precision=double starts where single does
    theta = (
        jnp.zeros(P)
        if cfg.init == "zeros"
        else cfg.init_scale * jax.random.normal(jax.random.PRNGKey(seed), (P,), jnp.float32)
    )
    weights = jnp.ones(model.encodings * model.num_wires)
    return jnp.concatenate([theta, weights, jnp.array([cfg.logit_scale])]).astype(dtype)


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy of ``logits (N, C)`` against integer ``labels (N,)``."""
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(log_probs, labels[:, None], axis=-1))


def accuracy(logits, labels) -> float:
    """Fraction of ``argmax(logits (N, C))`` equal to ``labels (N,)``."""
    return float(np.mean(np.argmax(np.asarray(logits), axis=-1) == np.asarray(labels)))


def majority_baseline(y_train: np.ndarray, y_test: np.ndarray) -> float:
    """Test accuracy of always predicting the most frequent training class."""
    return float(np.mean(np.asarray(y_test) == np.bincount(y_train).argmax()))


class ClassifierFunctions(NamedTuple):
    """``objective`` for the trainer, ``logits(params, x (N, F)) -> (N, C)`` for any batch (both jit-ed once)."""

    objective: Objective
    logits: Callable[[jax.Array, jax.Array], jax.Array]


def classifier_objective(expval: Callable, model: ReuploadModel, x_train, y_train) -> ClassifierFunctions:
    """The mean cross-entropy over ``(x_train (N, F), y_train (N,))`` as an :class:`Objective`.

    ``expval(theta, inputs) -> (C,)`` is the compiled readout of ``model.circuit``. The
    batch is one ``jax.vmap`` over the samples; each function is ``jax.jit``-ed once here,
    with the training data as constants, so a step with new params does not retrace.
    """
    dtype = jnp.result_type(float)  # float64 under x64 (precision=double), else float32
    x = jnp.asarray(x_train, dtype)
    y = jnp.asarray(y_train, jnp.int32)
    batch_logits = jax.vmap(lambda params, sample: model.logits(expval, params, sample), in_axes=(None, 0))

    def loss(params):
        return cross_entropy(batch_logits(params, x), y)

    objective = Objective(
        value=jax.jit(loss),
        value_and_grad=jax.jit(jax.value_and_grad(loss)),
        values=jax.jit(jax.vmap(loss)),
        num_params=model.num_params,
    )
    return ClassifierFunctions(objective, jax.jit(batch_logits))
