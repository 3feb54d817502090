"""Optimisers and schedules from config against Optax used directly and closed forms."""

import math

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from qjax.errors import ConfigError
from qjax.training.optimizers import build_optimizer, build_schedule


def _trajectory(opt, steps=5):
    params = jnp.array([0.3, -1.2, 2.0])
    state = opt.init(params)
    out = []
    for k in range(steps):
        grads = jnp.sin(params * (k + 1))
        updates, state = opt.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        out.append(np.asarray(params))
    return np.array(out)


@pytest.mark.parametrize(
    "cfg,direct",
    [
        ({"name": "adam", "lr": 0.05, "b1": 0.8}, optax.adam(0.05, b1=0.8)),
        ({"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True}, optax.sgd(0.1, momentum=0.9, nesterov=True)),
        ({"name": "rmsprop", "lr": 0.01, "decay": 0.8}, optax.rmsprop(0.01, decay=0.8)),
    ],
)
def test_optimizer_from_config_is_optax(cfg, direct):
    ours = build_optimizer(cfg, {"name": "constant"}, steps=5)
    np.testing.assert_array_equal(_trajectory(ours), _trajectory(direct))


def test_schedules_follow_their_closed_forms():
    lr, T = 0.2, 50
    cosine = build_schedule(lr, {"name": "cosine", "decay_steps": None, "alpha": 0.0}, steps=T)
    for k in (0, 10, 25, 50):
        assert float(cosine(k)) == pytest.approx(lr * 0.5 * (1 + math.cos(math.pi * k / T)), abs=1e-7)
    exponential = build_schedule(lr, {"name": "exponential", "transition_steps": 10, "decay_rate": 0.5}, steps=T)
    assert float(exponential(20)) == pytest.approx(lr * 0.25)
    warmup = build_schedule(
        lr, {"name": "warmup_cosine", "init_value": 0.0, "warmup_steps": None, "decay_steps": None}, steps=T
    )
    assert float(warmup(0)) == 0.0 and float(warmup(5)) == pytest.approx(lr)  # warm-up = T // 10 = 5 steps
    assert build_schedule(lr, {"name": "constant"}, steps=T) == lr


@pytest.mark.parametrize(
    "opt,schedule,message",
    [
        ({"name": "nosuch", "lr": 0.1}, {"name": "constant"}, r"optimizer=nosuch is not an Optax optimiser"),
        ({"name": "adam", "lr": 0.1, "wobble": 1}, {"name": "constant"}, r"optimizer=adam: .*wobble"),
        ({"name": "adam", "lr": 0.1}, {"name": "zigzag"}, r"schedule=zigzag is unknown"),
    ],
)
def test_bad_optimizer_config_is_a_config_error(opt, schedule, message):
    with pytest.raises(ConfigError, match=message):
        build_optimizer(opt, schedule, steps=10)
