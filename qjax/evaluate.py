"""Evaluate a finished run's final parameters on another backend.

``python -m qjax.evaluate run_dir=<finished run> backend=ibm_fake mitigation=zne``
rebuilds the run's experiment from its manifest (same problem, ansatz, seed and
precision), evaluates ``final_params`` with the experiment's own objective and
report (VQE: energy against exact; QAOA: cut figures; classifier: accuracies) on the
chosen backend and writes this invocation's own ``result.json`` and ``manifest.json``
(Hydra's run directory; the evaluated run is left untouched). Job journal, events
and cache go to ``state/`` beside them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from qjax.cli.errors import exit_on_user_errors, refuse_secrets_on_command_line
from qjax.errors import ConfigError, QjaxError
from qjax.library_logs import quiet_libraries

__all__ = ["evaluate", "main", "CHOSEN"]

#: Groups this command chooses; everything else comes from the evaluated run's config.
CHOSEN = ("backend", "mitigation", "budget")

#: Groups that define the trained circuit: taken from the evaluated run's config with its ``auto`` values resolved.
CIRCUIT_GROUPS = ("problem", "ansatz")


def evaluate(cfg: DictConfig) -> dict:
    """Evaluate ``cfg.run_dir``'s final parameters on ``cfg.backend``; returns the ``result.json`` dict."""
    from qjax.cli import session as sessions
    from qjax.config import to_container, validate
    from qjax.resources import preflight
    from qjax.training.records import load_run

    run_dir, out = _evaluated_dir(cfg), sessions.output_dir(create=True)
    run = load_run(run_dir)
    chosen: Any = OmegaConf.to_container(cfg, resolve=True)
    merged = {**run.config, **{k: chosen[k] for k in CHOSEN}}
    # the circuit the run trained: its `auto`s (problem.taper, ansatz.form) as ITS backend resolved them, not
    # as this one would (a hardware run's tapered 1-qubit H2 stays tapered on backend=simulator)
    trained = to_container(validate(run.config))
    merged.update({group: trained[group] for group in CIRCUIT_GROUPS})
    merged["checkpoint"] = {**run.config.get("checkpoint", {}), "dir": str(out / "state")}
    rc = validate(merged)
    preflight(rc)
    session = sessions.start(
        rc,
        out,
        config=to_container(rc),
        state_dir=rc.checkpoint.dir or str(out / "state"),
        gradient="auto",
        manifest_extra={"evaluated_run": str(run_dir.resolve())},
    )
    params = _final_params(run, run_dir, session.experiment)
    result = {
        "evaluated_run": str(run_dir.resolve()),
        "experiment": rc.experiment,
        "problem": session.problem.name,
        "backend": rc.backend.name,
        "mitigation": rc.mitigation.name,
        "final_params": params,
        **_figures(session, params),
        "trained_energy": run.result.get("energy"),
        "trained_backend": run.result.get("backend"),
    }
    result = session.report(params, result)
    result.update({"wall_time_s": session.elapsed(), "num_jobs": 0, "shots_total": 0, **session.usage()})
    session.write_result(result)
    session.record()
    print(_summary(session, run_dir, result), flush=True)
    return result


def _evaluated_dir(cfg: DictConfig) -> Path:
    """``cfg.run_dir``, relative to where the command was started."""
    from hydra.core.hydra_config import HydraConfig

    from qjax.config import secret_keys

    if secret_keys(cfg):
        raise ConfigError(
            f"{secret_keys(cfg)[0]}: credentials are never taken from the config; "
            "set QISKIT_IBM_TOKEN or save a Qiskit account"
        )
    run_dir = Path(cfg.run_dir).expanduser()
    if not run_dir.is_absolute():
        run_dir = Path(HydraConfig.get().runtime.cwd if HydraConfig.initialized() else ".") / run_dir
    return run_dir


def _final_params(run, run_dir: Path, experiment):
    """The run's ``final_params``, checked against the parameters its rebuilt experiment trains."""
    import numpy as np

    params = np.asarray(run.final_params)
    expected = tuple(np.shape(experiment.initial_params))
    if params.shape != expected:
        raise QjaxError(
            f"{run_dir}: final_params has shape {params.shape} but the experiment rebuilt from its config "
            f"has {expected[0]} parameters; was it written by another qjax version?"
        )
    return params


def _figures(session, params) -> dict:
    """Loss, energy and the objective's report at ``params``: one job on a job-based backend."""
    import jax.numpy as jnp

    if session.objective.report is not None:
        final = session.objective.report(params)
        return session.figures(params, final["energy"], final)
    return session.figures(params, float(session.objective.value(jnp.asarray(params))), {})


def _summary(session, run_dir: Path, result: dict) -> str:
    rc = session.rc
    extra = f", unmitigated {result['energy_unmitigated']:.7f}" if "energy_unmitigated" in result else ""
    trained = result["trained_energy"]
    trained = f"{trained:.7f}" if isinstance(trained, (int, float)) else "no energy recorded"
    return (
        f"evaluate {run_dir.name} on {rc.backend.name} (mitigation={rc.mitigation.name}): "
        f"{session.outcome(result)}{extra} (trained on {result['trained_backend']}: {trained}); "
        f"results in {session.run_dir}"
    )


@hydra.main(config_path="pkg://qjax.conf", config_name="evaluate", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> None:
    quiet_libraries()
    exit_on_user_errors(evaluate, cfg)


def main() -> None:
    """Console entry point (``qjax-evaluate`` / ``python -m qjax.evaluate``)."""
    refuse_secrets_on_command_line(sys.argv[1:])
    _hydra_main()


if __name__ == "__main__":
    main()
