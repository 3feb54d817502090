"""One run session, shared by ``python -m qjax.train`` and ``python -m qjax.evaluate``.

:func:`start` turns a validated :class:`~qjax.schemas.RunConfig` into a :class:`RunSession`:
JAX precision and compilation cache, the experiment, the backend (with its fallback
options), the objective (the experiment's own when it has one) and the manifest
skeleton. The session writes the run's records: ``manifest.json`` (:meth:`RunSession.record`)
and ``result.json`` (:meth:`RunSession.write_result`), and turns final parameters into the
experiment's figures (:meth:`RunSession.figures`) and summary line (:meth:`RunSession.outcome`).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("qjax")

__all__ = [
    "RunSession",
    "start",
    "enable_jax",
    "fallback_options",
    "make_run_backend",
    "make_objective",
    "manifest_skeleton",
    "record_backend",
    "usage",
    "output_dir",
    "scrub_hydra_files",
    "CHEMICAL_ACCURACY_HA",
]

CHEMICAL_ACCURACY_HA = 1.6e-3


def output_dir(create: bool = False) -> Path:
    """This invocation's directory: Hydra's run (or sweep member) directory, else the working directory.

    In a multi-process run (:mod:`qjax.cli.distributed`, joined here, first) only process 0 writes the
    run's records there; the others write theirs into a scratch directory of their own."""
    from hydra.core.hydra_config import HydraConfig

    from qjax.cli.distributed import is_primary, scratch_dir, start_distributed

    start_distributed()
    out = Path(HydraConfig.get().runtime.output_dir) if HydraConfig.initialized() else Path.cwd()
    if not is_primary():
        out = scratch_dir()
    if create:
        out.mkdir(parents=True, exist_ok=True)
    return out


def scrub_hydra_files(keys: list[str]) -> None:
    """Remove secrets (``keys``) from the run's ``.hydra/*.yaml`` (Hydra wrote them before we ran).

    The ``ScrubSecrets`` callback already did when it is configured; this covers a task run without it.
    """
    from hydra.core.hydra_config import HydraConfig

    from qjax.config import scrub_saved_config

    if not HydraConfig.initialized() or not keys:
        return
    hydra = HydraConfig.get()
    if hydra.output_subdir is None:
        return
    hydra_dir = Path(hydra.runtime.output_dir) / hydra.output_subdir
    for path in hydra_dir.glob("*.yaml"):
        scrub_saved_config(path)


def enable_jax(precision: str):
    """Compilation cache on, x64 as ``precision`` says (set both ways: an earlier in-process sweep member may have
    switched it on); returns the state-vector dtype."""
    import jax

    from qjax.cli.distributed import start_distributed
    from qjax.jaxcache import enable_compilation_cache

    start_distributed()  # before JAX picks its devices (idempotent: output_dir may have joined already)
    # Keep XLA executables across runs: $QJAX_CACHE_DIR/jax, default ~/.cache/qjax/jax;
    # an empty QJAX_CACHE_DIR turns it off, JAX_COMPILATION_CACHE_DIR wins.
    enable_compilation_cache()
    jax.config.update("jax_enable_x64", precision == "double")
    import jax.numpy as jnp

    return jnp.complex128 if precision == "double" else jnp.complex64


def fallback_options(rc, dtype) -> dict[str, dict]:
    """What a fallback backend (``backend.fallback``) is built with: the run's sampling settings on a device that
    fits (``ibm_fake``: the least busy fake device, 4096 shots unless the run sets them), or the run's dtype."""
    return {
        "simulator": {"dtype": dtype},
        "ibm_fake": {
            "device": "least_busy",
            "shots": rc.backend.shots or 4096,
            "seed": rc.seed,
            "seed_simulator": rc.backend.seed_simulator,
            "mitigation": rc.mitigation,
        },
    }


def make_run_backend(rc, dtype, state_dir: str):
    """The backend ``rc.backend`` names, its job journal and cache in ``state_dir``."""
    from qjax.backends import make_backend

    options = {k: v for k, v in vars(rc.backend).items() if k != "name"}
    return make_backend(
        rc.backend.name,
        dtype=dtype,
        mitigation=rc.mitigation,
        seed=rc.seed,
        state_dir=state_dir,
        budget=rc.budget,
        fallback_options=fallback_options(rc, dtype),
        **options,
    )


def make_objective(experiment, backend, gradient: str):
    """The experiment's own objective (e.g. a classifier's loss over its data set), else ``<observable>``."""
    if experiment.objective is not None:
        return experiment.objective(backend, gradient)
    return backend.objective(experiment.circuit, experiment.problem.observable, gradient=gradient)


def usage(backend) -> dict:
    """What the run spent on a job-based backend over all its invocations (from ``jobs.jsonl``)."""
    runner = backend.runner
    if runner is None:
        return {}
    spent = runner.totals()
    return {"num_jobs": spent["jobs"], "shots_total": spent["shots"], "qpu_seconds_estimated": spent["qpu_seconds"]}


