"""The CLI end to end: the main job, resume after kill -9 / SIGTERM, and bad input.

Each test runs ``python -m qjax.train`` in a subprocess with its working
directory in a temporary folder, so the default checkpoint root
(``<cwd>/checkpoints``) and the run directories stay inside it.
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import qjax

H2_EXACT = -1.1372702  # Ha, shared/REFERENCES.md (independent PennyLane diagonalisation)
CHEMICAL_ACCURACY = 1.6e-3


def _cmd(*overrides):
    return [sys.executable, "-m", "qjax.train", *overrides]


def _run(cwd, *overrides, timeout=300, env=None):
    return subprocess.run(
        _cmd(*overrides),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=None if env is None else {**os.environ, **env},
    )


def _result(run_dir):
    return json.loads((Path(run_dir) / "result.json").read_text())


def test_main_job_reaches_chemical_accuracy(tmp_path):
    proc = _run(tmp_path, "+experiment=vqe", "hydra.run.dir=run")
    assert proc.returncode == 0, proc.stderr
    run = tmp_path / "run"
    result = _result(run)
    for key in (
        "experiment",
        "backend",
        "steps",
        "wall_time_s",
        "num_jobs",
        "shots_total",
        "final_params",
        "loss",
        "energy",
        "exact_energy",
        "error",
    ):
        assert key in result
    assert abs(result["energy"] - H2_EXACT) < CHEMICAL_ACCURACY
    assert result["exact_energy"] == pytest.approx(H2_EXACT, abs=2e-7)
    assert result["error"] == pytest.approx(result["energy"] - result["exact_energy"])
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == list(range(result["steps"]))
    assert {"step", "loss", "energy", "grad_norm", "wall_time_s", "num_jobs"} <= set(metrics[0])
    manifest = json.loads((run / "manifest.json").read_text())
    for key in (
        "seed",
        "config",
        "config_hash",
        "backend",
        "packages",
        "code_version",
        "circuit",
        "mitigation",
        "checkpoint_dir",
        "job_ids",
    ):
        assert key in manifest
    assert "OPENQASM" in manifest["circuit"]["qasm"]
    assert Path(manifest["checkpoint_dir"]).is_absolute()
    assert Path(manifest["checkpoint_dir"]).parent == tmp_path / "checkpoints"
    assert (run / "convergence.png").stat().st_size > 0
    loaded = qjax.load_run(run)  # the Python API reads back what the CLI wrote
    assert loaded.result == result and loaded.metrics == metrics and loaded.config == manifest["config"]
    assert loaded.final_params.shape == (3,) and loaded.config["problem"]["bond_length"] == 0.7414
    assert "energy" in proc.stdout and "within chemical accuracy" in proc.stdout

    # the same command again: the finished run is reported, not retrained
    again = _run(tmp_path, "+experiment=vqe", "hydra.run.dir=run2")
    assert again.returncode == 0, again.stderr
    assert "already finished" in again.stdout
    assert _result(tmp_path / "run2")["energy"] == result["energy"]


def test_bond_length_1_5(tmp_path):
    cache = tmp_path / "cache"
    proc = _run(
        tmp_path, "+experiment=vqe", "problem.bond_length=1.5", "hydra.run.dir=run", env={"QJAX_CACHE_DIR": str(cache)}
    )
    assert proc.returncode == 0, proc.stderr
    assert any((cache / "jax").iterdir()), "the CLI keeps compiled XLA executables for the next run"
    result = _result(tmp_path / "run")
    assert result["exact_energy"] == pytest.approx(-0.9981494, abs=2e-7)
    assert abs(result["error"]) < CHEMICAL_ACCURACY


def _start(cwd, *overrides):
    """A training process that logs every step (``trainer.log_every`` is outside the config hash)."""
    return subprocess.Popen(
        _cmd(*overrides, "trainer.log_every=1"), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _read_until_step(proc, n):
    """Block on the process's log lines until it reports step ``n`` (Hydra logs to stdout, flushed per line)."""
    for line in proc.stdout:
        if f"step {n:4d}/" in line:
            return
    raise AssertionError(f"training ended before step {n}: {proc.stderr.read()}")


