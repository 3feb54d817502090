"""Benchmark one VQE training step of qjax against PennyLane and Qiskit Aer.

Workload W1: the hardware-efficient ansatz ``qjax.ir.ansatze.hardware_efficient(n, 4,
("RY", "RZ"), "chain")`` (P = 8n parameters) and the open transverse-field Ising chain
``H = Σ Z_i Z_{i+1} + 0.5 Σ X_i``, complex64 throughout. The timed thing is one call of
``value_and_grad`` of the energy (a training step) after warm-up, median of
``--repeats``; the first call (build + trace + compile + run) is timed separately.
Aer computes the energy only ("forward only"); it has no gradient to time.

Growth of a step is assumed ×16 per 2 qubits (×4 per qubit) when deciding whether a
system fits ``--max-seconds`` at the next size. That is deliberately pessimistic: the
state doubles per qubit, but the gate count also grows and the state falls out of
cache between n = 16 and 20 (PennyLane's step grows ×25 there), and under-predicting
would let one system eat minutes. The first call is extrapolated as its compile part
(first call − step) × (n'/n)² (compile work grows with the number of gates, ∝ n,
and XLA's passes are superlinear in it) plus the extrapolated step. A size is skipped
when the extrapolated first call or the extrapolated step exceeds the cap; the growth
factor is pessimistic enough that the repeats stay within it in practice.

Agreement: every system is compared with a complex128 oracle (lightning.qubit,
adjoint, double precision). Tolerance = 1e-4 × Σ|c_k| for energies and gradient
entries: complex64 carries ~6e-8 relative rounding per gate and per summand, ~12n
gates and 2**n summands at n = 20 give errors up to ~1e-5..1e-4 of the observable's
scale, and Σ|c_k| bounds both |E| and |∂E/∂θ| (E itself can be near zero, so a
tolerance relative to E would be meaningless). qjax's gradient is also compared
directly with lightning's complex64 gradient with the same tolerance.

Memory-bandwidth floor per n: S = 8·2**n bytes (complex64 state); every pass reads
and writes it (2S). A gradient step is ≥ 3 sweeps (forward, then reverse over the
bra and the ket). "gate-by-gate" = 3 · G · 2S / B with G = 4·(3n−1) gates, the floor
for any simulator that streams the state once per gate; "fused" = 3 · (4 + 1) · 2S / B,
one pass per layer plus one for ⟨H⟩, the floor for a simulator that fuses a whole
layer into one pass. B is measured with numpy copies of a state-sized array, so it is
cache bandwidth where the state fits in cache.

Workload "batched": n = ``--batch-qubits``, ``--batch`` parameter sets, ``jax.vmap`` of
value_and_grad, qjax vs default.qubit (jax, jit, vmap); reported as evaluations/s.

Workload "QAOA": MaxCut on a random 3-regular graph, n = ``--qaoa-qubits``, p =
``--qaoa-layers`` (``qjax.ir.ansatze.qaoa``; cost ``Σ Z_i Z_j``), value_and_grad of
``<H_P>``, qjax vs lightning.qubit (adjoint), checked against lightning in complex128.

First call, cold and warm: two fresh processes time W1's first ``value_and_grad`` at
n = ``--cache-qubits`` with a new, empty persistent compilation cache
(:func:`qjax.jaxcache.enable_compilation_cache`), then with the cache the first one
filled. ``--compile-layers`` times the cold first call at n = 12 for several layer
counts (compile time vs depth). The timer starts after a ``gc.collect()`` and
``gc.freeze()``, so the cyclic GC's sweep of this script's own imports (PennyLane,
Qiskit, Aer) is not billed to the call.

Precision: complex64 energies of qjax vs the complex128 oracle at every n (the issue
asks for ≤ 1e-5 at n = 20). Memory: a fresh process runs W1's value_and_grad at n =
``--memory-qubits`` (``gradient="auto"``) and reports its peak RSS (limit 2 GiB).
Everything is timed, never asserted; the machine may be shared, so rerun and take
medians before quoting numbers.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pennylane as qml
from pennylane import numpy as pnp
from qiskit_aer import AerSimulator

import qjax
import qjax.jaxcache
import qjax.sim.compile
import qjax.sim.layering
import qjax.sim.program
from qjax.problems import maxcut

LAYERS = 4
SYSTEMS = ("qjax-backprop", "qjax-adjoint", "default.qubit", "lightning", "aer")
STEP_GROWTH_PER_QUBIT = 4.0  # ×16 per 2 qubits, see the module docstring
RTOL = 1e-4


def tfim(n: int) -> qjax.PauliSum:
    """H = Σ_i Z_i Z_{i+1} + 0.5 Σ_i X_i on an open chain of ``n`` wires."""
    return qjax.PauliSum(
        [(1.0, {i: "Z", i + 1: "Z"}) for i in range(n - 1)] + [(0.5, {i: "X"}) for i in range(n)], num_wires=n
    )


def norm_bound(n: int) -> float:
    """Σ|c_k| of :func:`tfim`: bounds |E| and |∂E/∂θ|, the scale of the tolerances."""
    return float(sum(abs(c) for c, _ in tfim(n).terms))


def ansatz(n: int, layers: int = LAYERS) -> qjax.Circuit:
    """The qjax circuit of W1: P = 2·layers·n parameters."""
    return qjax.ir.ansatze.hardware_efficient(n, layers, rotations=("RY", "RZ"), entangler="chain")


def pennylane_energy(params, n: int, hamiltonian):
    """W1 as a PennyLane quantum function, gate by gate in the template's order:
    rotation r of layer l on wire w uses ``params[(2l + r)·n + w]``; ``params: (8n,)``."""
    k = 0
    for _ in range(LAYERS):
        for gate in (qml.RY, qml.RZ):
            for w in range(n):
                gate(params[k], wires=w)
                k += 1
        for w in range(n - 1):
            qml.CNOT(wires=[w, w + 1])
    return qml.expval(hamiltonian)


def pennylane_qnode(n: int, device, **options):
    """W1's energy as a QNode on ``device``; the Hamiltonian is built once, outside the step."""
    hamiltonian = tfim(n).to_pennylane()
    return qml.QNode(lambda p: pennylane_energy(p, n, hamiltonian), device, **options)


