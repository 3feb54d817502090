"""qjax.fit and its Orbax checkpoints, on a small analytic objective.

The reference is a plain Optax loop written here, so these tests check the
trainer's bookkeeping (steps, resume, early stop, checkpoint safety), not physics.
"""

import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from qjax.backends.base import Objective
from qjax.training.checkpoint import CheckpointOptions
from qjax.errors import CheckpointError, ParameterShapeError
from qjax.training.fit import fit

TARGET = jnp.array([0.3, -1.2, 2.0])


def _loss(p):
    return jnp.sum((p - TARGET) ** 2) + 0.1 * jnp.sum(jnp.sin(3 * p))


def _objective():
    return Objective(jax.jit(_loss), jax.jit(jax.value_and_grad(_loss)), jax.jit(jax.vmap(_loss)), 3)


def _reference(steps, lr=0.05):
    opt = optax.adam(lr)
    p = jnp.zeros(3)
    s = opt.init(p)
    losses = []
    for _ in range(steps):
        loss, g = jax.value_and_grad(_loss)(p)
        losses.append(float(loss))
        u, s = opt.update(g, s, p)
        p = optax.apply_updates(p, u)
    return p, losses


def test_fit_matches_plain_optax_loop():
    out = fit(_objective(), jnp.zeros(3), optax.adam(0.05), steps=40)
    ref_p, ref_losses = _reference(40)
    # same float32 operations in the same order: agreement to rounding
    np.testing.assert_allclose(out.params, ref_p, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose([r["loss"] for r in out.metrics], ref_losses, rtol=1e-6)
    assert out.steps == 40 and len(out.metrics) == 40
    assert [r["step"] for r in out.metrics] == list(range(40))
    assert out.loss == pytest.approx(float(_loss(ref_p)), rel=1e-6)


def test_training_traces_once():
    # a Python side effect runs only while JAX traces: one trace of the objective and
    # of the optimiser update for all steps
    traces = []

    def counted(p):
        traces.append(1)
        return _loss(p)

    adam = optax.adam(0.05)
    updates = []

    def counted_update(grads, state, params=None):
        updates.append(1)
        return adam.update(grads, state, params)

    objective = Objective(jax.jit(_loss), jax.jit(jax.value_and_grad(counted)), jax.jit(jax.vmap(_loss)), 3)
    fit(objective, jnp.zeros(3), optax.GradientTransformation(adam.init, counted_update), steps=25)
    assert len(traces) == 1 and len(updates) == 1


def test_wrong_initial_shape_is_refused():
    with pytest.raises(ParameterShapeError, match=r"\(3,\)"):
        fit(_objective(), jnp.zeros(4), optax.adam(0.1), steps=2)


def test_early_stop_with_tol():
    out = fit(_objective(), jnp.zeros(3), optax.adam(0.05), steps=2000, tol=1e-7, patience=3)
    assert out.converged and out.steps < 2000


def test_resume_continues_exactly(tmp_path):
    opts = CheckpointOptions(dir=str(tmp_path / "ck"), every=5, keep=2, config_hash="abc")
    first = fit(_objective(), jnp.zeros(3), optax.adam(0.05), steps=12, checkpoint=opts)
    assert first.resumed_from is None
    # more steps than before: resumes from the final checkpoint at step 12
    second = fit(_objective(), jnp.zeros(3), optax.adam(0.05), steps=30, checkpoint=opts)
    assert second.resumed_from == 12 and second.steps == 30
    ref_p, ref_losses = _reference(30)
    np.testing.assert_allclose(second.params, ref_p, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose([r["loss"] for r in second.metrics], ref_losses, rtol=1e-6)
    # keep=2: only the two newest step folders stay
    steps = sorted(int(d) for d in os.listdir(opts.dir) if d.isdigit())
    assert steps[-1] == 30 and len(steps) == 2


def test_finished_run_is_not_trained_again(tmp_path):
    opts = CheckpointOptions(dir=str(tmp_path / "ck"), every=3, config_hash="abc")
    first = fit(_objective(), jnp.zeros(3), optax.adam(0.05), steps=10, checkpoint=opts)
    calls = []

    def counting(p):
        calls.append(1)
        return jax.value_and_grad(_loss)(p)

    obj = _objective()._replace(value_and_grad=counting, value=lambda p: calls.append(1) or _loss(p))
    again = fit(obj, jnp.zeros(3), optax.adam(0.05), steps=10, checkpoint=opts)
    assert again.already_finished and not calls
    assert again.loss == first.loss
    np.testing.assert_array_equal(again.params, first.params)


def test_incompatible_checkpoint_is_refused(tmp_path):
    ck = str(tmp_path / "ck")
    fit(_objective(), jnp.zeros(3), optax.adam(0.05), steps=4, checkpoint=CheckpointOptions(dir=ck, config_hash="aaa"))
    with pytest.raises(CheckpointError, match="different configuration.*resume=never"):
        fit(_objective(), jnp.zeros(3), optax.adam(0.05), steps=4, checkpoint=CheckpointOptions(dir=ck, config_hash="bbb"))


def test_resume_never_moves_old_checkpoints_aside(tmp_path):
    ck = str(tmp_path / "ck")
    fit(_objective(), jnp.zeros(3), optax.adam(0.05), steps=4, checkpoint=CheckpointOptions(dir=ck, config_hash="a"))
    out = fit(_objective(), jnp.zeros(3), optax.adam(0.05), steps=4,
              checkpoint=CheckpointOptions(dir=ck, config_hash="b", resume="never"))
    assert out.resumed_from is None
    assert any(name.startswith("ck.replaced-") for name in os.listdir(tmp_path))


def test_resume_must_without_checkpoint_fails(tmp_path):
    with pytest.raises(CheckpointError, match="resume=must"):
        fit(_objective(), jnp.zeros(3), optax.adam(0.05), steps=4,
            checkpoint=CheckpointOptions(dir=str(tmp_path / "none"), resume="must"))


def test_corrupt_latest_checkpoint_falls_back(tmp_path, caplog):
    opts = CheckpointOptions(dir=str(tmp_path / "ck"), every=4, keep=3, config_hash="abc")
    fit(_objective(), jnp.zeros(3), optax.adam(0.05), steps=10, checkpoint=opts)
    # simulate a half-written newest step: its array data is gone
    shutil.rmtree(os.path.join(opts.dir, "10", "state"))
    with caplog.at_level("WARNING", logger="qjax"):
        out = fit(_objective(), jnp.zeros(3), optax.adam(0.05), steps=10, checkpoint=opts)
    assert out.resumed_from == 8
    assert "unreadable" in caplog.text
    ref_p, _ = _reference(10)
    np.testing.assert_allclose(out.params, ref_p, rtol=1e-6, atol=1e-6)


def test_all_checkpoints_corrupt_is_a_clear_error(tmp_path):
    opts = CheckpointOptions(dir=str(tmp_path / "ck"), every=4, keep=2, config_hash="abc")
    fit(_objective(), jnp.zeros(3), optax.adam(0.05), steps=8, checkpoint=opts)
    for step in ("4", "8"):
        with open(os.path.join(opts.dir, step, "meta", "metadata"), "w") as fh:
            fh.write("{not json")
    with pytest.raises(CheckpointError, match="no readable checkpoint"):
        fit(_objective(), jnp.zeros(3), optax.adam(0.05), steps=8, checkpoint=opts)


def test_relative_checkpoint_dir_is_refused():
    with pytest.raises(CheckpointError, match="absolute"):
        CheckpointOptions(dir="relative/path")


def test_metrics_callback_gets_restored_rows_first(tmp_path):
    opts = CheckpointOptions(dir=str(tmp_path / "ck"), every=2, config_hash="abc")
    fit(_objective(), jnp.zeros(3), optax.adam(0.05), steps=4, checkpoint=opts)
    seen = []
    fit(_objective(), jnp.zeros(3), optax.adam(0.05), steps=6, checkpoint=opts, on_metrics=seen.extend)
    assert [r["step"] for r in seen] == list(range(6))
    json.dumps(seen)  # rows are plain JSON
