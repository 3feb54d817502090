"""Evaluate a finished run's final parameters on another backend.

``python -m qjax.evaluate run_dir=<finished run> backend=ibm_fake mitigation=zne``
rebuilds the run's circuit and observable from its manifest (same problem,
ansatz, seed and precision), evaluates ``final_params`` with one job on the
chosen backend and writes this invocation's own ``result.json`` and
``manifest.json`` (Hydra's run directory; the evaluated run is left untouched).
Job journal, events and cache go to ``state/`` beside them.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from qjax.errors import ConfigError, QjaxError

log = logging.getLogger("qjax")

#: Groups this command chooses; everything else comes from the evaluated run's config.
CHOSEN = ("backend", "mitigation", "budget")


def evaluate(cfg: DictConfig) -> dict:
    """Evaluate ``cfg.run_dir``'s final parameters on ``cfg.backend``; returns the ``result.json`` dict."""
    from qjax.config import secret_keys, to_container, validate
    from qjax.training.records import load_run

    if secret_keys(cfg):
        raise ConfigError(f"{secret_keys(cfg)[0]}: credentials are never taken from the config; "
                          "set QISKIT_IBM_TOKEN or save a Qiskit account")
    run_dir = Path(cfg.run_dir).expanduser()
    if not run_dir.is_absolute():
        run_dir = Path(HydraConfig.get().runtime.cwd if HydraConfig.initialized() else ".") / run_dir
    run = load_run(run_dir)
    chosen = OmegaConf.to_container(cfg, resolve=True)
    merged = {**run.config, **{k: chosen[k] for k in CHOSEN}}
    merged["checkpoint"] = {**run.config.get("checkpoint", {}), "dir": str(_out_dir() / "state")}
    rc = validate(merged)
    from qjax.resources import preflight

    preflight(rc)

    import jax

    if rc.precision == "double":
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np

    from qjax.backends import make_backend
    from qjax.experiments.build import build_experiment
    from qjax.train import _record_backend, _usage
    from qjax.training.records import circuit_summary, code_version, package_versions, write_json

    started = time.perf_counter()
    experiment = build_experiment(rc)
    params = np.asarray(run.final_params)
    if params.shape != (experiment.circuit.num_params,):
        raise QjaxError(f"{run_dir}: final_params has shape {params.shape} but the circuit rebuilt from its config "
                        f"has {experiment.circuit.num_params} parameters; was it written by another qjax version?")
    dtype = jnp.complex128 if rc.precision == "double" else jnp.complex64
    options = {k: v for k, v in vars(rc.backend).items() if k != "name"}
    backend = make_backend(rc.backend.name, dtype=dtype, mitigation=rc.mitigation, seed=rc.seed,
                           state_dir=rc.checkpoint.dir, budget=rc.budget, **options)
    problem = experiment.problem
    objective = backend.objective(experiment.circuit, problem.observable, gradient="auto")
    out = _out_dir()
    manifest = {
        "evaluated_run": str(run_dir.resolve()), "seed": rc.seed, "config": to_container(rc),
        "backend": backend.describe(), "packages": package_versions(), "code_version": code_version(),
        "circuit": circuit_summary(experiment.circuit),
        "mitigation": {"name": rc.mitigation.name, **dataclasses.asdict(rc.mitigation)},
        "calibration": None, "job_ids": [], "fallbacks": [], "checkpoint_dir": rc.checkpoint.dir,
    }
    _record_backend(manifest, backend, out)
    if objective.report is not None:
        final = objective.report(params)
    else:
        final = {"energy": float(objective.value(jnp.asarray(params)))}
    result = {
        "evaluated_run": str(run_dir.resolve()), "experiment": rc.experiment, "problem": problem.name,
        "backend": rc.backend.name, "mitigation": rc.mitigation.name, "final_params": params,
        **final, "exact_energy": problem.exact_energy, "error": final["energy"] - problem.exact_energy,
        "trained_energy": run.result.get("energy"), "trained_backend": run.result.get("backend"),
        "wall_time_s": time.perf_counter() - started, "num_jobs": 0, "shots_total": 0, **_usage(backend),
    }
    write_json(out / "result.json", result)
    _record_backend(manifest, backend, out)
    extra = f", unmitigated {final['energy_unmitigated']:.7f}" if "energy_unmitigated" in final else ""
    print(f"evaluate {run_dir.name} on {rc.backend.name} (mitigation={rc.mitigation.name}): energy "
          f"{final['energy']:.7f}{extra}, exact {problem.exact_energy:.7f}, error {result['error']:.2e} "
          f"(trained on {result['trained_backend']}: {result['trained_energy']:.7f}); results in {out}", flush=True)
    return result


def _out_dir() -> Path:
    out = Path(HydraConfig.get().runtime.output_dir) if HydraConfig.initialized() else Path.cwd()
    out.mkdir(parents=True, exist_ok=True)
    return out


@hydra.main(config_path="pkg://qjax.conf", config_name="evaluate", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> None:
    from qjax.train import exit_on_user_errors, quiet_libraries

    quiet_libraries()
    exit_on_user_errors(evaluate, cfg)


def main() -> None:
    """Console entry point (``qjax-evaluate`` / ``python -m qjax.evaluate``)."""
    import sys

    from qjax.train import refuse_secrets_on_command_line

    refuse_secrets_on_command_line(sys.argv[1:])
    _hydra_main()


if __name__ == "__main__":
    main()