def jax_step(energy):
    """``params (P,) float32 -> (energy, grad (P,))`` from jit of value_and_grad of ``energy``."""
    value_and_grad = jax.jit(jax.value_and_grad(energy))

    def step(params):
        value, grad = value_and_grad(jnp.asarray(params))
        return float(value), np.asarray(grad)  # both wait for the result

    return step


def build_qjax(n: int, gradient: str):
    """A step of qjax.compile(..., gradient=gradient).expval."""
    return jax_step(qjax.compile(ansatz(n), tfim(n), gradient=gradient).expval)


def build_default_qubit(n: int):
    """A step on PennyLane default.qubit, interface jax, jit-ed, backprop."""
    return jax_step(pennylane_qnode(n, qml.device("default.qubit", wires=n), interface="jax", diff_method="backprop"))


def build_lightning(n: int, dtype=np.complex64):
    """A step on PennyLane lightning.qubit, adjoint, autograd interface; ``dtype`` is
    the state's (complex128 for the agreement oracle)."""
    device = qml.device("lightning.qubit", wires=n, c_dtype=dtype)
    grad = qml.grad(pennylane_qnode(n, device, interface="autograd", diff_method="adjoint"))

    def step(params):
        g = grad(pnp.array(np.asarray(params, np.float64), requires_grad=True))
        return float(grad.forward), np.asarray(g)  # qml.grad keeps the forward value

    return step


def build_aer(n: int):
    """A forward-only step on Qiskit Aer's statevector simulator (exact ⟨H⟩, single precision).

    ``save_expectation_value`` rather than ``qiskit_aer.primitives.EstimatorV2``: same
    value, but the estimator's per-call overhead doubled the time at n = 12.
    """
    circuit = qjax.to_qiskit(ansatz(n))
    circuit.save_expectation_value(tfim(n).to_qiskit(n), range(n))
    simulator = AerSimulator(method="statevector", precision="single")

    def step(params):
        bound = circuit.assign_parameters(np.asarray(params, np.float64))  # θ[0..P-1] in order
        return float(simulator.run(bound).result().data()["expectation_value"]), None

    return step


