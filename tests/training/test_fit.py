"""qjax.fit and its Orbax checkpoints, on a small analytic objective.

The reference is a plain Optax loop written here, so these tests check the
trainer's bookkeeping (steps, resume, early stop, checkpoint safety), not physics.
"""

import errno
import json
import os
import re
import shutil
import subprocess
import sys
import threading

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from qjax.backends.base import Objective
from qjax.errors import CheckpointError, ParameterShapeError, TrainingDiverged
from qjax.training import checkpoint as checkpointing
from qjax.training.checkpoint import Checkpointer, CheckpointOptions, TrainState
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
        fit(
            _objective(),
            jnp.zeros(3),
            optax.adam(0.05),
            steps=4,
            checkpoint=CheckpointOptions(dir=ck, config_hash="bbb"),
        )


def test_a_checkpoint_with_other_shapes_is_refused_as_another_configuration(tmp_path):
    # its arrays do not fit this run's template: the config hashes, read first, say why
    ck = str(tmp_path / "ck")
    fit(_objective(), jnp.zeros(3), optax.adam(0.05), steps=4, checkpoint=CheckpointOptions(dir=ck, config_hash="p3"))
    loss4 = lambda p: jnp.sum(p**2)  # noqa: E731
    four = Objective(jax.jit(loss4), jax.jit(jax.value_and_grad(loss4)), jax.jit(jax.vmap(loss4)), 4)
    with pytest.raises(CheckpointError, match=r"different configuration \(config hash p3 ≠ p4\)"):
        fit(four, jnp.zeros(4), optax.adam(0.05), steps=4, checkpoint=CheckpointOptions(dir=ck, config_hash="p4"))


def test_resume_never_moves_old_checkpoints_aside(tmp_path):
    ck = str(tmp_path / "ck")
    fit(_objective(), jnp.zeros(3), optax.adam(0.05), steps=4, checkpoint=CheckpointOptions(dir=ck, config_hash="a"))
    out = fit(
        _objective(),
        jnp.zeros(3),
        optax.adam(0.05),
        steps=4,
        checkpoint=CheckpointOptions(dir=ck, config_hash="b", resume="never"),
    )
    assert out.resumed_from is None
    assert any(name.startswith("ck.replaced-") for name in os.listdir(tmp_path))


def test_resume_must_without_checkpoint_fails(tmp_path):
    with pytest.raises(CheckpointError, match="resume=must"):
        fit(
            _objective(),
            jnp.zeros(3),
            optax.adam(0.05),
            steps=4,
            checkpoint=CheckpointOptions(dir=str(tmp_path / "none"), resume="must"),
        )


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


# --- one process per checkpoint directory -----------------------------------------------------------------------

_HOLD_LOCK = """
import sys
from qjax.training.checkpoint import Checkpointer, CheckpointOptions
from qjax.errors import CheckpointError
ck = Checkpointer(CheckpointOptions(dir=sys.argv[1]))
try:
    ck.open()
except CheckpointError as exc:
    print(exc, flush=True)
    sys.exit(2)
print("locked", flush=True)
sys.stdin.read()  # hold the lock until the test closes stdin or kills us
"""


