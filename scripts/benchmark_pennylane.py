"""The same PennyLane QNode code on qjax.simulator, lightning.qubit and default.qubit.

Workloads (as in ``scripts/benchmark.py``):

- W1: VQE value_and_grad, 4 layers of (RY, RZ on every wire, CNOT chain), P = 8n,
  ``H = Σ Z_i Z_{i+1} + 0.5 Σ X_i``;
- QAOA: MaxCut on a random 3-regular graph (seed n), p = 4 layers of (IsingZZ per edge,
  RX per wire) after a Hadamard layer, value_and_grad of ``<Σ Z_i Z_j>``.

The quantum function and the Hamiltonian are written once and handed unchanged to
every device. A row is a device, a ``diff_method`` and a driver:

- ``jax.jit``: ``jax.jit(jax.value_and_grad(qnode))`` (interface jax). Backprop traces the
  device's JAX code into one XLA program; with ``adjoint`` PennyLane calls the device
  from inside the jitted function (a callback per step), so the step includes
  PennyLane's whole per-call pipeline (tape construction, preprocessing, the device).
- ``qml.grad``: PennyLane's Autograd driver (the way lightning is usually driven);
  ``qml.grad`` keeps the forward value.

All in complex64 (lightning with ``c_dtype=np.complex64``) except default.qubit,
whose dtype follows JAX's (complex64 without x64). The timed thing is one step after
a warm-up call, median of ``--repeats``; the first call (trace + compile) is reported
separately. Every energy is compared with lightning.qubit in complex128; tolerance
1e-4 · Σ|c| (complex64 rounding, see scripts/benchmark.py). Times are measured, never
asserted; on a shared machine rerun and take medians.

    python scripts/benchmark_pennylane.py --qubits 12 16 --repeats 7 --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pennylane as qml
from pennylane import numpy as pnp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark import LAYERS, pennylane_energy, tfim  # noqa: E402  (a sibling script: W1 written once)

QAOA_LAYERS = 4
RTOL = 1e-4


# -- the QNode code, written once ------------------------------------------------------


def qaoa_graph(n: int):
    return list(nx.random_regular_graph(3, n, seed=n).edges)


def qaoa_energy(params, n: int, hamiltonian, edges):
    for w in range(n):
        qml.Hadamard(w)
    for layer in range(QAOA_LAYERS):
        for i, j in edges:
            qml.IsingZZ(2 * params[layer], wires=[i, j])
        for w in range(n):
            qml.RX(2 * params[QAOA_LAYERS + layer], wires=w)
    return qml.expval(hamiltonian)


def workload(name: str, n: int):
    """``(quantum function of params, params (P,) float32, Σ|c|)``."""
    rng = np.random.default_rng(n)
    if name == "W1":
        h = tfim(n).to_pennylane()
        return (
            (lambda p: pennylane_energy(p, n, h)),
            rng.uniform(-np.pi, np.pi, 2 * LAYERS * n).astype(np.float32),
            1.5 * n,
        )
    edges = qaoa_graph(n)
    h = qml.Hamiltonian([1.0] * len(edges), [qml.Z(i) @ qml.Z(j) for i, j in edges])
    return (
        (lambda p: qaoa_energy(p, n, h, edges)),
        rng.uniform(0, np.pi, 2 * QAOA_LAYERS).astype(np.float32),
        len(edges),
    )


# -- devices and drivers -----------------------------------------------------------------

ROWS = {
    "qjax.simulator backprop, jax.jit": ("qjax.simulator", "backprop", "jit"),
    "qjax.simulator adjoint, jax.jit": ("qjax.simulator", "adjoint", "jit"),
    "qjax.simulator adjoint, qml.grad": ("qjax.simulator", "adjoint", "grad"),
    "lightning.qubit adjoint, jax.jit": ("lightning.qubit", "adjoint", "jit"),
    "lightning.qubit adjoint, qml.grad": ("lightning.qubit", "adjoint", "grad"),
    "default.qubit backprop, jax.jit": ("default.qubit", "backprop", "jit"),
}


def device(name: str, n: int, dtype=np.complex64):
    if name == "default.qubit":
        return qml.device(name, wires=n)
    return qml.device(name, wires=n, c_dtype=dtype)


def build(qfunc, dev, diff_method: str, driver: str):
    """``step(params) -> (energy, grad)``."""
    if driver == "jit":
        qnode = qml.QNode(qfunc, dev, interface="jax", diff_method=diff_method)
        vg = jax.jit(jax.value_and_grad(qnode))

        def step(params):
            value, grad = vg(jnp.asarray(params))
            return float(value), np.asarray(grad)

        return step
    qnode = qml.QNode(qfunc, dev, interface="autograd", diff_method=diff_method)
    grad = qml.grad(qnode)

    def step(params):
        g = grad(pnp.array(np.asarray(params, np.float64), requires_grad=True))
        return float(grad.forward), np.asarray(g)

    return step


def measure(step, params, repeats: int) -> dict:
    start = time.perf_counter()
    energy, grad = step(params)
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step(params)
        times.append(time.perf_counter() - start)
    return {"first_s": first, "step_s": statistics.median(times), "energy": energy, "grad": grad.tolist()}


def fmt(seconds) -> str:
    if seconds is None:
        return "—"
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def run(args) -> dict:
    report: dict = {"jax": jax.__version__, "pennylane": qml.__version__, "results": {}}
    for name in args.workloads:
        for n in args.qubits:
            qfunc, params, scale = workload(name, n)
            oracle = build(qfunc, device("lightning.qubit", n, np.complex128), "adjoint", "grad")(params)
            cell = report["results"].setdefault(f"{name} n={n}", {})
            for row in args.rows:
                dev_name, method, driver = ROWS[row]
                if dev_name == "default.qubit" and n > args.max_default_qubit:
                    cell[row] = {"skipped": f"n > {args.max_default_qubit} (--max-default-qubit)"}
                    continue
                r = measure(build(qfunc, device(dev_name, n), method, driver), params, args.repeats)
                tol = RTOL * scale
                r["agrees"] = bool(
                    abs(r["energy"] - oracle[0]) <= tol and np.allclose(r["grad"], oracle[1], atol=tol, rtol=0)
                )
                cell[row] = r
                print(f"{name} n={n} {row:36s} step {fmt(r['step_s'])} first {fmt(r['first_s'])} "
                      f"agrees={r['agrees']}", file=sys.stderr, flush=True)  # fmt: skip
    return report


def table(report: dict) -> str:
    """Markdown: step time per row and cell, and lightning (qml.grad) / row as the speed-up."""
    cells = list(report["results"])
    rows = [r for r in ROWS if any(r in report["results"][c] for c in cells)]
    out = ["| device, diff_method, driver | " + " | ".join(cells) + " |", "|---" * (len(cells) + 1) + "|"]
    for row in rows:
        entries = []
        for c in cells:
            r = report["results"][c].get(row)
            base = report["results"][c].get("lightning.qubit adjoint, qml.grad")
            if r is None or "step_s" not in r:
                entries.append("—")
                continue
            ratio = f" ({base['step_s'] / r['step_s']:.1f}×)" if base and "step_s" in base else ""
            entries.append(fmt(r["step_s"]) + ratio + ("" if r["agrees"] else " ✗"))
        out.append(f"| {row} | " + " | ".join(entries) + " |")
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=[12, 16])
    parser.add_argument("--workloads", nargs="+", default=["W1", "QAOA"], choices=["W1", "QAOA"])
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--max-default-qubit", type=int, default=16)
    parser.add_argument("--json", help="write the full report here")
    args = parser.parse_args(argv)
    report = run(args)
    print(table(report))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0 if all(r.get("agrees", True) for c in report["results"].values() for r in c.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
