"""Sweeps on a cluster: ``hydra/launcher=ray`` against a real Ray head, ``hydra/launcher=submitit_local``.

A 3-member sweep starts; once a member has saved a checkpoint, the worker process
training it (the pid in its checkpoint directory's ``.lock``) is killed with SIGKILL.
The rerun of the same sweep then finishes all three: the members that finished are
not trained again, the killed one resumes from its checkpoint, and every energy
equals the one the basic launcher (one process, no kill) got, to 1e-6. Each energy
is also checked against exact diagonalisation of the Ising chain (variational bound).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

H_VALUES = (0.5, 1.0, 1.5)
# Few qubits and a short run; checkpoints often, so that a member is caught mid-run.
MEMBER = ("+experiment=vqe", "problem=tfim", "problem.n=3", "ansatz=hea", "ansatz.layers=1", "trainer.steps=60")
EVERY = "checkpoint.every=5"
SWEPT = "problem.h=" + ",".join(str(h) for h in H_VALUES)


def _exact_tfim(n: int, h: float, J: float = 1.0) -> float:
    """Ground energy of H = -J Σ Z_i Z_{i+1} - h Σ X_i (open chain) by dense diagonalisation."""
    x, z, eye = np.array([[0, 1], [1, 0]]), np.diag([1.0, -1.0]), np.eye(2)

    def op(single: dict) -> np.ndarray:
        out = np.ones((1, 1))
        for k in range(n):
            out = np.kron(out, single.get(k, eye))
        return out

    ham = sum(-J * op({i: z, i + 1: z}) for i in range(n - 1)) + sum(-h * op({i: x}) for i in range(n))
    return float(np.linalg.eigvalsh(ham)[0])


def _sweep_cmd(sweep_dir: Path, ckpt_root: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "qjax.train",
        "-m",
        *MEMBER,
        EVERY,
        SWEPT,
        f"hydra.sweep.dir={sweep_dir}",
        f"checkpoint.root={ckpt_root}",
        *extra,
    ]


def _results(sweep_dir: Path) -> list[dict]:
    return [json.loads((sweep_dir / str(i) / "result.json").read_text()) for i in range(len(H_VALUES))]


def _plugin(module: str, extra: str) -> None:
    """Skip without the extra, except in CI, which installs it (the dev extra): there a missing plugin fails."""
    if os.environ.get("CI") == "true":
        __import__(module)
    else:
        pytest.importorskip(module, reason=f"the {extra} extra is not installed (pip install -e '.[{extra}]')")


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> list[float]:
    """The basic launcher's energies: one process, members one after the other, nothing killed."""
    tmp = tmp_path_factory.mktemp("basic")
    proc = subprocess.run(_sweep_cmd(tmp / "sweep", tmp / "ckpt"), cwd=tmp, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    energies = [r["energy"] for r in _results(tmp / "sweep")]
    for h, energy in zip(H_VALUES, energies, strict=True):
        assert energy >= _exact_tfim(3, h) - 1e-5  # variational: never below the exact ground energy
    return energies


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop_tree(proc: subprocess.Popen) -> None:
    """SIGTERM the process we started and everything below it, by pid; SIGKILL what is left after 5 s."""
    import psutil

    try:
        root = psutil.Process(proc.pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for p in procs:
        try:
            p.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=5)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=10)