@pytest.mark.parametrize("kill_at", [7, 23])
def test_kill_9_then_rerun_gives_the_same_energy(tmp_path, kill_at):
    common = ["+experiment=vqe", "ansatz=hea", "ansatz.layers=2", "trainer.steps=40", "checkpoint.every=5"]
    reference = _run(tmp_path, *common, "checkpoint.dir=" + str(tmp_path / "ref-ck"), "hydra.run.dir=ref")
    assert reference.returncode == 0, reference.stderr

    victim = _start(tmp_path, *common, "hydra.run.dir=a")
    _read_until_step(victim, kill_at)
    # Orbax commits a step by renaming its temporary folder to the bare step number
    committed = sorted(int(p.name) for p in tmp_path.glob("checkpoints/*/*") if p.name.isdigit())
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    resumed = _run(tmp_path, *common, "hydra.run.dir=b")
    assert resumed.returncode == 0, resumed.stderr
    if committed:  # a save still in flight at the kill may also have landed, so the resume is at least as late
        assert "resuming from step" in resumed.stderr + resumed.stdout
    got, want = _result(tmp_path / "b"), _result(tmp_path / "ref")
    assert abs(got["energy"] - want["energy"]) < 1e-6
    # the new run directory holds every step from 0, not just those after the resume
    steps = [json.loads(line)["step"] for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(40))


def test_sigterm_saves_and_resumes(tmp_path):
    common = ["+experiment=vqe", "ansatz=hea", "trainer.steps=400", "checkpoint.every=1000"]
    proc = _start(tmp_path, *common, "hydra.run.dir=a")
    _read_until_step(proc, 5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM
    assert "rerun the same command to continue" in err and "Traceback" not in err
    resumed = _run(tmp_path, *common, "trainer.steps=10", "hydra.run.dir=b")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from step" in resumed.stderr + resumed.stdout


@pytest.mark.parametrize(
    "override,needle",
    [
        ("trainer.steps=-3", "trainer.steps"),
        ("optimizer.lr=abc", "optimizer.lr"),
        ("checkpoint.every=0", "checkpoint.every"),
        ("checkpoint.resume=sometimes", "checkpoint.resume"),
        ("problem.bond_length=-1", "problem.bond_length"),
        ("precision=quad", "precision"),
        ("gradient=magic", "gradient"),
        ("problem=tfim ansatz=ucc", "ansatz=hea"),  # UCC needs a molecule: the message names the fix
    ],
)
def test_bad_value_is_one_clear_line(tmp_path, override, needle):
    proc = _run(tmp_path, "+experiment=vqe", "trainer.steps=2", *override.split(), "hydra.run.dir=run", timeout=120)
    assert proc.returncode == 2
    assert needle in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "checkpoints").exists(), "refused before anything was written"


@pytest.mark.parametrize(
    "override,needle",
    [("optimizer=nosuchopt", "Available options in 'optimizer'"), ("trainer.nosuchkey=1", "nosuchkey")],
)
def test_unknown_option_or_key_gets_hydras_message(tmp_path, override, needle):
    proc = _run(tmp_path, "+experiment=vqe", override, "hydra.run.dir=run", timeout=120)
    assert proc.returncode != 0
    assert needle in proc.stderr and "Traceback" not in proc.stderr


def test_missing_experiment_says_how_to_choose_one(tmp_path):
    proc = _run(tmp_path, "hydra.run.dir=run", timeout=120)
    assert proc.returncode != 0 and "+experiment=vqe" in proc.stderr and "Traceback" not in proc.stderr


