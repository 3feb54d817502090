"""Sharded runs end to end: the CLI with ``backend.devices=4`` on forced CPU devices, two OS
processes joined by ``jax.distributed`` (gloo), and the refusals (one line, never a hang).

Every case starts fresh interpreters (the device count and the distributed job are fixed when
JAX starts). References: the unsharded run of the same config in this process, and the
unsharded ``qjax.compile`` (checked against PennyLane in tests/sim/test_compile.py).
"""

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from oracles import qiskit_state, random_pauli_terms, random_problem

import qjax

ROOT = Path(__file__).resolve().parents[2]
VQE = ["+experiment=vqe", "ansatz=hea", "trainer.steps=15", "checkpoint.every=100", "precision=double"]


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QJAX_COORDINATOR", "QJAX_PROCESS", "QJAX_NUM"))}
    return {**env, "JAX_PLATFORMS": "cpu", "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]), **extra}


def test_cli_training_on_4_devices_ends_at_the_unsharded_energy(tmp_path, cli, train_in_process):
    want = train_in_process(*VQE, f"checkpoint.root={tmp_path / 'ref'}")
    env = _env(XLA_FLAGS="--xla_force_host_platform_device_count=4")
    proc = cli(
        tmp_path, *VQE, "backend.devices=4", "hydra.run.dir=sharded", f"checkpoint.root={tmp_path / 's'}", env=env
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "sharded" / "result.json").read_text())
    manifest = json.loads((tmp_path / "sharded" / "manifest.json").read_text())
    assert manifest["backend"]["devices"] == 4 and len(manifest["backend"]["global_wires"]) == 2
    # 15 Adam steps in float64 from the same start agree to rounding. (Not with H2's UCC ansatz: its
    # singles have zero gradient at the start, and Adam's g / (sqrt(v) + eps) turns rounding-level
    # gradients, 1e-17 on one device and exactly 0 sharded, into different ±lr moves.)
    assert abs(result["energy"] - want["energy"]) < 1e-9, (result["energy"], want["energy"])


def test_bad_device_counts_and_backends_get_one_line(tmp_path, cli):
    env = _env(XLA_FLAGS="--xla_force_host_platform_device_count=4")
    cases = {
        "backend.devices=3": "power of two",
        "backend.devices=8": "JAX sees 4 device",
        # H2 has 4 wires: 4 devices leave 2 local wires for its 2-wire gates, 16 would leave none
        "backend.devices=16": "devices",
    }
    for override, words in cases.items():
        proc = cli(tmp_path, *VQE, override, "trainer.steps=1", env=env, timeout=120)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode != 0 and len(lines) == 1 and words in lines[0], (override, proc.stderr[-2000:])
    proc = cli(tmp_path, *VQE, "backend=noisy_simulator", "+backend.devices=2", env=env, timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 1 and "devices" in lines[0], proc.stderr[-2000:]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_process_count_mismatch_fails_with_one_line_not_a_hang(tmp_path, cli):
    port = _free_port()
    env = _env(
        QJAX_COORDINATOR=f"127.0.0.1:{port}",
        QJAX_NUM_PROCESSES="2",
        QJAX_PROCESS_ID="0",
        QJAX_DISTRIBUTED_TIMEOUT_S="5",
    )
    proc = cli(tmp_path, *VQE, env=env, timeout=120)  # the second process never comes
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 1, proc.stderr[-3000:]
    assert f"127.0.0.1:{port}" in lines[0] and "2 processes" in lines[0], lines[0]


TWO_PROCESS = textwrap.dedent(
    """
    import sys
    import numpy as np
    from qjax.cli.distributed import start_distributed
    start_distributed()
    import jax, jax.numpy as jnp
    from jax.experimental import multihost_utils
    import qjax
    from oracles import random_pauli_terms, random_problem
    assert jax.process_count() == 2 and len(jax.devices()) == 2
    n = 6
    rng, ops, circuit, p, x = random_problem(5, n, extra=4)
    obs = qjax.PauliSum(random_pauli_terms(rng, n, 6) + [(0.5, {0: "X"})], n)
    p, x = jnp.asarray(p, jnp.float32), jnp.asarray(x, jnp.float32)
    from qjax.sim import shard_schedule
    shard_schedule._CHUNK_MIN = 1  # the adjoint's passes and swaps slice by slice (ppermutes inside loops, over gloo)
    c = qjax.compile(circuit, obs, gradient="adjoint", mesh=jax.devices())
    e, g = jax.jit(jax.value_and_grad(c.expval))(p, x)
    psi = jax.jit(c.state)(p, x)
    local = [s.data.shape for s in psi.addressable_shards]
    assert local == [(2 ** (n - 1),)], local  # each process holds half the state
    full = multihost_utils.process_allgather(psi, tiled=True)
    if jax.process_index() == 0:
        np.save(sys.argv[1], np.concatenate([[e], np.asarray(g), np.asarray(full).view(np.float32)]))
    print("OK", jax.process_index())
    """
)


def test_two_processes_hold_half_the_state_each_and_match_one_process(tmp_path):
    out = tmp_path / "two.npy"
    for _, stdout, _ in _launch_two(ROOT, ["-c", TWO_PROCESS, str(out)], timeout=600):
        assert "OK" in stdout
    got = np.load(out)
    n = 6
    rng, ops, circuit, p, x = random_problem(5, n, extra=4)
    obs = qjax.PauliSum(random_pauli_terms(rng, n, 6) + [(0.5, {0: "X"})], n)
    norm = sum(abs(c) for c, _ in obs.terms)
    ref = qjax.compile(circuit, obs, gradient="backprop")
    e, g = jax.value_and_grad(ref.expval)(jnp.asarray(p, jnp.float32), jnp.asarray(x, jnp.float32))
    P = circuit.num_params
    assert abs(got[0] - e) < 1e-6 * norm and np.abs(got[1 : 1 + P] - g).max() < 1e-6 * norm
    psi = got[1 + P :].view(np.complex64)
    assert np.abs(psi - qiskit_state(n, ops, p, x)).max() < 2e-6


def test_process_spec_reads_qjax_and_slurm_variables_and_refuses_half_settings():
    import pytest

    from qjax.cli.distributed import process_spec
    from qjax.errors import ConfigError

    assert process_spec({}) is None
    assert process_spec({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "4"}) is None  # a batch script, not an srun step
    slurm = process_spec({"SLURM_JOB_ID": "7", "SLURM_STEP_NUM_TASKS": "4"})
    assert slurm is not None and slurm.source == "SLURM" and slurm.coordinator is None
    spec = process_spec({"QJAX_COORDINATOR": "h:1", "QJAX_NUM_PROCESSES": "2", "QJAX_PROCESS_ID": "1"})
    assert spec is not None and (spec.coordinator, spec.num_processes, spec.process_id) == ("h:1", 2, 1)
    for env, words in [
        ({"QJAX_COORDINATOR": "h:1"}, "needs all three"),
        ({"QJAX_COORDINATOR": "h:1", "QJAX_NUM_PROCESSES": "2", "QJAX_PROCESS_ID": "2"}, "0..1"),
        ({"QJAX_COORDINATOR": "h", "QJAX_NUM_PROCESSES": "2", "QJAX_PROCESS_ID": "0"}, "host:port"),
        ({"QJAX_COORDINATOR": "h:1", "QJAX_NUM_PROCESSES": "two", "QJAX_PROCESS_ID": "0"}, "not an integer"),
    ]:
        with pytest.raises(ConfigError, match=words):
            process_spec(env)


def _launch_two(cwd, argv, tmpdir=None, timeout=300):
    """``python <argv>`` as processes 0 and 1 of one jax.distributed job (one CPU device each); returns
    ``[(pid, stdout, stderr), ...]`` after both ended with exit code 0."""
    port = _free_port()
    scratch = {} if tmpdir is None else {"TMPDIR": str(tmpdir)}  # process 1 writes its CLI records under here
    procs = [
        subprocess.Popen(
            [sys.executable, *argv],
            env=_env(
                QJAX_COORDINATOR=f"127.0.0.1:{port}",
                QJAX_NUM_PROCESSES="2",
                QJAX_PROCESS_ID=str(i),
                QJAX_DISTRIBUTED_TIMEOUT_S="120",
                **scratch,
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
        )
        for i in range(2)
    ]
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=timeout))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for proc, (_, stderr) in zip(procs, outputs):
        assert proc.returncode == 0, stderr[-3000:]
    return [(proc.pid, out, err) for proc, (out, err) in zip(procs, outputs)]