def _lock_holder(directory):
    """A helper process that holds ``directory``'s lock once it has printed ``locked``."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(directory)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


@pytest.mark.timeout(120)
def test_a_held_checkpoint_dir_is_refused_naming_the_holder_and_kill_9_frees_it(tmp_path):
    ck = tmp_path / "ck"
    holder = _lock_holder(ck)
    calls = []
    obj = _objective()._replace(value_and_grad=lambda p: calls.append(1) or jax.value_and_grad(_loss)(p))
    with pytest.raises(CheckpointError, match=rf"in use by process {holder.pid}\b.*checkpoint.dir"):
        fit(obj, jnp.zeros(3), optax.adam(0.05), steps=4, checkpoint=CheckpointOptions(dir=str(ck)))
    assert not calls, "refused before training"
    holder.kill()  # SIGKILL: no cleanup runs, the kernel drops the lock
    holder.wait()
    out = fit(obj, jnp.zeros(3), optax.adam(0.05), steps=4, checkpoint=CheckpointOptions(dir=str(ck)))
    assert out.steps == 4 and (ck / ".lock").read_text().split()[0] == str(os.getpid())


@pytest.mark.timeout(120)
def test_the_lock_is_released_when_fit_ends_even_by_an_error(tmp_path):
    ck = str(tmp_path / "ck")
    fit(_objective(), jnp.zeros(3), optax.adam(0.05), steps=4, checkpoint=CheckpointOptions(dir=ck, config_hash="a"))
    with pytest.raises(CheckpointError, match="different configuration"):
        fit(
            _objective(), jnp.zeros(3), optax.adam(0.05), steps=4, checkpoint=CheckpointOptions(dir=ck, config_hash="b")
        )
    _lock_holder(ck).kill()  # another process can take it: nothing in this one still holds it


@pytest.mark.timeout(120)
def test_resume_never_keeps_the_fresh_directory_locked(tmp_path):
    ck = str(tmp_path / "ck")
    fit(_objective(), jnp.zeros(3), optax.adam(0.05), steps=4, checkpoint=CheckpointOptions(dir=ck, config_hash="a"))
    checkpointer = Checkpointer(CheckpointOptions(dir=ck, config_hash="b", resume="never"))
    template = TrainState(jnp.zeros(3), optax.adam(0.05).init(jnp.zeros(3)), jax.random.PRNGKey(0))
    assert checkpointer.restore(template) is None  # the old folder, and the lock file in it, moved aside
    try:
        other = subprocess.run([sys.executable, "-c", _HOLD_LOCK, ck], capture_output=True, text=True, timeout=60)
        assert other.returncode == 2 and f"in use by process {os.getpid()}" in other.stdout
    finally:
        checkpointer.close()


def test_resume_never_twice_within_a_second_keeps_both_old_directories(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpointing.time, "strftime", lambda fmt: "20260101T000000")
    ck = str(tmp_path / "ck")
    for n, h in enumerate(("a", "b", "c")):
        fit(
            _objective(),
            jnp.zeros(3),
            optax.adam(0.05),
            steps=2 + n,
            checkpoint=CheckpointOptions(dir=ck, config_hash=h, resume="never"),
        )
    aside = sorted(p for p in os.listdir(tmp_path) if p.startswith("ck.replaced-"))
    assert aside == ["ck.replaced-20260101T000000", "ck.replaced-20260101T000000-2"]
    assert [_steps(tmp_path / a) for a in aside] == [[2], [3]]  # each a whole run, none nested in the other


@pytest.mark.timeout(120)
def test_other_processes_of_a_multi_process_run_do_not_lock(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpointing, "_is_lock_holder", lambda: False)  # as on jax.process_index() == 1
    fit(_objective(), jnp.zeros(3), optax.adam(0.05), steps=2, checkpoint=CheckpointOptions(dir=str(tmp_path / "ck")))
    assert not (tmp_path / "ck" / ".lock").exists()


def _steps(directory):
    return sorted(int(d) for d in os.listdir(directory) if d.isdigit())


# --- unusable checkpoint directories and failed saves -----------------------------------------------------------


def _unusable(kind, tmp_path):
    """A checkpoint directory that cannot be written, made the way ``kind`` says."""
    if kind == "regular file":
        (tmp_path / "f").write_text("x")
        return tmp_path / "f"
    if kind == "under a file":
        (tmp_path / "f").write_text("x")
        return tmp_path / "f" / "ck"
    if kind == "symlink loop":
        os.symlink(tmp_path / "loop", tmp_path / "loop")
        return tmp_path / "loop"
    if kind == "immutable":
        (tmp_path / "ck").mkdir()
        if subprocess.run(["chattr", "+i", str(tmp_path / "ck")], capture_output=True).returncode != 0:
            pytest.skip("chattr +i is not available here")
        return tmp_path / "ck"
    if kind == "read-only":
        if os.geteuid() == 0:
            pytest.skip("root writes into a 0o500 directory regardless")
        (tmp_path / "ck").mkdir(mode=0o500)
        return tmp_path / "ck"
    raise ValueError(kind)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["regular file", "under a file", "symlink loop", "immutable", "read-only"])
def test_an_unwritable_checkpoint_dir_is_refused_before_training(tmp_path, kind):
    ck = _unusable(kind, tmp_path)
    calls = []
    obj = _objective()._replace(value_and_grad=lambda p: calls.append(1) or jax.value_and_grad(_loss)(p))
    try:
        with pytest.raises(CheckpointError, match=rf"{re.escape(str(ck))} cannot be written.*checkpoint\.dir"):
            fit(obj, jnp.zeros(3), optax.adam(0.05), steps=4, checkpoint=CheckpointOptions(dir=str(ck)))
    finally:
        subprocess.run(["chattr", "-i", str(tmp_path / "ck")], capture_output=True)
    assert not calls


def _failing_json_saves(monkeypatch, after: int):
    """Orbax's JSON writes (the ``meta`` item) fail with ENOSPC in its background commit thread after ``after``."""
    from orbax.checkpoint._src.handlers.json_checkpoint_handler import JsonCheckpointHandler

    original, seen = JsonCheckpointHandler._save_fn, []

    async def disk_full(self, item, directory):
        seen.append(threading.current_thread() is threading.main_thread())
        if len(seen) > after:
            raise OSError(errno.ENOSPC, "No space left on device")
        return await original(self, item, directory)

    monkeypatch.setattr(JsonCheckpointHandler, "_save_fn", disk_full)
    return seen