BUILDERS = {
    "qjax-backprop": lambda n: build_qjax(n, "backprop"),
    "qjax-adjoint": lambda n: build_qjax(n, "adjoint"),
    "default.qubit": build_default_qubit,
    "lightning": build_lightning,
    "aer": build_aer,
}


def measure(build, n: int, params, repeats: int) -> dict:
    """Time the first call (build included) and the median of ``repeats`` warm calls."""
    start = time.perf_counter()
    step = build(n)
    energy, grad = step(params)
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step(params)
        times.append(time.perf_counter() - start)
    return {
        "status": "ok",
        "first_s": first,
        "step_s": statistics.median(times),
        "steps_s": times,
        "energy": energy,
        "grad": None if grad is None else grad.tolist(),
    }


def skip_reason(previous: dict | None, n: int, cap: float) -> str | None:
    """Why a system whose last measured size was ``previous`` should skip size ``n``, or None."""
    if previous is None:
        return None
    n0 = previous["n"]
    step = previous["step_s"] * STEP_GROWTH_PER_QUBIT ** (n - n0)
    first = max(previous["first_s"] - previous["step_s"], 0.0) * (n / n0) ** 2 + step
    if max(first, step) <= cap:
        return None
    what, value = ("first call", first) if first > cap else ("step", step)
    return f"skipped (est. {what} {fmt(value)} > {cap:g} s from n={n0})"


