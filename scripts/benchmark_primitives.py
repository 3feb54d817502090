"""Benchmark qiskit-machine-learning's EstimatorQNN on three Estimators: qjax, StatevectorEstimator, Aer.

Workload: an ``EstimatorQNN`` on n qubits whose circuit is ``zz_feature_map(n)`` (angles
non-linear in the inputs) followed by ``real_amplitudes(n, reps=--reps)`` (P = n·(reps+1)
weights), observable Z⊗…⊗Z, a batch of ``--batch`` inputs, ``default_precision=0``
(exact values). Timed: ``qnn.forward(x, w)`` and ``qnn.backward(x, w)``; the backward
pass is qiskit-machine-learning's parameter-shift gradient, which sends ONE job of
batch·2P PUBs (one parameter set each) to the estimator. Median of ``--repeats`` after
one warm-up call, which is reported as "first" (qjax: conversion + jit compilation).

Estimators, all exact:
- ``qjax``: ``qjax.primitives.Estimator()`` (complex64; ``--qjax-dtype complex128``
  switches JAX's x64 mode on);
- ``statevector``: ``qiskit.primitives.StatevectorEstimator()`` (complex128);
- ``aer``: ``qiskit_aer.primitives.EstimatorV2()`` (statevector method, complex128).

Agreement: every system's forward values and gradients are compared with
StatevectorEstimator's (max absolute difference). A system whose backward pass at one
size took more than ``--max-seconds`` is not run at the larger sizes. Nothing is
asserted; the machine may be shared, so rerun and compare ratios, not seconds.

Run: ``python scripts/benchmark_primitives.py`` (about a minute on 2 cores);
``--qubits 4 8 12 --batch 16 --reps 2 --repeats 3``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

SYSTEMS = ("qjax", "statevector", "aer")


def make_estimator(name: str, dtype: str):
    if name == "qjax":
        import jax
        import jax.numpy as jnp

        from qjax.primitives import Estimator

        if dtype == "complex128":
            jax.config.update("jax_enable_x64", True)
        return Estimator(dtype=jnp.complex128 if dtype == "complex128" else jnp.complex64)
    if name == "statevector":
        from qiskit.primitives import StatevectorEstimator

        return StatevectorEstimator()
    from qiskit_aer.primitives import EstimatorV2

    return EstimatorV2(options={"backend_options": {"method": "statevector"}})


def make_qnn(n: int, reps: int, estimator):
    from qiskit import QuantumCircuit
    from qiskit.circuit.library import real_amplitudes, zz_feature_map
    from qiskit_machine_learning.neural_networks import EstimatorQNN

    features, ansatz = zz_feature_map(n), real_amplitudes(n, reps=reps)
    qc = QuantumCircuit(n)
    qc.compose(features, inplace=True)
    qc.compose(ansatz, inplace=True)
    return EstimatorQNN(
        circuit=qc,
        estimator=estimator,
        input_params=features.parameters,
        weight_params=ansatz.parameters,
        default_precision=0.0,
    )


def timed(fn, args, repeats: int) -> tuple[float, float, object]:
    """(first call of ``fn(*args)`` s, median of ``repeats`` later calls s, last output)."""
    t = time.perf_counter()
    out = fn(*args)
    first = time.perf_counter() - t
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - t)
    return first, statistics.median(times), out


def run(args) -> dict:
    rng = np.random.default_rng(0)
    rows, skip = [], set()
    for n in args.qubits:
        x = rng.uniform(0, 1, (args.batch, n))
        w = rng.uniform(-np.pi, np.pi, n * (args.reps + 1))
        outputs = {}
        for name in args.systems:
            if name in skip:
                rows.append({"n": n, "system": name, "skipped": True})
                continue
            qnn = make_qnn(n, args.reps, make_estimator(name, args.qjax_dtype))
            f_first, f_step, forward = timed(qnn.forward, (x, w), args.repeats)
            b_first, b_step, (_, grad) = timed(qnn.backward, (x, w), args.repeats)
            outputs[name] = (np.asarray(forward), np.asarray(grad))
            rows.append(
                {
                    "n": n,
                    "system": name,
                    "params": qnn.num_weights,
                    "pubs_backward": args.batch * 2 * qnn.num_weights,
                    "forward_s": f_step,
                    "backward_s": b_step,
                    "forward_first_s": f_first,
                    "backward_first_s": b_first,
                }
            )
            print(f"n={n:2d} {name:12s} forward {f_step:.4f} s backward {b_step:.4f} s", file=sys.stderr, flush=True)
            if b_step > args.max_seconds:
                skip.add(name)
        if "statevector" in outputs:
            ref_f, ref_g = outputs["statevector"]
            for row in rows:
                if row["n"] == n and row["system"] in outputs:
                    f, g = outputs[row["system"]]
                    row["max_diff"] = float(max(np.abs(f - ref_f).max(), np.abs(g - ref_g).max()))
    return {
        "machine": {"cpu": platform.processor() or platform.machine(), "python": platform.python_version()},
        "packages": {p: version(p) for p in ("qiskit", "qiskit-aer", "qiskit-machine-learning", "jax")},
        "args": {k: v for k, v in vars(args).items() if k != "out"},
        "rows": rows,
    }


def table(report: dict) -> str:
    def fmt(s):
        return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"

    by = {(r["n"], r["system"]): r for r in report["rows"]}
    lines = [
        "| n | P | PUBs (backward) | estimator | forward | backward | first forward + backward | vs qjax (fwd / bwd) "
        "| max diff vs Statevector |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        if r.get("skipped"):
            lines.append(f"| {r['n']} | | | {r['system']} | skipped | | | | |")
            continue
        base = by.get((r["n"], "qjax"))
        ratio = ""
        if base and not base.get("skipped"):
            ratio = f"{r['forward_s'] / base['forward_s']:.1f}x / {r['backward_s'] / base['backward_s']:.1f}x"
        diff = f"{r['max_diff']:.1e}" if "max_diff" in r else ""
        lines.append(
            f"| {r['n']} | {r['params']} | {r['pubs_backward']} | {r['system']} | {fmt(r['forward_s'])} "
            f"| {fmt(r['backward_s'])} | {fmt(r['forward_first_s'] + r['backward_first_s'])} | {ratio} | {diff} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=[4, 8, 12])
    parser.add_argument("--batch", type=int, default=16, help="inputs per forward/backward call")
    parser.add_argument("--reps", type=int, default=2, help="real_amplitudes repetitions")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-seconds", type=float, default=20.0, help="skip larger sizes after a slower backward")
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument("--qjax-dtype", choices=("complex64", "complex128"), default="complex64")
    parser.add_argument("--out", default="outputs/benchmark_primitives.json")
    args = parser.parse_args(argv)
    report = run(args)
    print(f"Machine: {report['machine']['cpu']}; " + ", ".join(f"{k} {v}" for k, v in report["packages"].items()))
    print(f"EstimatorQNN, batch {args.batch}, real_amplitudes reps {args.reps}; median of {args.repeats} calls")
    print(table(report))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"Wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
