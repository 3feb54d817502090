"""The config hash against its frozen baseline (DESIGN.md, "Config hash"), and checkpoints from before it.

A key added later (with its old-behaviour value in ``config_baseline.ADDED``) leaves hashes alone; a
changed default changes them; keys that do not change the result never count. A checkpoint written by
the code from before the baseline rule (``fixtures/legacy_checkpoint``, carrying the legacy hash in its
directory name and metadata) is still found and accepted.
"""

import dataclasses
import shutil
from pathlib import Path

import jax
import pytest

import qjax.config as config
from qjax.config import HASH_EXCLUDED, config_hash, legacy_config_hash, validate
from qjax.config_baseline import ADDED, BASELINE
from qjax.errors import CheckpointError
from qjax.schemas import FIXED_GROUPS, SCHEMAS, AdamConfig, ZNEMitigationConfig, ZNESettings, _opt

FIXTURE = Path(__file__).parent / "fixtures" / "legacy_checkpoint"
#: The run that wrote the fixture (with checkpoint.root=<its copy>), and the hash the old code gave it.
LEGACY_RUN = (
    "+experiment=vqe",
    "problem=tfim",
    "problem.n=2",
    "ansatz=hea",
    "ansatz.layers=1",
    "trainer.steps=2",
    "checkpoint.every=1",
)
LEGACY_HASH = "9782c76f422085d4"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def _hashes(compose, *overrides):
    run = validate(compose("+experiment=vqe", *overrides))
    return config_hash(run), legacy_config_hash(run)


def test_every_hashed_key_of_today_has_a_baseline_entry():
    """Each option's fields (but ``name`` and excluded keys) are in BASELINE, so nothing counts by accident."""

    def fields(cls, prefix=""):
        for f in dataclasses.fields(cls):
            if dataclasses.is_dataclass(f.type):
                yield from fields(f.type, f"{prefix}{f.name}.")
            elif f.name != "name":
                yield prefix + f.name

    for group, options in SCHEMAS.items():
        if group in config.OPTIONAL_SECTIONS:
            continue
        for name, cls in options.items():
            hashed = {k for k in fields(cls) if f"{group}.{k}" not in HASH_EXCLUDED}
            key = f"{group}.{name}"  # options added after the freeze (e.g. mitigation=rem) have no BASELINE entry
            assert hashed == set(BASELINE.get(key, {})) | set(ADDED.get(key, {})), (group, name)
    for group, cls in FIXED_GROUPS.items():
        if group not in HASH_EXCLUDED:
            assert {k for k in fields(cls) if f"{group}.{k}" not in HASH_EXCLUDED} == set(BASELINE[group])


def test_legacy_hash_is_the_old_one(compose):
    assert legacy_config_hash(validate(compose(*LEGACY_RUN))) == LEGACY_HASH


@dataclasses.dataclass(frozen=True)
class _AdamWithNewKey(AdamConfig):
    """adam as if a key ``clip`` had been added later (0 = no clipping, the old behaviour)."""

    clip: float = _opt(0.0, "a float ≥ 0")


def test_adding_a_key_with_its_old_behaviour_value_keeps_the_hash(compose, monkeypatch):
    before = _hashes(compose)
    monkeypatch.setitem(SCHEMAS["optimizer"], "adam", _AdamWithNewKey)
    monkeypatch.setitem(ADDED, "optimizer.adam", {"clip": 0.0})
    assert _hashes(compose) == before  # new and legacy hash alike: old checkpoints are still found
    assert _hashes(compose, "+optimizer.clip=0") == before
    changed = _hashes(compose, "+optimizer.clip=1.5")
    assert changed[0] != before[0] and changed[1] != before[1]  # a new behaviour never resumes an old run


def test_a_new_key_without_a_baseline_entry_changes_the_hash(compose, monkeypatch):
    """Why ADDED exists: without the entry the new key counts, and every checkpoint is orphaned."""
    before = _hashes(compose)
    monkeypatch.setitem(SCHEMAS["optimizer"], "adam", _AdamWithNewKey)
    assert _hashes(compose)[0] != before[0]


@dataclasses.dataclass(frozen=True)
class _ZNEWithNewDefault(ZNEMitigationConfig):
    """mitigation=zne as if its default extrapolator had changed (exponential → linear)."""

    zne: ZNESettings = dataclasses.field(default_factory=lambda: ZNESettings(extrapolator="linear"))


