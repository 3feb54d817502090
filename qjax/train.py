"""The command-line entry point: ``python -m qjax.train +experiment=vqe``.

A thin Hydra layer over the Python API: validate the config, build the
experiment, ask the configured backend for an objective, run :func:`qjax.fit`
with checkpoints in a deterministic directory, and write the run directory
(``metrics.jsonl``, ``result.json``, ``manifest.json``, ``convergence.png``).
User errors end with one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import os
import sys
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from qjax.errors import BackendUnavailable, BudgetExceeded, QjaxError, TrainingDiverged, TrainingInterrupted

log = logging.getLogger("qjax")

CHEMICAL_ACCURACY_HA = 1.6e-3


def _run_dir() -> Path:
    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return Path.cwd()


def run(cfg: DictConfig) -> dict:
    """Train one configuration; returns the ``result.json`` dict."""
    from qjax.config import config_hash, default_checkpoint_dir, secret_keys, to_container, validate
    from qjax.resources import preflight

    if secret_keys(cfg):
        _scrub_hydra_files(secret_keys(cfg))
    rc = validate(cfg)  # before anything heavy: bad config fails fast
    preflight(rc)  # and so does a run this machine has not the memory for
    quiet_libraries()
    import jax

    from qjax.jaxcache import enable_compilation_cache

    # Keep XLA executables across runs: $QJAX_CACHE_DIR/jax, default ~/.cache/qjax/jax;
    # an empty QJAX_CACHE_DIR turns it off, JAX_COMPILATION_CACHE_DIR wins.
    enable_compilation_cache()
    # set both ways: an earlier in-process sweep member may have switched x64 on
    jax.config.update("jax_enable_x64", rc.precision == "double")
    import jax.numpy as jnp

    from qjax.backends import make_backend
    from qjax.training.checkpoint import CheckpointOptions, check_writable
    from qjax.experiments.build import build_experiment
    from qjax.training.optimizers import build_optimizer
    from qjax.problems.base import classical_energy
    from qjax.training.records import (MetricsWriter, circuit_summary, code_version, package_versions,
                               plot_convergence, write_json)
    from qjax.training.fit import fit
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    # What is imported by now lives for the whole run: take it out of the cyclic GC's
    # sweeps, which otherwise land in the first step's tracing (0.15-0.25 s measured in
    # scripts/benchmark.py's first call with PennyLane and Qiskit loaded).
    gc.collect()
    gc.freeze()
    started = time.perf_counter()
    run_dir = _run_dir()
    run_dir.mkdir(parents=True, exist_ok=True)
    chash = config_hash(cfg)
    ckpt_dir = rc.checkpoint.dir or default_checkpoint_dir(cfg)
    ckpt = CheckpointOptions(dir=os.path.abspath(ckpt_dir), every=rc.checkpoint.every, keep=rc.checkpoint.keep,
                             resume=rc.checkpoint.resume, config_hash=chash, sync=rc.backend.hardware)

    experiment = build_experiment(rc)
    problem = experiment.problem
    # before the backend is built and anything compiled: an unusable checkpoint.dir is one line, at once
    check_writable(ckpt.dir)
    dtype = jnp.complex128 if rc.precision == "double" else jnp.complex64
    backend_options = {k: v for k, v in vars(rc.backend).items() if k != "name"}
    # what a fallback backend is built with: the same sampling settings, a device that fits
    fallback_options = {"simulator": {"dtype": dtype},
                        "ibm_fake": {"device": "least_busy", "shots": rc.backend.shots or 4096, "seed": rc.seed,
                                     "seed_simulator": rc.backend.seed_simulator, "mitigation": rc.mitigation}}
    backend = make_backend(rc.backend.name, dtype=dtype, mitigation=rc.mitigation, seed=rc.seed,
                           state_dir=ckpt.dir, budget=rc.budget, fallback_options=fallback_options,
                           **backend_options)
    if experiment.objective is not None:  # a loss that is not one observable (e.g. a classifier's)
        objective = experiment.objective(backend, rc.gradient)
    else:
        objective = backend.objective(experiment.circuit, problem.observable, gradient=rc.gradient)
    optimizer = build_optimizer(rc.optimizer, rc.schedule, rc.trainer.steps)

    manifest = {
        "seed": rc.seed,
        "config": to_container(cfg),
        "config_hash": chash,
        "backend": backend.describe(),
        "packages": package_versions(),
        "code_version": code_version(),
        "circuit": circuit_summary(experiment.circuit),
        "mitigation": {"name": rc.mitigation.name, **dataclasses.asdict(rc.mitigation)},
        "calibration": None,
        "job_ids": [],
        "request_ids": [],
        "checkpoint_dir": ckpt.dir,
        "fallbacks": [],
        "run_dir": str(run_dir.resolve()),
    }
    _record_backend(manifest, backend, run_dir)
    log.info("%s on %s: %d qubits, %d parameters, %d Pauli terms; checkpoints in %s", rc.experiment,
             rc.backend.name, experiment.circuit.num_wires, experiment.circuit.num_params,
             len(problem.observable.terms), ckpt.dir)

    writer = MetricsWriter(run_dir / "metrics.jsonl")
    tracker = None
    if rc.extras.get("logger") is not None:  # logger=csv|tensorboard|mlflow
        from qjax.training.loggers import make_logger

        tracker = make_logger(rc.extras["logger"])
        tracker.start(to_container(rc), str(run_dir))
    # a live bar on a terminal only (disable=None); logs and pipes get the periodic log lines
    progress = tqdm(total=rc.trainer.steps, desc=rc.experiment, unit="step", disable=None, leave=False,
                    dynamic_ncols=True)

    def on_metrics(rows: list[dict]) -> None:
        writer(rows)
        for row in rows if tracker is not None else ():
            tracker.log(row)
        progress.update(len(rows))
        if rows:
            progress.set_postfix_str(f"{experiment.loss_name} {rows[-1]['loss']:.6f}", refresh=False)

    try:
        with logging_redirect_tqdm():  # log lines print above the bar instead of through it
            outcome = fit(objective, experiment.initial_params, optimizer, steps=rc.trainer.steps, seed=rc.seed,
                          checkpoint=ckpt, tol=rc.trainer.tol, patience=rc.trainer.patience,
                          log_every=rc.trainer.log_every, loss_name=experiment.loss_name, on_metrics=on_metrics,
                          job_stats=backend.stats)
            final = objective.report(outcome.params) if objective.report is not None else {}
    except TrainingDiverged as exc:
        _record_backend(manifest, backend, run_dir)
        kept = f" (checkpoints saved before step {exc.step} are kept)" if exc.step >= ckpt.every else ""
        raise TrainingDiverged(f"training diverged: {exc.detail}; {_divergence_fix(exc, rc)}{kept}", step=exc.step,
                               quantity=exc.quantity, detail=exc.detail) from None
    except BackendUnavailable:
        _record_backend(manifest, backend, run_dir)
        energy, method = classical_energy(problem)
        log.error("!!! no backend could run the circuit; reporting the classical heuristic (%s) energy %.7f "
                  "instead. Rerun the same command later to continue from the checkpoint.", method, energy)
        write_json(run_dir / "result.json", {
            "experiment": rc.experiment, "problem": problem.name, "backend": rc.backend.name,
            "status": "backend_unavailable", "energy": energy, "energy_source": method,
            "exact_energy": problem.exact_energy, "error": _error(energy, problem.exact_energy),
            "wall_time_s": time.perf_counter() - started, **_usage(backend)})
        raise
    except QjaxError:
        _record_backend(manifest, backend, run_dir)
        raise
    finally:
        progress.close()
        writer.close()

    stats = backend.stats()
    energy = final.get("energy", outcome.loss)
    result = {
        "experiment": rc.experiment,
        "problem": problem.name,
        "backend": rc.backend.name,
        "steps": outcome.steps,
        "wall_time_s": time.perf_counter() - started,
        "num_jobs": outcome.metrics[-1]["num_jobs"] if outcome.metrics else stats["num_jobs"],
        "shots_total": stats["shots_total"],
        **_usage(backend),
        "final_params": outcome.params,
        "loss": outcome.loss,
        "energy": energy,
        **{k: v for k, v in final.items() if k != "energy"},
        "exact_energy": problem.exact_energy,
        "error": _error(energy, problem.exact_energy),
        "converged": outcome.converged,
        "resumed_from": outcome.resumed_from,
        "already_finished": outcome.already_finished,
    }
    if stats.get("fallbacks"):
        result["fallbacks"] = stats["fallbacks"]
    if experiment.report is not None:
        result.update(experiment.report(outcome.params, result))
    write_json(run_dir / "result.json", result)
    _record_backend(manifest, backend, run_dir)
    if tracker is not None:
        tracker.finish(result)
    molecular = problem.electrons is not None  # energies in Hartree; spin models are in units of their couplings
    unit = " Ha" if molecular else ""
    if outcome.metrics:
        plot_convergence(outcome.metrics, run_dir / "convergence.png", exact=problem.exact_energy,
                         label=experiment.loss_name, title=f"{rc.experiment} {problem.name} on {rc.backend.name}",
                         target=(CHEMICAL_ACCURACY_HA, "chemical accuracy (1.6 mHa)") if molecular else None)
    if "energy_unmitigated" in result and problem.exact_energy is not None:
        print(f"  mitigation={rc.mitigation.name}: energy {energy:.7f}{unit} (error {result['error']:.2e}), "
              f"unmitigated {result['energy_unmitigated']:.7f}{unit} "
              f"(error {result['energy_unmitigated'] - problem.exact_energy:.2e})", flush=True)
    if experiment.summary is not None:
        outcome_text = experiment.summary(result)
    elif problem.exact_energy is None:
        outcome_text = f"{problem.name}: {experiment.loss_name} {result['loss']:.7f}"
    else:
        accuracy = " (within chemical accuracy)" if molecular and abs(result["error"]) <= CHEMICAL_ACCURACY_HA else ""
        outcome_text = (f"{problem.name}: energy {result['energy']:.7f}{unit}, exact {problem.exact_energy:.7f}{unit}, "
                        f"error {result['error']:.2e}{unit}{accuracy}")
    again = "already finished, not trained again; " if outcome.already_finished else ""
    print(f"{rc.experiment} {outcome_text}; {again}{outcome.steps} steps, {result['wall_time_s']:.1f} s; "
          f"results in {run_dir}", flush=True)
    return result


def _divergence_fix(exc: TrainingDiverged, rc) -> str:
    """The config keys to change after ``exc``, with their current values."""
    lr = f"optimizer.lr (now {rc.optimizer.lr:g})"
    if exc.quantity == "loss":
        return f"check the problem, or lower {lr} if the steps before were already erratic"
    return f"lower {lr}" + ("" if rc.schedule.name == "constant" else f" or change schedule={rc.schedule.name}")


def _error(energy: float, exact: float | None) -> float | None:
    """``energy - exact``, or ``None`` for a problem without an exact answer."""
    return None if exact is None else energy - exact


def _usage(backend) -> dict:
    """What the run spent on a job-based backend over all its invocations (from ``jobs.jsonl``)."""
    runner = getattr(backend, "runner", None)
    if runner is None:
        return {}
    spent = runner.totals()
    return {"num_jobs": spent["jobs"], "shots_total": spent["shots"], "qpu_seconds_estimated": spent["qpu_seconds"]}


def _record_backend(manifest: dict, backend, run_dir: Path) -> None:
    """Put the backend's facts (transpiled circuit, calibration, job ids, fallbacks) into the manifest."""
    from qjax.training.records import write_json

    described = backend.describe()
    stats = backend.stats()
    manifest["backend"] = {k: v for k, v in described.items() if k not in ("transpiled", "calibration")}
    if "transpiled" in described:
        manifest["circuit"]["transpiled"] = described["transpiled"]
    manifest["calibration"] = described.get("calibration")
    manifest["job_ids"] = stats.get("job_ids", [])
    manifest["request_ids"] = stats.get("request_ids", [])  # backend=remote: the service's ids of our submissions
    manifest["fallbacks"] = stats.get("fallbacks", [])
    write_json(run_dir / "manifest.json", manifest)


