"""Experiments: from a validated config to a problem, an ansatz and initial parameters.

This is the only place where config names (``problem=h2``, ``ansatz=ucc``) meet
the library's builders; adding a problem or ansatz is one function and one
registry line.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from qjax import problems, templates
from qjax.circuit import Circuit
from qjax.errors import ConfigError
from qjax.problems import Problem

__all__ = ["Experiment", "build_experiment", "PROBLEMS", "ANSATZE", "EXPERIMENTS"]


class Experiment(NamedTuple):
    """Everything a run trains: ``circuit``, ``problem.observable`` and ``initial_params (P,)``."""

    name: str
    problem: Problem
    circuit: Circuit
    initial_params: jax.Array
    loss_name: str


PROBLEMS: dict[str, Callable[[Any], Problem]] = {
    "h2": lambda c: problems.h2(c.bond_length, c.basis),
    "tfim": lambda c: problems.tfim(c.n, c.J, c.h, c.periodic),
}


def _ucc(cfg, problem: Problem) -> Circuit:
    if problem.electrons is None:
        raise ConfigError(f"ansatz=ucc needs a molecular problem (h2); problem={problem.name} has no electrons. "
                          "Use ansatz=hea")
    return templates.uccsd(problem.num_wires, problem.electrons)


def _hea(cfg, problem: Problem) -> Circuit:
    return templates.hardware_efficient(problem.num_wires, cfg.layers, rotations=tuple(cfg.rotations),
                                        entangler=cfg.entangler)


ANSATZE: dict[str, Callable[[Any, Problem], Circuit]] = {"ucc": _ucc, "hea": _hea}


def _initial_params(cfg, num_params: int, seed: int, dtype) -> jax.Array:
    if cfg.init == "zeros":
        return jnp.zeros(num_params, dtype)
    scale = getattr(cfg, "init_scale", 0.1)
    return scale * jax.random.normal(jax.random.PRNGKey(seed), (num_params,), dtype)


def build_vqe(rc) -> Experiment:
    """VQE: minimise ⟨H⟩ of the configured problem with the configured ansatz."""
    problem = PROBLEMS[rc.problem.name](rc.problem)
    circuit = ANSATZE[rc.ansatz.name](rc.ansatz, problem)
    dtype = jnp.float64 if rc.precision == "double" else jnp.float32
    params = _initial_params(rc.ansatz, circuit.num_params, rc.seed, dtype)
    return Experiment("vqe", problem, circuit, params, "energy")


EXPERIMENTS: dict[str, Callable[[Any], Experiment]] = {"vqe": build_vqe}


def build_experiment(rc) -> Experiment:
    """The :class:`Experiment` named by ``rc.experiment``."""
    try:
        builder = EXPERIMENTS[rc.experiment]
    except KeyError:
        raise ConfigError(f"+experiment={rc.experiment} is unknown; choose one of {', '.join(EXPERIMENTS)}") from None
    return builder(rc)
