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
from qjax.schemas import SCHEMAS

__all__ = ["build_schedule", "build_optimizer"]


def _fields(cfg: Any) -> dict:
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return dataclasses.asdict(cfg)
    return dict(cfg)


# schedule name → (Optax factory, the keyword that takes optimizer.lr)
SCHEDULES = {
    "cosine": (optax.cosine_decay_schedule, "init_value"),
    "exponential": (optax.exponential_decay, "init_value"),
    "warmup_cosine": (optax.warmup_cosine_decay_schedule, "peak_value"),
}


def build_schedule(lr: float, schedule: Mapping | Any, steps: int) -> optax.Schedule | float:
    """``lr`` itself (``constant``) or an Optax schedule peaking at ``lr``.

    The schedule's config keys other than ``name`` are the Optax factory's keyword
    arguments, with null run lengths filled by :meth:`ScheduleConfig.for_run`.
    """
    opts = _fields(schedule)
    name = opts.get("name", "constant")
    if name == "constant":
        return lr
    if name not in SCHEDULES:
        raise ConfigError(f"schedule={name} is unknown; choose constant, {', '.join(SCHEDULES)}")
    factory, lr_keyword = SCHEDULES[name]
    try:
        opts = _fields(SCHEMAS["schedule"][name](**opts).for_run(steps))
        opts.pop("name")
        return factory(**{lr_keyword: lr}, **opts)
    except TypeError as exc:
        raise ConfigError(f"schedule={name}: {exc}; check the schedule.* keys") from None


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