def test_incompatible_checkpoint_is_refused_with_the_fix(tmp_path):
    ck = "checkpoint.dir=" + str(tmp_path / "shared-ck")
    first = _run(tmp_path, "+experiment=vqe", "trainer.steps=3", ck, "hydra.run.dir=a")
    assert first.returncode == 0, first.stderr
    other = _run(tmp_path, "+experiment=vqe", "trainer.steps=3", "optimizer.lr=0.05", ck, "hydra.run.dir=b")
    assert other.returncode != 0
    assert "different configuration" in other.stderr and "checkpoint.resume=never" in other.stderr
    assert "Traceback" not in other.stderr
    fresh = _run(
        tmp_path,
        "+experiment=vqe",
        "trainer.steps=3",
        "optimizer.lr=0.05",
        ck,
        "checkpoint.resume=never",
        "hydra.run.dir=c",
    )
    assert fresh.returncode == 0, fresh.stderr


def test_precision_double_computes_in_complex128(tmp_path):
    # UCC starts at Hartree-Fock (|1100>), so step 0's energy is H's diagonal element there,
    # read here from PennyLane's dense matrix in float64. complex64 would be off by ~1e-7.
    import numpy as np
    import pennylane as qml

    proc = _run(tmp_path, "+experiment=vqe", "precision=double", "trainer.steps=2", "hydra.run.dir=run")
    assert proc.returncode == 0, proc.stderr
    first = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    coords = np.array([0, 0, -0.3707, 0, 0, 0.3707])
    ham, _ = qml.qchem.molecular_hamiltonian(qml.qchem.Molecule(["H", "H"], coords, unit="angstrom"))
    hf_energy = qml.matrix(ham, wire_order=range(4))[0b1100, 0b1100].real
    assert abs(first["energy"] - hf_energy) < 1e-12


def _one_line(stderr):
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1, stderr
    return stderr


@pytest.mark.timeout(300)
def test_the_same_command_twice_at_once_second_is_refused_and_kill_9_leaves_no_stale_lock(tmp_path):
    common = ["+experiment=vqe", "checkpoint.every=100000"]
    first = _start(tmp_path, *common, "trainer.steps=100000")
    try:
        _read_until_step(first, 1)  # training: it holds the checkpoint directory's lock
        second = _run(tmp_path, *common, "trainer.steps=100000", timeout=120)
        assert second.returncode == 2
        assert f"is in use by process {first.pid} " in _one_line(second.stderr)
    finally:
        first.kill()  # SIGKILL: the kernel drops its lock, nothing else cleans up
        first.communicate()
    third = _run(tmp_path, *common, "trainer.steps=3", timeout=120)  # same checkpoint dir (steps are not hashed)
    assert third.returncode == 0, third.stderr
    runs = list(tmp_path.glob("outputs/*/*"))
    assert len(runs) == 3, runs  # each invocation its own run directory, even those started in one second


@pytest.mark.timeout(120)
@pytest.mark.parametrize("where", ["file", "file/below"])
def test_a_checkpoint_dir_that_cannot_be_written_is_one_line_at_once(tmp_path, where):
    (tmp_path / "file").write_text("not a directory")
    ck = tmp_path / where
    proc = _run(tmp_path, "+experiment=vqe", f"checkpoint.dir={ck}", "hydra.run.dir=run", timeout=100)
    assert proc.returncode == 2
    assert f"{ck} cannot be written" in _one_line(proc.stderr) and "checkpoint.dir" in proc.stderr
    assert "step" not in proc.stdout  # refused before training


_DISK_FULL_AFTER_FIRST_SAVE = """
import errno, sys
from orbax.checkpoint._src.handlers.json_checkpoint_handler import JsonCheckpointHandler
original, calls = JsonCheckpointHandler._save_fn, []
async def disk_full(self, item, directory):
    calls.append(1)
    if len(calls) > 1:
        raise OSError(errno.ENOSPC, "No space left on device")
    return await original(self, item, directory)
JsonCheckpointHandler._save_fn = disk_full
from qjax.train import main
sys.argv = ["qjax.train", *sys.argv[1:]]
main()
"""