def _scrub_hydra_files(keys: list[str]) -> None:
    """Remove secrets (``keys``) from the run's ``.hydra/*.yaml`` (Hydra wrote them before we ran).

    The ``ScrubSecrets`` callback already did when it is configured; this covers a task run without it.
    """
    from qjax.config import scrub_saved_config

    if not HydraConfig.initialized() or not keys or HydraConfig.get().output_subdir is None:
        return
    hydra_dir = Path(HydraConfig.get().runtime.output_dir) / HydraConfig.get().output_subdir
    for path in hydra_dir.glob("*.yaml"):
        scrub_saved_config(path)


def quiet_libraries() -> None:
    """Orbax logs every file it writes, JAX its TPU probe, Qiskit every transpiler pass and job step."""
    for noisy in ("absl", "jax._src.xla_bridge", "qiskit", "qiskit_ibm_runtime", "qiskit_mitigation", "qiskit_aer",
                  "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    absl = logging.getLogger("absl")
    if not any(isinstance(f, _WithoutTraceback) for f in absl.filters):
        absl.addFilter(_WithoutTraceback())


class _WithoutTraceback(logging.Filter):
    """Log Orbax's background-thread errors as one line: the failure reaches the main thread as a CheckpointError,
    which the CLI reports with the fix; their tracebacks (tensorstore's run to kilobytes) add nothing to it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info or record.exc_text:
            record.msg, record.args = (record.getMessage().splitlines() or [""])[0][:300], None
            record.exc_info, record.exc_text = None, None
        return True


def exit_on_user_errors(task, cfg: DictConfig):
    """Run a CLI ``task(cfg)``; a user-facing error becomes one line on stderr and its exit code.

    Returns what ``task`` returns. Interrupted: 128 + signal; stopped by the budget or with no backend left: 3;
    any other :class:`QjaxError`: 2. A traceback means a bug. In a multirun, a
    member's error is recorded in its ``result.json`` and the sweep goes on; the
    sweep summary lists it and the sweep exits with 2.
    """
    try:
        return task(cfg)
    except TrainingInterrupted as exc:
        print(f"qjax: {exc}", file=sys.stderr, flush=True)
        sys.exit(128 + exc.signum)
    except QjaxError as exc:
        if _in_multirun():
            _record_member_error(exc)
            return None
        stopped = isinstance(exc, (BudgetExceeded, BackendUnavailable))
        print(f"qjax: {'stopped' if stopped else 'error'}: {exc}", file=sys.stderr, flush=True)
        sys.exit(3 if stopped else 2)


def _in_multirun() -> bool:
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _record_member_error(exc: QjaxError) -> None:
    import json

    from qjax.training.records import write_json

    print(f"qjax: error in this sweep member: {exc}", file=sys.stderr, flush=True)
    path = _run_dir() / "result.json"
    result = json.loads(path.read_text()) if path.exists() else {}  # e.g. a classical fallback energy
    write_json(path, {**result, "status": result.get("status", type(exc).__name__), "error_message": str(exc)})


@hydra.main(config_path="pkg://qjax.conf", config_name="config", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> float | None:
    result = exit_on_user_errors(run, cfg)
    # a sweeper that optimises (hparams_search=optuna) minimises what the task returns
    return None if result is None else float(result["loss"])


def refuse_secrets_on_command_line(argv: list[str]) -> None:
    """Exit 2 with one line when an override sets a key named like a secret, before Hydra writes or logs it."""
    from qjax.config import refuse_secret_overrides

    try:
        refuse_secret_overrides(argv)
    except QjaxError as exc:
        print(f"qjax: error: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)


def main() -> None:
    """Console entry point (``qjax-train`` / ``python -m qjax.train``)."""
    refuse_secrets_on_command_line(sys.argv[1:])
    _hydra_main()


if __name__ == "__main__":
    main()