def test_changing_a_default_changes_the_hash(compose, monkeypatch):
    # the YAML sets the extrapolator, so drop it there to see the schema's default
    overrides = ("backend=noisy_simulator", "mitigation=zne", "~mitigation.zne.extrapolator")
    before = _hashes(compose, *overrides)
    monkeypatch.setitem(SCHEMAS["mitigation"], "zne", _ZNEWithNewDefault)
    assert _hashes(compose, *overrides)[0] != before[0]
    # the same value set by hand is the same run, whichever default it came from
    assert _hashes(compose, *overrides[:2], "mitigation.zne.extrapolator=linear")[0] == _hashes(compose, *overrides)[0]


def test_changing_a_yaml_default_changes_the_hash(compose):
    """A default changed in conf/ (here optimizer.lr 0.1 → 0.05) is a changed effective value."""
    assert _hashes(compose, "optimizer.lr=0.05")[0] != _hashes(compose)[0]


@pytest.mark.parametrize(
    "change",
    [
        "trainer.steps=500",
        "trainer.log_every=1",
        "checkpoint.every=1",
        "checkpoint.keep=9",
        "checkpoint.resume=never",
        "checkpoint.dir=/tmp/elsewhere",
        "checkpoint.root=/tmp/root",
        "+logger.name=csv",
        "+logger.name=mlflow",
        "budget.max_jobs=3",
        "budget.max_shots=1000",
        "backend.max_qubits=20",
        "backend.max_operations=100",
    ],
)
def test_excluded_keys_do_not_change_the_hash(compose, change):
    assert _hashes(compose, change)[0] == _hashes(compose)[0]


def test_execution_keys_stay_out(compose):
    # backend.execution_mode (job | batch | session) and backend.devices (shards of one state) never change a result
    before = _hashes(compose)
    assert _hashes(compose, "backend.execution_mode=session", "backend.devices=4") == before


def _legacy_copy(tmp_path) -> Path:
    root = tmp_path / "ck"
    shutil.copytree(FIXTURE, root)
    return root


def test_default_dir_falls_back_to_the_legacy_one(compose, tmp_path):
    root = _legacy_copy(tmp_path)
    run = validate(compose(*LEGACY_RUN, f"checkpoint.root={root}"))
    assert run.checkpoint.dir == str(root / f"vqe-tfim-{LEGACY_HASH}")
    assert config_hash(run) != LEGACY_HASH
    # without a legacy directory (or once the new one exists) the new hash names it
    fresh = validate(compose(*LEGACY_RUN, f"checkpoint.root={tmp_path / 'fresh'}"))
    assert fresh.checkpoint.dir == str(tmp_path / "fresh" / f"vqe-tfim-{config_hash(run)}")
    (root / f"vqe-tfim-{config_hash(run)}").mkdir()
    assert config.default_checkpoint_dir(run) == str(root / f"vqe-tfim-{config_hash(run)}")


def _restore(run, **hashes):
    from qjax.experiments.build import build_experiment
    from qjax.training.checkpoint import Checkpointer, CheckpointOptions, TrainState
    from qjax.training.optimizers import build_optimizer

    params = build_experiment(run).initial_params
    optimizer = build_optimizer(run.optimizer, run.schedule, run.trainer.steps)
    template = TrainState(params, optimizer.init(params), jax.random.PRNGKey(run.seed))
    checkpointer = Checkpointer(CheckpointOptions(dir=run.checkpoint.dir, every=1, **hashes))
    try:
        return checkpointer.restore(template)
    finally:
        checkpointer.close()


def test_legacy_checkpoint_is_accepted_with_the_legacy_hash(compose, tmp_path):
    run = validate(compose(*LEGACY_RUN, f"checkpoint.root={_legacy_copy(tmp_path)}"))
    with pytest.raises(CheckpointError, match=r"different configuration \(config hash 9782c76f422085d4 ≠ "):
        _restore(run, config_hash=config_hash(run))
    state, meta = _restore(run, config_hash=config_hash(run), accepted_hashes=(legacy_config_hash(run),))
    assert meta["step"] == 2 and meta["finished"] and state.params.shape == (4,)


def test_cli_run_finds_the_legacy_checkpoint(cli, tmp_path):
    root = _legacy_copy(tmp_path)
    proc = cli(tmp_path, *LEGACY_RUN, f"checkpoint.root={root}")
    assert proc.returncode == 0, proc.stderr
    assert "already finished at step 2" in proc.stdout + proc.stderr