def bandwidth(n: int, seconds: float = 0.2) -> float:
    """Bytes/s of numpy copies of a ``(2**n,) complex64`` array (read + write counted)."""
    src = np.ones(2**n, np.complex64)
    dst = np.empty_like(src)
    loops, best = max(1, 2**24 // src.size), math.inf
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        for _ in range(loops):
            np.copyto(dst, src)
        best = min(best, (time.perf_counter() - start) / loops)
    return 2 * src.nbytes / best


def floor(n: int) -> dict:
    """Memory-bandwidth floor of one gradient step at ``n`` qubits (module docstring)."""
    state, rate = 8 * 2**n, bandwidth(n)
    gates = LAYERS * (3 * n - 1)
    return {
        "bandwidth_GBps": rate / 1e9,
        "fused_s": 3 * (LAYERS + 1) * 2 * state / rate,
        "gate_by_gate_s": 3 * gates * 2 * state / rate,
    }


def batched(n: int, batch: int, repeats: int, systems) -> dict:
    """Evaluations/s of ``jax.jit(jax.vmap(value_and_grad))`` over ``(batch, P)`` parameters."""
    params = jnp.asarray(np.random.default_rng(1).uniform(0, 2 * np.pi, (batch, 2 * LAYERS * n)), jnp.float32)
    functions = {f"qjax-{g}": qjax.compile(ansatz(n), tfim(n), gradient=g).expval for g in ("backprop", "adjoint")}
    functions["default.qubit"] = pennylane_qnode(n, qml.device("default.qubit", wires=n), interface="jax")
    out = {}
    for name, f in functions.items():
        if name not in systems:
            continue
        start = time.perf_counter()
        fn = jax.jit(jax.vmap(jax.value_and_grad(f)))
        energies = np.asarray(jax.block_until_ready(fn(params))[0])
        first, times = time.perf_counter() - start, []
        for _ in range(repeats):
            start = time.perf_counter()
            jax.block_until_ready(fn(params))
            times.append(time.perf_counter() - start)
        out[name] = {"evals_per_s": batch / statistics.median(times), "first_s": first, "energies": energies.tolist()}
    return out


def qaoa_problem(n: int, p: int):
    """MaxCut on a random 3-regular graph (seed n): circuit, cost observable, (2p,) parameters."""
    graph = maxcut.random_regular(n, 3, seed=n)
    params = np.random.default_rng(p).uniform(0, np.pi, 2 * p).astype(np.float32)
    return graph, qjax.ir.ansatze.qaoa(graph.edges, n, p), maxcut.cost_observable(graph), params


def qaoa_lightning(graph, p: int, cost, dtype):
    """QAOA value_and_grad on lightning.qubit (adjoint), gate by gate as qjax.ir.ansatze.qaoa builds it."""
    hamiltonian = cost.to_pennylane()

    def energy(t):
        for w in range(graph.n):
            qml.Hadamard(w)
        for layer in range(p):
            for i, j in graph.edges:
                qml.IsingZZ(2 * t[layer], wires=[i, j])
            for w in range(graph.n):
                qml.RX(2 * t[p + layer], wires=w)
        return qml.expval(hamiltonian)

    device = qml.device("lightning.qubit", wires=graph.n, c_dtype=dtype)
    grad = qml.grad(qml.QNode(energy, device, interface="autograd", diff_method="adjoint"))

    def step(params):
        g = grad(pnp.array(np.asarray(params, np.float64), requires_grad=True))
        return float(grad.forward), np.asarray(g)

    return step


def qaoa(n: int, p: int, repeats: int, systems) -> dict:
    """QAOA MaxCut value_and_grad: qjax (backprop, adjoint) vs lightning, with a complex128 check."""
    graph, circuit, cost, params = qaoa_problem(n, p)
    builders = {
        f"qjax-{g}": (lambda _n, g=g: jax_step(qjax.compile(circuit, cost, gradient=g).expval))
        for g in ("backprop", "adjoint")
    }
    builders["lightning"] = lambda _n: qaoa_lightning(graph, p, cost, np.complex64)
    energy, grad = qaoa_lightning(graph, p, cost, np.complex128)(params)
    out = {"n": n, "p": p, "edges": len(graph.edges), "reference": {"energy": energy, "grad": grad.tolist()}}
    for name, build in builders.items():
        if name in systems:
            r = measure(build, n, params, repeats)
            r["energy_err"] = abs(r["energy"] - energy)
            r["grad_err"] = float(np.max(np.abs(np.subtract(r["grad"], grad))))
            out[name] = r
            print(f"QAOA n={n} p={p} {name:14s} {fmt(r['step_s'])} step", file=sys.stderr, flush=True)
    return out


def probe(n: int, layers: int, cache_dir: str | None) -> dict:
    """In THIS process: W1's first value_and_grad call (trace + compile + run) and peak RSS.

    ``cache_dir`` None disables the persistent compilation cache."""
    if cache_dir is None:
        jax.config.update("jax_enable_compilation_cache", False)
    else:
        qjax.jaxcache.enable_compilation_cache(cache_dir)
    params = np.random.default_rng(n).uniform(0, 2 * np.pi, 2 * layers * n).astype(np.float32)
    # This script imports PennyLane, Qiskit and Aer for the comparison: millions of
    # objects that Python's cyclic GC would otherwise sweep during the timed call
    # (0.15-0.25 s measured at n=20), a cost of these imports, not of the call.
    gc.collect()
    gc.freeze()
    start = time.perf_counter()
    compiled = qjax.compile(ansatz(n, layers), tfim(n))
    energy, _ = jax_step(compiled.expval)(params)
    first = time.perf_counter() - start
    start = time.perf_counter()
    jax_step(compiled.expval)(params)  # a new jit wrapper: in-memory cache, no recompile
    return {
        "n": n,
        "layers": layers,
        "first_s": first,
        "energy": energy,
        "gradient": qjax.sim.compile.auto_gradient(
            qjax.sim.layering.layer(qjax.sim.program.lower(ansatz(n, layers), jnp.complex64))
        ),
        "peak_rss_GiB": peak_rss_gib(),
    }


def peak_rss_gib() -> float:
    """This process's peak resident memory. Linux: ``VmHWM`` of /proc/self/status, the
    high-water mark of this program's own memory. ``getrusage``'s ``ru_maxrss`` is not
    used there: it survives exec, so a child started by a big parent (this benchmark,
    after PennyLane's n=20 runs) would report the parent's peak."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**20  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run_probe(n: int, layers: int, cache_dir: str | None, timeout: float) -> dict:
    """:func:`probe` in a fresh process (cold JAX, own RSS); a status dict on failure or timeout."""
    command = [sys.executable, __file__, "--probe", str(n), str(layers), cache_dir or "-"]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": f"skipped (over the {timeout:g} s cap)"}
    if proc.returncode:
        return {"status": f"error: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}"}
    return {"status": "ok", **json.loads(proc.stdout.strip().splitlines()[-1])}


def compile_times(cache_qubits: int, layer_counts, cap: float) -> dict:
    """Cold and warm first calls at ``cache_qubits``, and cold first calls vs layers at n = 12."""
    out = {"n": cache_qubits}
    with tempfile.TemporaryDirectory() as cache:
        out["cold"] = run_probe(cache_qubits, LAYERS, cache, cap)
        out["warm"] = run_probe(cache_qubits, LAYERS, cache, cap)
    out["layers"] = {str(L): run_probe(12, L, None, cap) for L in layer_counts}
    return out


def machine() -> dict:
    """CPU model, core count and package versions."""
    model = "unknown"
    if Path("/proc/cpuinfo").exists():
        lines = [ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")]
        model = lines[0].split(":", 1)[1].strip() if lines else model
    packages = {}
    for name in ("qjax", "jax", "jaxlib", "numpy", "pennylane", "pennylane_lightning", "qiskit", "qiskit-aer"):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    return {"cpu": model, "cores": os.cpu_count(), "python": sys.version.split()[0], "packages": packages}


def fmt(seconds: float | None) -> str:
    """Seconds as a short human string (µs, ms or s)."""
    if seconds is None:
        return "—"
    return f"{seconds * 1e3:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def agreement(results: dict, reference: dict, scale: float) -> list[str]:
    """FAIL lines for systems at one size whose energy or gradient is off the oracle's, or
    qjax's gradient off lightning's, by more than ``RTOL × scale``."""
    tol, fails = RTOL * scale, []
    for name, r in results.items():
        if r["status"] != "ok":
            continue
        r["energy_err"] = abs(r["energy"] - reference["energy"])
        r["grad_err"] = None if r["grad"] is None else float(np.max(np.abs(np.subtract(r["grad"], reference["grad"]))))
        if r["energy_err"] > tol or (r["grad_err"] or 0.0) > tol:
            fails.append(
                f"FAIL n={reference['n']} {name}: energy err {r['energy_err']:.2e}, "
                f"grad err {r['grad_err']} vs complex128 oracle (tol {tol:.2e})"
            )
    light = results.get("lightning", {})
    for name in ("qjax-backprop", "qjax-adjoint"):
        r = results.get(name, {})
        if r.get("status") == "ok" and light.get("status") == "ok":
            r["grad_vs_lightning"] = float(np.max(np.abs(np.subtract(r["grad"], light["grad"]))))
            if r["grad_vs_lightning"] > tol:
                fails.append(
                    f"FAIL n={reference['n']} {name}: gradient differs from lightning's by "
                    f"{r['grad_vs_lightning']:.2e} (tol {tol:.2e})"
                )
    return fails


def table(report: dict) -> str:
    """The Markdown table: rows = systems; per n: step, first call, step / qjax's best step."""
    sizes = report["qubits"]
    head = "| system | " + " | ".join(f"n={n} step | n={n} first call | n={n} ×qjax" for n in sizes) + " |"
    rows = [head, "|---" * (1 + 3 * len(sizes)) + "|"]
    for name in report["systems"]:
        cells = []
        for n in sizes:
            r = report["results"][str(n)][name]
            best = min(
                (
                    report["results"][str(n)][q]["step_s"]
                    for q in ("qjax-backprop", "qjax-adjoint")
                    if report["results"][str(n)].get(q, {}).get("status") == "ok"
                ),
                default=None,
            )
            if r["status"] != "ok":
                cells += [r["status"], "", ""]
            else:
                cells += [fmt(r["step_s"]), fmt(r["first_s"]), f"{r['step_s'] / best:.2f}" if best else "—"]
        label = name + (" (forward only)" if name == "aer" else "")
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    floors = [report["floor"][str(n)] for n in sizes]
    cells = [c for f in floors for c in (f"{fmt(f['fused_s'])} / {fmt(f['gate_by_gate_s'])}", "", "")]
    rows.append("| bandwidth floor, fused / gate-by-gate | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def extra_tables(report: dict) -> str:
    """Markdown for QAOA, first calls (cold/warm cache, vs layers), complex64 precision and memory."""
    lines = []
    if "qaoa" in report:
        q = report["qaoa"]
        best = min((q[k]["step_s"] for k in ("qjax-backprop", "qjax-adjoint") if k in q), default=None)
        lines += [
            "",
            f"QAOA MaxCut, 3-regular, n={q['n']}, p={q['p']} ({q['edges']} edges), value_and_grad:",
            "",
            "| system | step | first call | ×qjax | max error vs complex128 |",
            "|---|---|---|---|---|",
        ]
        for k in ("qjax-backprop", "qjax-adjoint", "lightning"):
            if k in q:
                r = q[k]
                ratio = f"{r['step_s'] / best:.2f}" if best else "—"
                lines.append(
                    f"| {k} | {fmt(r['step_s'])} | {fmt(r['first_s'])} | {ratio} | "
                    f"{max(r['energy_err'], r['grad_err']):.1e} |"
                )
    if "compile" in report:
        c = report["compile"]

        def cell(r):
            return fmt(r["first_s"]) if r.get("status") == "ok" else r.get("status", "—")

        lines += [
            "",
            f"First call of W1 value_and_grad at n={c['n']} (fresh process; trace + compile + run): "
            f"cold cache {cell(c['cold'])}, warm cache {cell(c['warm'])}.",
            "Cold first call at n=12 vs layers: "
            + ", ".join(f"{L} layers {cell(r)}" for L, r in c["layers"].items())
            + ".",
        ]
    errs = {n: v.get("qjax-backprop", {}).get("energy_err") for n, v in report["results"].items()}
    errs = {n: e for n, e in errs.items() if e is not None}
    if errs:
        lines += [
            "",
            "complex64 energy − complex128 oracle (qjax): "
            + ", ".join(f"n={n} {e:.1e}" for n, e in errs.items())
            + " (issue: ≤ 1e-5 at n=20).",
        ]
    if "memory" in report:
        m = report["memory"]
        lines += [
            "",
            f"Memory: W1 value_and_grad at n={m.get('n', '?')} (gradient=auto → {m.get('gradient', '?')}): "
            + (
                f"peak RSS {m['peak_rss_GiB']:.2f} GiB, first call {fmt(m['first_s'])} (limit 2 GiB)."
                if m.get("status") == "ok"
                else m["status"]
            ),
        ]
    return "\n".join(lines)


def plot(report: dict, path: Path) -> None:
    """Step time vs qubits, log scale, one line per system plus the bandwidth floor."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name in report["systems"]:
        points = [
            (n, report["results"][str(n)][name]["step_s"])
            for n in report["qubits"]
            if report["results"][str(n)][name]["status"] == "ok"
        ]
        if points:
            ax.plot(*zip(*points), marker="o", label=name + (" (forward)" if name == "aer" else ""))
    ax.plot(
        report["qubits"],
        [report["floor"][str(n)]["gate_by_gate_s"] for n in report["qubits"]],
        "k--",
        label="floor, gate-by-gate",
    )
    ax.set(xlabel="qubits", ylabel="step time (s)", yscale="log", title="VQE value_and_grad, complex64")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(args) -> int:
    """Run every system at every size, print and write the report; 1 when a check fails."""
    if jax.config.jax_enable_x64:
        raise SystemExit("jax_enable_x64 is on; this benchmark is complex64 only — unset JAX_ENABLE_X64")
    jax.config.update("jax_enable_compilation_cache", False)  # a cache hit would fake the first-call time
    # default.qubit asks for complex128 and JAX gives complex64, as intended here
    warnings.filterwarnings("ignore", message="Explicitly requested dtype complex128")
    report = {
        "machine": machine(),
        **{k: getattr(args, k) for k in ("qubits", "systems", "repeats", "max_seconds")},
        "results": {},
        "floor": {},
        "fails": [],
    }
    last: dict[str, dict] = {}
    for n in args.qubits:
        params = np.random.default_rng(n).uniform(0, 2 * np.pi, 2 * LAYERS * n).astype(np.float32)
        energy, grad = build_lightning(n, np.complex128)(params)
        reference = {"n": n, "energy": energy, "grad": grad.tolist()}
        report["floor"][str(n)] = floor(n)
        results = {}
        for name in args.systems:
            reason = skip_reason(last.get(name), n, args.max_seconds)
            if reason:
                results[name] = {"status": reason}
            else:
                try:
                    results[name] = last[name] = {"n": n, **measure(BUILDERS[name], n, params, args.repeats)}
                except Exception as err:  # noqa: BLE001 -- a broken system is a result to report, not a crash
                    results[name] = {"status": f"error: {type(err).__name__}: {err}"[:200]}
                    report["fails"].append(f"FAIL n={n} {name}: {results[name]['status']}")
            r = results[name]
            done = f"{fmt(r['step_s'])} step, {fmt(r['first_s'])} first call" if "step_s" in r else r["status"]
            print(f"n={n:2d} {name:14s} {done}", file=sys.stderr, flush=True)  # progress; stdout is the report
        report["fails"] += agreement(results, reference, scale=norm_bound(n))
        report["results"][str(n)] = {**results, "reference": reference}
    if args.batch:
        report["batched"] = {
            "n": args.batch_qubits,
            "batch": args.batch,
            **batched(args.batch_qubits, args.batch, args.repeats, args.systems),
        }
        energies = [v["energies"] for v in report["batched"].values() if isinstance(v, dict)]
        if energies and np.max(np.ptp(np.array(energies), axis=0)) > RTOL * norm_bound(args.batch_qubits):
            report["fails"].append("FAIL batched: energies of the systems disagree")
    if args.qaoa_qubits:
        report["qaoa"] = qaoa(args.qaoa_qubits, args.qaoa_layers, args.repeats, args.systems)
        tol = RTOL * report["qaoa"]["edges"]  # Σ|c| of the cost: one unit weight per edge
        for name, r in report["qaoa"].items():
            if isinstance(r, dict) and "energy_err" in r and max(r["energy_err"], r["grad_err"]) > tol:
                report["fails"].append(
                    f"FAIL QAOA {name}: energy err {r['energy_err']:.2e}, grad err {r['grad_err']:.2e}"
                )
    if args.cache_qubits:
        report["compile"] = compile_times(args.cache_qubits, args.compile_layers, 4 * args.max_seconds)
    if args.memory_qubits:
        report["memory"] = run_probe(args.memory_qubits, LAYERS, None, 4 * args.max_seconds)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmark.json").write_text(json.dumps(report, indent=1))
    plot(report, out / "benchmark.png")
    m = report["machine"]
    print(f"Machine: {m['cpu']}, {m['cores']} cores; " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()))
    print(
        f"W1 VQE value_and_grad, complex64, median of {args.repeats}; first call = build + trace + compile + run; "
        f"cap {args.max_seconds:g} s per system per size, step extrapolated ×16 per 2 qubits\n"
    )
    print(table(report))
    print(
        "\nBandwidth (numpy copy of the state): "
        + ", ".join(f"n={n} {report['floor'][str(n)]['bandwidth_GBps']:.3g} GB/s" for n in args.qubits)
    )
    if args.batch:
        b = report["batched"]
        print(
            f"Batched n={b['n']}, {b['batch']} parameter sets, vmap(value_and_grad): "
            + ", ".join(f"{k} {v['evals_per_s']:.0f} evals/s" for k, v in b.items() if isinstance(v, dict))
        )
    print(extra_tables(report))
    print(
        "\n".join(report["fails"]) or f"OK: all energies and gradients within {RTOL:g} × Σ|c| of the complex128 oracle"
    )
    print(f"Wrote {out / 'benchmark.json'} and {out / 'benchmark.png'}")
    return 1 if report["fails"] else 0


def main(argv=None) -> int:
    """Parse the command line and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=[12, 16, 20])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-seconds", type=float, default=60.0, help="cap per system per size")
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument("--batch", type=int, default=256, help="parameter sets in the batched workload (0 = off)")
    parser.add_argument("--batch-qubits", type=int, default=10)
    parser.add_argument("--qaoa-qubits", type=int, default=16, help="QAOA workload size (0 = off)")
    parser.add_argument("--qaoa-layers", type=int, default=4)
    parser.add_argument("--cache-qubits", type=int, default=20, help="cold/warm first-call size (0 = off)")
    parser.add_argument("--compile-layers", type=int, nargs="*", default=[2, 4, 8, 16])
    parser.add_argument("--memory-qubits", type=int, default=24, help="peak-memory check size (0 = off)")
    parser.add_argument("--out", default="outputs/benchmark")
    parser.add_argument("--probe", nargs=3, metavar=("N", "LAYERS", "CACHE_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:  # internal: one first-call / memory measurement in this fresh process
        n, layers, cache = args.probe
        print(json.dumps(probe(int(n), int(layers), None if cache == "-" else cache)))
        return 0
    args.qubits = sorted(set(args.qubits))
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