@pytest.mark.timeout(120)
def test_a_failed_background_save_ends_the_cli_with_one_line(tmp_path):
    ck = tmp_path / "ck"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _DISK_FULL_AFTER_FIRST_SAVE,
            "+experiment=vqe",
            "trainer.steps=40",
            "checkpoint.every=5",
            f"checkpoint.dir={ck}",
            "hydra.run.dir=run",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert proc.returncode == 2  # and it exited: no Orbax thread left waiting
    assert "No space left on device" in _one_line(proc.stderr) and "rerun the same command" in proc.stderr
    assert "Traceback" not in proc.stdout
    assert sorted(p.name for p in ck.iterdir() if p.name.isdigit()) == ["5"]
    resumed = _run(
        tmp_path,
        "+experiment=vqe",
        "trainer.steps=40",
        "checkpoint.every=5",
        f"checkpoint.dir={ck}",
        "hydra.run.dir=again",
        timeout=100,
    )
    assert resumed.returncode == 0 and "resuming from step 5" in resumed.stdout + resumed.stderr


@pytest.mark.timeout(120)
def test_an_infinite_learning_rate_is_refused_at_start_up(tmp_path):
    proc = _run(tmp_path, "+experiment=vqe", "trainer.steps=20", "optimizer.lr=inf", "hydra.run.dir=run", timeout=100)
    assert proc.returncode == 2
    assert _one_line(proc.stderr).startswith("qjax: error: optimizer.lr=inf is invalid")
    assert not (tmp_path / "run" / "result.json").exists()


@pytest.mark.timeout(120)
def test_a_diverging_run_exits_2_naming_the_learning_rate_and_writes_no_result(tmp_path, monkeypatch, capsys):
    # validation refuses lr=inf, so the optimiser itself is swapped for one that overflows
    import optax
    from hydra import compose, initialize_config_module

    from qjax import train

    monkeypatch.setattr("qjax.training.optimizers.build_optimizer", lambda *args: optax.sgd(float("inf")))
    monkeypatch.chdir(tmp_path)
    with initialize_config_module(config_module="qjax.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=["+experiment=vqe", "trainer.steps=20"])
    with pytest.raises(SystemExit) as stopped:
        train.exit_on_user_errors(train.run, cfg)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "diverged" in _one_line(err) and "optimizer.lr (now" in err
    assert not (tmp_path / "result.json").exists()


@pytest.mark.timeout(120)
def test_a_checkpoint_with_other_parameter_counts_names_both_config_hashes(tmp_path):
    ck = "checkpoint.dir=" + str(tmp_path / "shared-ck")
    first = _run(tmp_path, "+experiment=vqe", "ansatz=hea", "ansatz.layers=1", "trainer.steps=2", ck, "hydra.run.dir=a")
    assert first.returncode == 0, first.stderr
    other = _run(tmp_path, "+experiment=vqe", "ansatz=hea", "ansatz.layers=2", "trainer.steps=2", ck, "hydra.run.dir=b")
    assert other.returncode == 2
    hashes = [json.loads((tmp_path / d / "manifest.json").read_text())["config_hash"] for d in "ab"]
    assert f"different configuration (config hash {hashes[0]} ≠ {hashes[1]})" in _one_line(other.stderr)


@pytest.mark.timeout(120)
def test_a_corrupt_newest_checkpoint_resumes_from_the_previous_one_quietly(tmp_path):
    common = ["+experiment=vqe", "trainer.steps=20", "checkpoint.every=10", "checkpoint.dir=" + str(tmp_path / "ck")]
    assert _run(tmp_path, *common, "hydra.run.dir=a", timeout=100).returncode == 0
    # array metadata unreadable: Orbax fails that read while the step's other reads are still in flight
    (tmp_path / "ck" / "20" / "state" / "array_metadatas" / "process_0").write_text("")
    proc = _run(tmp_path, *common, "hydra.run.dir=b", timeout=100)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout + proc.stderr
    assert "unreadable" in out and "resuming from step 10" in out
    assert "Traceback" not in out and "Event loop is closed" not in out