def manifest_skeleton(rc, config: dict, experiment, backend, checkpoint_dir: str, **extra: Any) -> dict:
    """``manifest.json`` before the backend has run anything; ``extra`` keys (e.g. ``config_hash``,
    ``evaluated_run``) go after ``config``."""
    from qjax.training.records import circuit_summary, code_version, package_versions

    return {
        "seed": rc.seed,
        "config": config,
        **extra,
        "backend": backend.describe(),
        "packages": package_versions(),
        "code_version": code_version(),
        "circuit": circuit_summary(experiment.circuit),
        "mitigation": {"name": rc.mitigation.name, **dataclasses.asdict(rc.mitigation)},
        "tapering": None if experiment.problem.tapering is None else experiment.problem.tapering.describe(),
        "reference": None
        if experiment.reference is None
        else {"state": experiment.reference.name, "energy": experiment.reference.energy},
        "calibration": None,
        "job_ids": [],
        "request_ids": [],
        "checkpoint_dir": checkpoint_dir,
        "fallbacks": [],
    }


def record_backend(manifest: dict, backend, run_dir: Path) -> None:
    """Put the backend's facts (transpiled circuit, calibration, job ids, fallbacks) into the manifest; write it."""
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


@dataclasses.dataclass
class RunSession:
    """A run being made: what :func:`start` built, and the records it writes into ``run_dir``."""

    rc: Any
    run_dir: Path
    experiment: Any
    backend: Any
    objective: Any
    manifest: dict
    state_dir: str
    started: float = dataclasses.field(default_factory=time.perf_counter)

    @property
    def problem(self):
        return self.experiment.problem

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def record(self) -> None:
        """Write ``manifest.json`` with the backend's facts so far."""
        record_backend(self.manifest, self.backend, self.run_dir)

    def usage(self) -> dict:
        return usage(self.backend)

    def write_result(self, result: dict) -> None:
        from qjax.training.records import write_json

        write_json(self.run_dir / "result.json", result)

    def figures(self, params, loss, final: dict) -> dict:
        """``result.json``'s science at ``params``: ``loss``, ``energy`` (``final``'s, else the loss), the rest of
        ``final`` (the objective's report), ``exact_energy`` and ``error``."""
        energy = final.get("energy", loss)
        exact = self.problem.exact_energy
        return {
            "loss": loss,
            "energy": energy,
            **{k: v for k, v in final.items() if k != "energy"},
            "exact_energy": exact,
            "error": None if exact is None else energy - exact,
        }

    def report(self, params, result: dict) -> dict:
        """``result`` with the experiment's own fields (QAOA's cuts, a classifier's accuracies) added."""
        if self.experiment.report is not None:
            result.update(self.experiment.report(params, result))
        return result

    def outcome(self, result: dict) -> str:
        """The summary line's description of ``result``: the experiment's, else energy against exact."""
        problem, unit = self.problem, " Ha" if self.problem.electrons is not None else ""
        if self.experiment.summary is not None:
            return self.experiment.summary(result)
        if problem.exact_energy is None:
            return f"{problem.name}: {self.experiment.loss_name} {result['loss']:.7f}"
        within = unit and abs(result["error"]) <= CHEMICAL_ACCURACY_HA
        return (
            f"{problem.name}: energy {result['energy']:.7f}{unit}, exact {problem.exact_energy:.7f}{unit}, "
            f"error {result['error']:.2e}{unit}{' (within chemical accuracy)' if within else ''}"
        )


def start(
    rc, run_dir: Path, *, config: dict, state_dir: str, gradient: str, manifest_extra: dict | None = None
) -> RunSession:
    """Build the session for validated ``rc``: JAX, experiment, backend, objective, manifest (written at once).

    ``state_dir`` (checkpoints, job journal, cache) is checked writable before the backend is built;
    ``manifest_extra`` (e.g. ``config_hash``, ``evaluated_run``) goes into the manifest after ``config``.
    """
    from qjax.experiments.build import build_experiment
    from qjax.training.checkpoint import check_writable

    dtype = enable_jax(rc.precision)
    started = time.perf_counter()
    run_dir.mkdir(parents=True, exist_ok=True)
    experiment = build_experiment(rc)
    check_writable(state_dir)  # before the backend is built and anything compiled: one line, at once
    backend = make_run_backend(rc, dtype, state_dir)
    backend.reference = experiment.reference  # REM's reference state, where the run has one
    objective = make_objective(experiment, backend, gradient)
    manifest = manifest_skeleton(rc, config, experiment, backend, state_dir, **(manifest_extra or {}))
    session = RunSession(rc, run_dir, experiment, backend, objective, manifest, state_dir, started)
    session.record()
    return session
