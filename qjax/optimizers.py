"""Optax optimisers and learning-rate schedules from config.

Any Optax alias works by name (``optimizer.name: adam`` → ``optax.adam``); its
config keys other than ``name`` and ``lr`` are passed through as keyword
arguments. The schedule wraps ``optimizer.lr`` as its peak value.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Mapping

import optax

from qjax.errors import ConfigError

__all__ = ["build_schedule", "build_optimizer"]


def _fields(cfg: Any) -> dict:
    if dataclasses.is_dataclass(cfg):
        return dataclasses.asdict(cfg)
    return dict(cfg)


def build_schedule(lr: float, schedule: Mapping | Any, steps: int) -> optax.Schedule | float:
    """A learning rate or Optax schedule: ``constant``, ``cosine``, ``exponential``, ``warmup_cosine``."""
    opts = _fields(schedule)
    name = opts.pop("name", "constant")
    if name == "constant":
        return lr
    if name == "cosine":
        return optax.cosine_decay_schedule(lr, opts.get("decay_steps") or steps, alpha=opts.get("alpha", 0.0))
    if name == "exponential":
        return optax.exponential_decay(lr, transition_steps=opts.get("transition_steps", 1),
                                       decay_rate=opts.get("decay_rate", 0.99),
                                       end_value=opts.get("end_value"))
    if name == "warmup_cosine":
        return optax.warmup_cosine_decay_schedule(
            init_value=opts.get("init_value", 0.0), peak_value=lr, warmup_steps=opts.get("warmup_steps", 10),
            decay_steps=opts.get("decay_steps") or steps, end_value=opts.get("end_value", 0.0))
    raise ConfigError(f"schedule={name} is unknown; choose constant, cosine, exponential or warmup_cosine")


def build_optimizer(optimizer: Mapping | Any, schedule: Mapping | Any, steps: int) -> optax.GradientTransformation:
    """``optax.<optimizer.name>(learning_rate=<schedule>, **other optimizer keys)``."""
    opts = _fields(optimizer)
    name, lr = opts.pop("name"), opts.pop("lr")
    factory = getattr(optax, name, None)
    if factory is None or not callable(factory) or "learning_rate" not in inspect.signature(factory).parameters:
        raise ConfigError(f"optimizer={name} is not an Optax optimiser; use e.g. adam, sgd, adamw, rmsprop")
    try:
        return factory(learning_rate=build_schedule(lr, schedule, steps), **opts)
    except TypeError as exc:
        raise ConfigError(f"optimizer={name}: {exc}; check the optimizer.* keys") from None
