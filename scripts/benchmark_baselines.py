"""Classical heuristic vs ideal simulator vs noisy simulator vs (fake) hardware, side by side.

For each problem (``h2``: VQE at 0.7414 Å; ``maxcut``: QAOA on a 5-node cycle, small
enough for a 5-qubit fake device) the harness trains every method over ``--seeds``
seeds through qjax's own entry point (:func:`qjax.train.run` on a composed Hydra
config, exactly what ``python -m qjax.train`` runs), and reports per method:

- accuracy: error against the exact answer (energy − exact; QAOA: approximation
  ratio of the expected cut) and, with mitigation, the unmitigated error of the same
  final parameters;
- latency: wall time per training step and per run;
- queue time, where the backend reports one (local simulators and fake devices
  have no queue: "n/a");
- cost: jobs, shots and estimated QPU seconds;
- the transpiled two-qubit gate count of the trained circuit;
- spread across seeds (standard deviation).

The classical heuristic (Hartree–Fock energy; greedy one-exchange and
Goemans–Williamson cuts) and the exact answer are computed once per problem. A
method the installation cannot run (e.g. mitigation a backend does not offer) is
reported with its error message rather than stopping the harness.

Output in ``--out``: ``runs.csv`` (one row per run), ``summary.csv`` and
``summary.md`` (one row per method: mean ± std over seeds), ``summary.png``.

    python scripts/benchmark_baselines.py                       # both problems, 5 seeds
    python scripts/benchmark_baselines.py --problems h2 --seeds 2 --hardware-steps 5   # a smoke run
    python scripts/benchmark_baselines.py --problems h2 --methods "ibm_fake tapered+readout" \\
        "ibm_fake defaults (readout_rem)" --seeds 1          # one mitigation option against the default
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

_TWIN = ["backend=noisy_simulator", "backend.device=FakeManilaV2"]
_FAKE = ["backend=ibm_fake", "backend.device=FakeManilaV2"]
#: The behaviour before the hardware defaults (docs/hardware-answers.md): full-width circuit, no mitigation.
_OLD = ["problem.taper=false", "mitigation=none", "backend.final_precision=null"]
_SCALE = ["mitigation=readout_rem", "mitigation.rem_model=scale"]

#: name → (overrides added to the problem's, is it job-based). Hardware defaults (tapering, readout_rem,
#: final_precision) apply unless a method says otherwise; "untapered" rows are the circuits before them.
METHODS = {
    "simulator": ([], False),
    "noisy_simulator": ([*_TWIN, *_OLD], False),
    "noisy_simulator+zne": ([*_TWIN, "problem.taper=false", "mitigation=zne"], False),
    "twin tapered": ([*_TWIN, "mitigation=none"], False),
    "twin tapered+readout": ([*_TWIN, "mitigation=readout"], False),
    "twin tapered+rem": ([*_TWIN, "mitigation=rem"], False),
    "twin defaults (readout_rem)": (_TWIN, False),
    # the tapered UCC excitations instead of the default shallow circuit (ansatz.form=real_amplitudes)
    "twin excitations (readout_rem)": ([*_TWIN, "ansatz.form=excitations"], False),
    # REM rescaled by the reference's measured signal (mitigation.rem_model=scale) instead of shifted
    "twin readout_rem scale": ([*_TWIN, *_SCALE], False),
    "twin excitations readout_rem scale": ([*_TWIN, *_SCALE, "ansatz.form=excitations"], False),
    "twin tapered+zne": ([*_TWIN, "mitigation=zne"], False),
    "ibm_fake": ([*_FAKE, *_OLD], True),
    "ibm_fake+zne": ([*_FAKE, "problem.taper=false", "mitigation=zne", "backend.final_precision=null"], True),
    "ibm_fake tapered": ([*_FAKE, "mitigation=none"], True),
    "ibm_fake tapered+readout": ([*_FAKE, "mitigation=readout"], True),
    "ibm_fake tapered+rem": ([*_FAKE, "mitigation=rem"], True),
    "ibm_fake defaults (readout_rem)": (_FAKE, True),
    "ibm_fake excitations (readout_rem)": ([*_FAKE, "ansatz.form=excitations"], True),
    "ibm_fake readout_rem scale": ([*_FAKE, *_SCALE], True),
    "ibm_fake tapered+zne": ([*_FAKE, "mitigation=zne"], True),
}

PROBLEMS = {
    "h2": ["+experiment=vqe"],
    "lih": ["+experiment=vqe", "problem=lih", "problem.bond_length=3.0"],
    "maxcut": ["+experiment=qaoa", "problem.n=5", "problem.degree=2", "ansatz.p=2"],
}


def _train(overrides: list[str], run_dir: Path) -> dict:
    """One run through :func:`qjax.train.run`, in its own directory (run dir = cwd outside a Hydra app)."""
    from hydra import compose, initialize_config_module

    from qjax.train import run

    run_dir.mkdir(parents=True, exist_ok=True)
    here = os.getcwd()
    os.chdir(run_dir)
    try:
        with initialize_config_module(config_module="qjax.conf", version_base="1.3"):
            cfg = compose(
                config_name="config",
                overrides=[*overrides, f"checkpoint.dir={run_dir / 'checkpoints'}", "checkpoint.resume=never"],
            )
        with contextlib.redirect_stdout(io.StringIO()):
            return run(cfg)
    finally:
        os.chdir(here)


def _metrics(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _row(problem: str, method: str, seed: int, result: dict, run_dir: Path, wall: float) -> dict:
    steps = _metrics(run_dir)
    row = {
        "problem": problem,
        "method": method,
        "seed": seed,
        "status": "ok",
        "energy": result.get("energy"),
        "exact": result.get("exact_energy"),
        "error": result.get("error"),
        "energy_unmitigated": result.get("energy_unmitigated"),
        "step_s": statistics.median(r["wall_time_s"] for r in steps) if steps else None,
        "total_s": wall,
        "steps": result.get("steps"),
        "queue_s": None,
        "jobs": result.get("num_jobs", 0),
        "shots": result.get("shots_total", 0),
        "qpu_s": result.get("qpu_seconds_estimated", 0.0),
        "final_shots": result.get("final_shots"),
        "energy_std": result.get("energy_std"),
        "two_qubit_gates": result.get("two_qubit_gates"),
    }
    if row["energy_unmitigated"] is not None and row["exact"] is not None:
        row["error_unmitigated"] = row["energy_unmitigated"] - row["exact"]
    if "approx_ratio" in result:
        row["approx_ratio"] = result["approx_ratio"]
        if row["energy_unmitigated"] is not None:
            total = result["max_cut"] * 2 + result["exact_energy"]  # W = exact + 2·max cut
            row["approx_ratio_unmitigated"] = (total - row["energy_unmitigated"]) / 2 / result["max_cut"]
    return row


def classical_rows(problem: str) -> list[dict]:
    """The classical heuristic(s) and the exact answer of ``problem`` (no training, one row each)."""
    from hydra import compose, initialize_config_module

    from qjax.config import validate
    from qjax.experiments.build import build_experiment
    from qjax.problems.base import classical_energy

    with initialize_config_module(config_module="qjax.conf", version_base="1.3"):
        rc = validate(compose(config_name="config", overrides=PROBLEMS[problem]))
    experiment = build_experiment(rc)
    exact = experiment.problem.exact_energy
    t0 = time.perf_counter()  # the heuristic's own time, not the Hamiltonian's construction
    rows = []
    if problem == "maxcut":
        from qjax.experiments.build import maxcut_graph
        from qjax.problems import maxcut

        graph = maxcut_graph(rc.problem)
        best, _ = maxcut.brute_force(graph)
        heuristics = [("greedy", maxcut.greedy_cut)]
        with contextlib.suppress(ImportError):
            import cvxpy  # noqa: F401

            heuristics.append(("goemans_williamson", maxcut.goemans_williamson))
        for name, solve in heuristics:
            t = time.perf_counter()
            cut = solve(graph, seed=0)[0]
            rows.append(
                {
                    "problem": problem,
                    "method": f"classical ({name})",
                    "seed": 0,
                    "status": "ok",
                    "energy": graph.total_weight - 2 * cut,
                    "exact": exact,
                    "error": (graph.total_weight - 2 * cut) - exact,
                    "approx_ratio": cut / best,
                    "total_s": time.perf_counter() - t,
                    "jobs": 0,
                    "shots": 0,
                    "qpu_s": 0.0,
                }
            )
    else:
        energy, name = classical_energy(experiment.problem)
        rows.append(
            {
                "problem": problem,
                "method": f"classical ({name})",
                "seed": 0,
                "status": "ok",
                "energy": energy,
                "exact": exact,
                "error": energy - exact,
                "total_s": time.perf_counter() - t0,
                "jobs": 0,
                "shots": 0,
                "qpu_s": 0.0,
            }
        )
    rows.append(
        {
            "problem": problem,
            "method": "exact",
            "seed": 0,
            "status": "ok",
            "energy": exact,
            "exact": exact,
            "error": 0.0,
            "approx_ratio": 1.0 if problem == "maxcut" else None,
            "jobs": 0,
            "shots": 0,
            "qpu_s": 0.0,
        }
    )
    return rows


def _stats(values: list) -> tuple[float | None, float | None]:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


SUMMARY_KEYS = (
    "error",
    "error_unmitigated",
    "approx_ratio",
    "approx_ratio_unmitigated",
    "step_s",
    "total_s",
    "jobs",
    "shots",
    "qpu_s",
    "two_qubit_gates",
)


def summarise(rows: list[dict]) -> list[dict]:
    """One row per (problem, method): mean and std over seeds of every figure, plus failures."""
    out = []
    for key in dict.fromkeys((r["problem"], r["method"]) for r in rows):
        group = [r for r in rows if (r["problem"], r["method"]) == key]
        ok = [r for r in group if r["status"] == "ok"]
        entry = {"problem": key[0], "method": key[1], "runs": len(ok), "failed": len(group) - len(ok), "queue_s": "n/a"}
        if len(ok) < len(group):
            entry["first_failure"] = next(r["status"] for r in group if r["status"] != "ok")
        for k in SUMMARY_KEYS:
            entry[k], entry[f"{k}_std"] = _stats([r.get(k) for r in ok])
        out.append(entry)
    return out


def _fmt(mean, std, digits: int = 3, sci: bool = False) -> str:
    if mean is None:
        return ""
    text = f"{mean:.{digits}e}" if sci else f"{mean:.{digits}g}" if abs(mean) >= 1e-3 or mean == 0 else f"{mean:.2e}"
    return text if not std else f"{text} ± {std:.1e}" if sci else f"{text} ± {std:.2g}"


def markdown(summary: list[dict]) -> str:
    head = (
        "| problem | method | runs | error vs exact | error unmitigated | approx. ratio | step (s) | run (s) "
        "| queue (s) | jobs | shots | QPU s (est.) | 2q gates |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for e in summary:
        status = str(e["runs"]) + (f" ({e['failed']} failed: {e.get('first_failure', '')[:80]})" if e["failed"] else "")
        lines.append(
            "| "
            + " | ".join(
                [
                    e["problem"],
                    e["method"],
                    status,
                    _fmt(e["error"], e["error_std"], sci=True),
                    _fmt(e["error_unmitigated"], e["error_unmitigated_std"], sci=True),
                    _fmt(e["approx_ratio"], e["approx_ratio_std"]),
                    _fmt(e["step_s"], e["step_s_std"]),
                    _fmt(e["total_s"], e["total_s_std"]),
                    e["queue_s"],
                    _fmt(e["jobs"], e["jobs_std"]),
                    _fmt(e["shots"], e["shots_std"]),
                    _fmt(e["qpu_s"], e["qpu_s_std"]),
                    _fmt(e["two_qubit_gates"], e["two_qubit_gates_std"]),
                ]
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


def plot(summary: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problems = list(dict.fromkeys(e["problem"] for e in summary))
    fig, axes = plt.subplots(1, len(problems), figsize=(6 * len(problems), 4), squeeze=False)
    for ax, problem in zip(axes[0], problems):
        entries = [e for e in summary if e["problem"] == problem and e["error"] is not None and e["method"] != "exact"]
        names = [e["method"] for e in entries]
        errors = [max(abs(e["error"]), 1e-8) for e in entries]
        spread = [e["error_std"] or 0.0 for e in entries]
        ax.bar(range(len(names)), errors, yerr=spread, color="tab:blue", label="error vs exact")
        raw = [(i, abs(e["error_unmitigated"])) for i, e in enumerate(entries) if e["error_unmitigated"] is not None]
        if raw:
            ax.scatter([i for i, _ in raw], [v for _, v in raw], color="tab:red", zorder=3, label="unmitigated")
        if problem == "h2":
            ax.axhline(1.6e-3, color="k", ls=":", lw=1, label="chemical accuracy")
        ax.set_yscale("log")
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("|energy − exact|")
        ax.set_title(problem)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=None, help="training steps on simulators (default: experiment's)")
    parser.add_argument("--hardware-steps", type=int, default=20, help="training steps on job-based backends")
    parser.add_argument("--shots", type=int, default=4096, help="shots per circuit on job-based backends")
    parser.add_argument("--out", type=Path, default=Path("benchmark_baselines"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    from qjax.errors import TrainingInterrupted

    rows: list[dict] = []
    for problem in args.problems:
        rows += classical_rows(problem)
        for method in args.methods:
            extra, hardware = METHODS[method]
            steps = args.hardware_steps if hardware else args.steps
            for seed in range(args.seeds):
                overrides = [*PROBLEMS[problem], *extra, f"seed={seed}"]
                if steps is not None:
                    overrides.append(f"trainer.steps={steps}")
                if hardware:
                    overrides += [f"backend.shots={args.shots}", f"backend.seed_simulator={seed}"]
                # a Hydra override value (checkpoint.dir) cannot hold spaces or parentheses: "defaults (readout_rem)"
                slug = "".join(c if c.isalnum() or c in "+-_" else "_" for c in method)
                run_dir = args.out / "runs" / problem / slug / f"seed{seed}"
                t0 = time.perf_counter()
                try:
                    result = _train(overrides, run_dir)
                except TrainingInterrupted:  # Ctrl-C / SIGTERM stops the harness, not just this run
                    raise
                except Exception as exc:  # noqa: BLE001 - a method that cannot run is reported, not fatal
                    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    rows.append(
                        {
                            "problem": problem,
                            "method": method,
                            "seed": seed,
                            "status": f"{type(exc).__name__}: {message}",
                        }
                    )
                    print(f"{problem:7s} {method:22s} seed {seed}: FAILED {message}", flush=True)
                    continue
                row = _row(problem, method, seed, result, run_dir, time.perf_counter() - t0)
                rows.append(row)
                print(
                    f"{problem:7s} {method:22s} seed {seed}: error {row['error']:+.3e}"
                    + (f" (unmitigated {row['error_unmitigated']:+.3e})" if "error_unmitigated" in row else "")
                    + f", {row['total_s']:.1f} s, {row['jobs']} jobs",
                    flush=True,
                )

    fields = list(dict.fromkeys(k for r in rows for k in r))
    with open(args.out / "runs.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    summary = summarise(rows)
    with open(args.out / "summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for e in summary for k in e)))
        writer.writeheader()
        writer.writerows(summary)
    table = markdown(summary)
    (args.out / "summary.md").write_text(table)
    plot(summary, args.out / "summary.png")
    print(table)
    print(f"runs.csv, summary.csv, summary.md, summary.png in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