@pytest.mark.slow  # 41-50 s on 2 busy cores: four interpreters start, join and compile
def test_two_process_cli_run_checkpoints_and_both_resume_from_the_same_step(tmp_path, train_in_process):
    # Launch 1: 3 steps, a checkpoint every step. Launch 2: the same run to 6 steps resumes both
    # processes from step 3. Reference: 6 steps on one device in this process (unsharded).
    want = train_in_process(*VQE, "trainer.steps=6", f"checkpoint.root={tmp_path / 'ref'}")
    common = [*VQE, "backend.devices=2", "checkpoint.every=1", f"checkpoint.root={tmp_path / 'ckpt'}"]
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    _launch_two(tmp_path, ["-m", "qjax.train", *common, "trainer.steps=3", "hydra.run.dir=first"], scratch)
    runs = _launch_two(tmp_path, ["-m", "qjax.train", *common, "trainer.steps=6", "hydra.run.dir=second"], scratch)

    # Process 0 wrote the run's records; process 1 only into its own scratch folder.
    result = json.loads((tmp_path / "second" / "result.json").read_text())
    metrics = (tmp_path / "second" / "metrics.jsonl").read_text().splitlines()
    others = sorted(scratch.glob(f"qjax-process-1-{runs[1][0]}/result.json"))
    assert len(others) == 1 and not list(scratch.glob("qjax-process-0-*")), sorted(p.name for p in scratch.iterdir())
    other = json.loads(others[0].read_text())
    assert result["resumed_from"] == 3 and other["resumed_from"] == 3, (result["resumed_from"], other["resumed_from"])
    steps = [json.loads(line)["step"] for line in metrics]
    assert steps == list(range(6)), steps  # one writer: every step once (the resumed run rewrites 0-2)
    # Only process 0 took the checkpoint directory's lock (the file names its holder's pid).
    locks = sorted((tmp_path / "ckpt").rglob(".lock"))
    assert len(locks) == 1 and locks[0].read_text().split()[0] == str(runs[0][0]), [p.read_text() for p in locks]
    # Both processes trained the same state and end at the single-device energy (float64).
    assert abs(other["energy"] - result["energy"]) < 1e-12
    assert abs(result["energy"] - want["energy"]) < 1e-9, (result["energy"], want["energy"])