@pytest.fixture(scope="module")
def ray_head():
    """A real local Ray cluster, started the ordinary way (``ray start --head``); stopped after the module."""
    _plugin("hydra_plugins.hydra_ray_launcher", "ray")
    ray_cli = shutil.which("ray", path=os.path.dirname(sys.executable)) or shutil.which("ray")
    assert ray_cli, "the ray extra is installed but its `ray` command is not found"
    # short: Ray's unix socket paths live under it (108 bytes at most)
    temp_dir = tempfile.mkdtemp(prefix="qjray-", dir="/tmp")
    port = _free_port()
    # A ~/.ray/auth_token left by `ray get-auth-token --generate` makes `ray start` turn token auth on, while
    # drivers (the launcher's ray.init) send no token unless RAY_AUTH_MODE=token: this throwaway local head and
    # the sweeps below (they inherit the environment) agree on no auth.
    auth_mode = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    # --block keeps `ray start` as the parent of the head's processes, so teardown stops exactly them
    head = subprocess.Popen(
        [
            ray_cli,
            "start",
            "--head",
            "--block",
            "--num-cpus=2",
            f"--port={port}",
            "--node-ip-address=127.0.0.1",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={temp_dir}",
        ],
        cwd=temp_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 120
        while True:
            assert head.poll() is None, "ray start --head exited"
            assert time.time() < deadline, "the Ray head did not come up in 120 s"
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        _stop_tree(head)
        shutil.rmtree(temp_dir, ignore_errors=True)
        if auth_mode is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = auth_mode


def _kill_a_member_mid_run(ckpt_root: Path, sweep: subprocess.Popen) -> tuple[int, str]:
    """Wait for a member's first checkpoint, SIGKILL the process that holds its directory; return its pid and dir."""
    deadline = time.time() + 240
    while time.time() < deadline:
        if sweep.poll() is not None:
            err = sweep.stderr.read() if sweep.stderr else ""
            raise AssertionError(f"the sweep ended before a member could be killed:\n{err[-3000:]}")
        for run in ckpt_root.glob("vqe-tfim-*"):
            steps = [p for p in run.iterdir() if p.name.isdigit()] if run.is_dir() else []
            holder = (run / ".lock").read_text().split() if (run / ".lock").exists() else []
            if steps and holder and holder[0].isdigit():
                os.kill(int(holder[0]), signal.SIGKILL)
                return int(holder[0]), run.name
        time.sleep(0.02)
    raise AssertionError("no member saved a checkpoint in 240 s")


def _wait_until_no_member_runs(ckpt_root: Path, timeout: float = 240) -> None:
    """Until no process holds a member's checkpoint lock (a running member holds an exclusive flock on it)."""
    import fcntl

    deadline = time.time() + timeout
    for lock in ckpt_root.glob("*/.lock"):
        with open(lock) as f:
            while True:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    assert time.time() < deadline, f"{lock.parent.name} still runs after {timeout} s"
                    time.sleep(0.1)
            fcntl.flock(f, fcntl.LOCK_UN)


def _kill_then_rerun(tmp: Path, reference: list[float], *launcher: str) -> None:
    ckpt = tmp / "ckpt"
    first = subprocess.Popen(
        _sweep_cmd(tmp / "first", ckpt, *launcher),
        cwd=tmp,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        killed, killed_dir = _kill_a_member_mid_run(ckpt, first)
        _, err = first.communicate(timeout=240)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert killed != first.pid  # the member ran in a worker, not in the driver
    assert first.returncode != 0, "the sweep with a killed member must not report success"
    _wait_until_no_member_runs(ckpt)  # submitit's local jobs outlive the driver that gave up on the sweep
    done_first = {i for i in range(len(H_VALUES)) if (tmp / "first" / str(i) / "result.json").exists()}
    assert len(done_first) < len(H_VALUES)

    rerun = subprocess.run(
        _sweep_cmd(tmp / "second", ckpt, *launcher), cwd=tmp, capture_output=True, text=True, timeout=300
    )
    assert rerun.returncode == 0, rerun.stderr
    results = _results(tmp / "second")
    for i, result in enumerate(results):
        assert result["steps"] == 60
        assert result["energy"] == pytest.approx(reference[i], abs=1e-6)
        if i in done_first:
            assert result["already_finished"]  # not trained again
    # the killed member went on from its checkpoint (the others finished, or had not saved one yet)
    (member,) = [i for i in range(len(H_VALUES)) if killed_dir in (tmp / "second" / str(i) / "train.log").read_text()]
    assert member not in done_first and results[member]["resumed_from"] >= 5
    # the summary table, as for any sweep
    assert (tmp / "second" / "summary.md").read_text().count("\n| ") == len(H_VALUES)


def test_ray_cluster_sweep_resumes_a_member_whose_worker_was_killed(tmp_path, ray_head, reference):
    # max_retries=0: Ray would otherwise re-run the task itself (which resumes from the checkpoint too)
    _kill_then_rerun(
        tmp_path,
        reference,
        "hydra/launcher=ray_cluster",
        f"hydra.launcher.ray.init.address={ray_head}",
        "hydra.launcher.ray.remote.max_retries=0",
    )


@pytest.mark.slow
def test_ray_reruns_a_killed_member_itself_with_ray_clusters_default_retry(tmp_path, ray_head, reference):
    # ray_cluster's max_retries=1: the same sweep re-runs the task, which resumes from the checkpoint
    ckpt = tmp_path / "ckpt"
    launcher = ("hydra/launcher=ray_cluster", f"hydra.launcher.ray.init.address={ray_head}")
    sweep = subprocess.Popen(
        _sweep_cmd(tmp_path / "sweep", ckpt, *launcher), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        _, killed_dir = _kill_a_member_mid_run(ckpt, sweep)
        _, err = sweep.communicate(timeout=300)
    finally:
        if sweep.poll() is None:
            sweep.kill()
            sweep.wait()
    assert sweep.returncode == 0, err
    results = _results(tmp_path / "sweep")
    assert [r["energy"] for r in results] == pytest.approx(reference, abs=1e-6)
    logs = [(tmp_path / "sweep" / str(i) / "train.log").read_text() for i in range(len(H_VALUES))]
    (member,) = [i for i, log in enumerate(logs) if killed_dir in log]
    assert results[member]["resumed_from"] >= 5


def test_submitit_local_sweep_resumes_a_member_whose_worker_was_killed(tmp_path, reference):
    _plugin("hydra_plugins.hydra_submitit_launcher", "slurm")
    _kill_then_rerun(tmp_path, reference, "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10")


def _train(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qjax.train", "-m", "+experiment=vqe", "trainer.steps=1", *overrides],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("launcher", ["ray_cluster", "slurm"])
def test_an_unknown_launcher_option_gets_hydras_message_not_a_traceback(tmp_path, launcher):
    _plugin(
        "hydra_plugins.hydra_ray_launcher" if launcher == "ray_cluster" else "hydra_plugins.hydra_submitit_launcher",
        "dev",
    )
    proc = _train(tmp_path, f"hydra/launcher={launcher}", "hydra.launcher.no_such_option=3")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "Could not override 'hydra.launcher.no_such_option'" in proc.stderr
    assert not (tmp_path / "multirun").exists() and not (tmp_path / "checkpoints").exists()


def test_an_unknown_launcher_gets_hydras_list_of_launchers(tmp_path):
    proc = _train(tmp_path, "hydra/launcher=rayy")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "Could not find 'hydra/launcher/rayy'" in proc.stderr and "ray_cluster" in proc.stderr


def test_a_relative_sweep_dir_on_ray_is_refused_in_one_line_before_ray_starts(tmp_path):
    _plugin("hydra_plugins.hydra_ray_launcher", "ray")
    # no cluster at this address: the refusal comes before the launcher connects
    proc = _train(
        tmp_path, "hydra/launcher=ray_cluster", "hydra.launcher.ray.init.address=127.0.0.1:9", "hydra.sweep.dir=rel"
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "qjax: error: hydra.sweep.dir=rel is relative, and Ray workers resolve it in the directory `ray start` ran "
        "in; give an absolute path that every node sees (a shared filesystem), e.g. hydra.sweep.dir=/shared/sweeps/NAME"
    ]
