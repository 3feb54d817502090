"""Wall time of one 3-member sweep on each launcher, side by side (docs/cluster.md).

    python scripts/cluster_sweep_timing.py [--steps 60] [--repeat 1]

Launchers: ``basic`` (one process, members in turn), ``joblib`` (2 local processes),
``submitit_local`` (a process per member, through submitit) and ``ray_cluster`` (tasks on a
Ray head that this script starts with ``ray start --head --num-cpus=2`` and stops after).
Every run gets fresh sweep and checkpoint directories, so nothing resumes. Prints a
Markdown table: seconds per sweep and the ratio to the basic launcher, and the time
``ray start --head`` took until its port answered.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MEMBER = ("+experiment=vqe", "problem=tfim", "problem.n=3", "ansatz=hea", "ansatz.layers=1", "problem.h=0.5,1.0,1.5")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_head() -> tuple[subprocess.Popen, str, str, float]:
    temp_dir = tempfile.mkdtemp(prefix="qjray-", dir="/tmp")
    port = _free_port()
    ray = shutil.which("ray", path=os.path.dirname(sys.executable)) or "ray"
    t0 = time.perf_counter()
    head = subprocess.Popen(
        [ray, "start", "--head", "--block", "--num-cpus=2", f"--port={port}", "--node-ip-address=127.0.0.1"]
        + ["--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp_dir}"],
        cwd=temp_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    while True:
        if head.poll() is not None:
            raise SystemExit("ray start --head exited")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    return head, f"127.0.0.1:{port}", temp_dir, time.perf_counter() - t0


def _stop_head(head: subprocess.Popen, temp_dir: str) -> None:
    import psutil

    root = psutil.Process(head.pid)
    procs = [root, *root.children(recursive=True)]
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
    shutil.rmtree(temp_dir, ignore_errors=True)


def _sweep(work: Path, steps: int, launcher: list[str]) -> float:
    sweep, ckpt = tempfile.mkdtemp(dir=work), tempfile.mkdtemp(dir=work)
    cmd = [sys.executable, "-m", "qjax.train", "-m", *MEMBER, f"trainer.steps={steps}"]
    cmd += [f"hydra.sweep.dir={sweep}", f"checkpoint.root={ckpt}", *launcher]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{launcher}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="qjsweep-"))
    head, address, temp_dir, head_s = _start_head()
    try:
        launchers = {
            "basic": [],
            "joblib (n_jobs=2)": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
            "submitit_local": ["hydra/launcher=submitit_local"],
            "ray_cluster (2 CPUs)": ["hydra/launcher=ray_cluster", f"hydra.launcher.ray.init.address={address}"],
        }
        times = {
            name: min(_sweep(work, args.steps, extra) for _ in range(args.repeat)) for name, extra in launchers.items()
        }
    finally:
        _stop_head(head, temp_dir)
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"3-member sweep, tfim n=3, {args.steps} steps per member; best of {args.repeat}; load {os.getloadavg()[0]:.1f}"
    )
    print("| launcher | s per sweep | vs basic |\n|---|---|---|")
    for name, seconds in times.items():
        print(f"| {name} | {seconds:.1f} | {seconds / times['basic']:.2f}x |")
    print(f"\n`ray start --head` until its port answered: {head_s:.1f} s")


if __name__ == "__main__":
    main()