@pytest.mark.timeout(120)
def test_a_failed_background_save_is_a_checkpoint_error_and_leaves_no_thread(tmp_path, monkeypatch):
    opts = CheckpointOptions(dir=str(tmp_path / "ck"), every=4, config_hash="abc")
    seen = _failing_json_saves(monkeypatch, after=1)
    with pytest.raises(CheckpointError, match=r"saving a checkpoint in .*No space left on device.*rerun"):
        fit(_objective(), jnp.zeros(3), optax.adam(0.05), steps=20, checkpoint=opts)
    assert seen and not any(seen), "the failure happened in Orbax's background thread"
    assert not [t.name for t in threading.enumerate() if type(t).__module__.startswith("orbax.")]
    assert _steps(opts.dir) == [4]  # the save before the failure stays
    monkeypatch.undo()
    out = fit(_objective(), jnp.zeros(3), optax.adam(0.05), steps=20, checkpoint=opts)  # lock released, resumable
    assert out.resumed_from == 4
    np.testing.assert_allclose(out.params, _reference(20)[0], rtol=1e-6, atol=1e-6)


# --- non-finite training ----------------------------------------------------------------------------------------


def _nan_loss_from(call: int):
    calls = []

    def value_and_grad(p):
        calls.append(1)
        loss, grads = jax.value_and_grad(_loss)(p)
        return (jnp.nan if len(calls) > call else loss), grads

    return _objective()._replace(value_and_grad=value_and_grad)


def _nan_grad_from(call: int):
    calls = []

    def value_and_grad(p):
        calls.append(1)
        loss, grads = jax.value_and_grad(_loss)(p)
        return loss, (grads.at[1].set(jnp.inf) if len(calls) > call else grads)

    return _objective()._replace(value_and_grad=value_and_grad)


@pytest.mark.parametrize(
    "objective,optimizer,quantity,step",
    [
        (_objective, lambda: optax.adam(jnp.inf), "parameters", 0),
        (_objective, lambda: optax.sgd(1e37), "loss", 1),  # finite parameters whose loss overflows float32
        (lambda: _nan_loss_from(7), lambda: optax.adam(0.05), "loss", 7),
        (lambda: _nan_grad_from(5), lambda: optax.adam(0.05), "gradient", 5),
    ],
)
def test_non_finite_training_stops_and_keeps_the_last_good_checkpoint(tmp_path, objective, optimizer, quantity, step):
    opts = CheckpointOptions(dir=str(tmp_path / "ck"), every=3, config_hash="abc")
    rows = []
    with pytest.raises(TrainingDiverged, match=rf"{quantity}.*step {step}") as info:
        fit(objective(), jnp.zeros(3), optimizer(), steps=20, checkpoint=opts, on_metrics=rows.extend)
    assert info.value.step == step and info.value.quantity == quantity
    assert [r["step"] for r in rows] == list(range(step)) and all(np.isfinite(r["loss"]) for r in rows)
    saved = _steps(opts.dir)
    assert saved == [s for s in (3, 6) if s <= step]  # nothing saved at or after the failure
    if saved:
        out = fit(_objective(), jnp.zeros(3), optax.adam(0.05), steps=saved[-1], checkpoint=opts)
        assert out.already_finished is False and out.resumed_from == saved[-1]
        assert np.all(np.isfinite(out.params))


def test_a_non_finite_final_loss_is_not_saved_as_finished(tmp_path):
    opts = CheckpointOptions(dir=str(tmp_path / "ck"), every=3, config_hash="abc")
    obj = _objective()._replace(value=lambda p: jnp.nan)
    with pytest.raises(TrainingDiverged, match="final parameters"):
        fit(obj, jnp.zeros(3), optax.adam(0.05), steps=10, checkpoint=opts)
    assert _steps(opts.dir)[-1] == 9  # the last periodic save; no finished step 10
    out = fit(_objective(), jnp.zeros(3), optax.adam(0.05), steps=10, checkpoint=opts)
    assert out.resumed_from == 9 and not out.already_finished
