"""Scale check of the sharded statevector (qjax.sim.sharded): memory per process, time overhead.

W1 = VQE value_and_grad (adjoint) with 4 layers of RY, RZ on every qubit and a CNOT chain, on
H = Σ Z_i Z_{i+1} + 0.5 Σ X_i, complex64.

1. ``memory``: peak resident memory (VmHWM) per process, one process on one device against two
   processes joined by ``jax.distributed`` (gloo on CPU), each holding half the state.
2. ``overhead``: one process, D = 1, 2, 4, 8 forced CPU devices sharing the same cores: the
   median step against D = 1 shows what the swaps and collectives cost, not a speed-up.

Usage::

    python scripts/scale_sharded.py memory --qubits 20 22 24 26 28
    python scripts/scale_sharded.py overhead --qubits 16 20 --devices 1 2 4 8

Prints markdown tables (for docs/sharding.md). Each measurement runs in fresh processes.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import textwrap

WORKER = textwrap.dedent(
    """
    import json, sys, time
    cfg = json.loads(sys.argv[1])
    from qjax.cli.distributed import start_distributed
    start_distributed()
    import jax, jax.numpy as jnp, numpy as np
    import qjax
    from qjax.ir.ansatze import hardware_efficient
    n, devices, repeats = cfg["n"], cfg["devices"], cfg["repeats"]
    circuit = hardware_efficient(n, 4, rotations=("RY", "RZ"), entangler="chain")
    terms = [(1.0, {i: "Z", i + 1: "Z"}) for i in range(n - 1)] + [(0.5, {i: "X"}) for i in range(n)]
    obs = qjax.PauliSum(terms, n)
    mesh = None if devices == 1 else jax.devices()[:devices]
    c = qjax.compile(circuit, obs, gradient="adjoint", mesh=mesh)
    f = jax.jit(jax.value_and_grad(c.expval))
    p = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, circuit.num_params), jnp.float32)
    def hwm():
        return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")) / 1024
    t0 = time.perf_counter(); f = f.lower(p).compile(); compiled_hwm = hwm()
    temp = f.memory_analysis().temp_size_in_bytes / 2**20
    e, g = f(p); jax.block_until_ready(g); first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter(); e, g = f(p); jax.block_until_ready(g); times.append(time.perf_counter() - t0)
    print("RESULT " + json.dumps({"process": jax.process_index(), "energy": float(e), "first_s": first,
                                  "median_s": float(np.median(times)), "vmhwm_mib": hwm(),
                                  "compiled_hwm_mib": compiled_hwm, "xla_temp_mib": temp}), flush=True)
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _results(outputs) -> list[dict]:
    out = []
    for stdout, stderr, code in outputs:
        rows = [json.loads(line[7:]) for line in stdout.splitlines() if line.startswith("RESULT ")]
        if code != 0 or not rows:
            raise SystemExit(f"a worker failed (exit {code}): {stderr.strip().splitlines()[-1:]}")
        out.extend(rows)
    return out


def run_workers(n: int, devices: int, processes: int, repeats: int, forced: int = 1) -> list[dict]:
    """``processes`` workers (joined by jax.distributed when > 1); their RESULT rows."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("QJAX_")}
    base.update(JAX_PLATFORMS="cpu", XLA_FLAGS=f"--xla_force_host_platform_device_count={forced}")
    port = _free_port()
    cfg = json.dumps({"n": n, "devices": devices, "repeats": repeats})
    procs = []
    for i in range(processes):
        env = dict(base)
        if processes > 1:
            env.update(QJAX_COORDINATOR=f"127.0.0.1:{port}", QJAX_NUM_PROCESSES=str(processes), QJAX_PROCESS_ID=str(i))
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", WORKER, cfg], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    outputs = []
    for p in procs:
        stdout, stderr = p.communicate()
        outputs.append((stdout, stderr, p.returncode))
    return _results(outputs)


def memory(qubits, repeats: int) -> None:
    print(
        "| n | state (MiB) | 1 process: VmHWM (MiB) | 2 processes: VmHWM per process (MiB) | ratio "
        "| after compile, 1 / 2 (MiB) | XLA temp, 1 / 2 (MiB) | energy diff |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for n in qubits:
        one = run_workers(n, 1, 1, repeats)[0]
        two = run_workers(n, 2, 2, repeats)
        peak = max(r["vmhwm_mib"] for r in two)
        compiled = max(r["compiled_hwm_mib"] for r in two)
        temp = max(r["xla_temp_mib"] for r in two)
        diff = abs(two[0]["energy"] - one["energy"])
        print(
            f"| {n} | {8 * 2**n / 2**20:.0f} | {one['vmhwm_mib']:.0f} | {peak:.0f} | {peak / one['vmhwm_mib']:.2f} "
            f"| {one['compiled_hwm_mib']:.0f} / {compiled:.0f} | {one['xla_temp_mib']:.0f} / {temp:.0f} | {diff:.1e} |",
            flush=True,
        )


def overhead(qubits, devices, repeats: int) -> None:
    print("| n | D | median step (s) | vs D = 1 | first call (s) |")
    print("|---|---|---|---|---|")
    for n in qubits:
        base = None
        for d in devices:
            r = run_workers(n, d, 1, repeats, forced=max(devices))[0]
            base = base or r["median_s"]
            print(f"| {n} | {d} | {r['median_s']:.3f} | {r['median_s'] / base:.2f}x | {r['first_s']:.1f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("memory", "overhead"))
    parser.add_argument("--qubits", type=int, nargs="+", default=[20, 22, 24])
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.mode == "memory":
        memory(args.qubits, args.repeats)
    else:
        overhead(args.qubits, args.devices, args.repeats)


if __name__ == "__main__":
    main()
