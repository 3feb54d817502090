"""The training half of ``python -m qjax.train``: :func:`qjax.fit` on a :class:`~qjax.cli.session.RunSession`
with checkpoints, ``metrics.jsonl``, an optional logger and a progress bar, then ``result.json``, the
convergence plot and the summary line. A failed run still records what it can (manifest; with no backend
left, the classical heuristic's energy)."""

from __future__ import annotations

import logging
import os

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from qjax.cli.session import CHEMICAL_ACCURACY_HA, RunSession
from qjax.config import legacy_config_hash
from qjax.errors import BackendUnavailable, QjaxError, TrainingDiverged
from qjax.training import optimizers
from qjax.training.checkpoint import CheckpointOptions
from qjax.training.fit import fit
from qjax.training.records import MetricsWriter, plot_convergence

log = logging.getLogger("qjax")

__all__ = ["checkpoint_options", "train", "divergence_fix", "two_qubit_gates"]


def checkpoint_options(rc, default_dir: str, config_hash: str) -> CheckpointOptions:
    """Where and how often the run checkpoints (``checkpoint.dir``, else ``default_dir``); a checkpoint written
    under the hash rule before the config baseline (:func:`qjax.config.legacy_config_hash`) is accepted too."""
    return CheckpointOptions(
        dir=os.path.abspath(rc.checkpoint.dir or default_dir),
        every=rc.checkpoint.every,
        keep=rc.checkpoint.keep,
        resume=rc.checkpoint.resume,
        config_hash=config_hash,
        sync=rc.backend.hardware,
        accepted_hashes=(legacy_config_hash(rc),),
        changed_defaults=changed_defaults(rc),
    )


def changed_defaults(rc) -> dict[str, str]:
    """``{config hash: message}`` for this run with each subset of the hardware defaults (problem.taper,
    ansatz.form, mitigation, backend.final_precision; :mod:`qjax.hardware_defaults`) set back to its old behaviour: a
    checkpoint carrying one of them was written before that default, and the message says how to resume it."""
    import dataclasses
    from itertools import combinations

    from qjax.config import config_hash
    from qjax.schemas import MitigationConfig

    old = []  # (override that resumes the old run, what the value is now, replaced config)
    if getattr(rc.problem, "taper", False) is True:
        old.append(
            ("problem.taper=false", "problem.taper=true", {"problem": dataclasses.replace(rc.problem, taper=False)})
        )
    if getattr(rc.ansatz, "form", None) == "real_amplitudes":
        old.append(
            (
                "ansatz.form=excitations",
                "ansatz.form=real_amplitudes",
                {"ansatz": dataclasses.replace(rc.ansatz, form="excitations")},
            )
        )
    if rc.mitigation.name in ("readout_rem", "readout"):
        old.append(("mitigation=none", f"mitigation={rc.mitigation.name}", {"mitigation": MitigationConfig("none")}))
    if getattr(rc.backend, "final_precision", None) is not None:
        old.append(
            (
                "backend.final_precision=null",
                f"backend.final_precision={rc.backend.final_precision:g}",
                {"backend": dataclasses.replace(rc.backend, final_precision=None)},
            )
        )
    out = {}
    for k in range(1, len(old) + 1):
        for subset in combinations(old, k):
            changes = {key: value for _, _, replaced in subset for key, value in replaced.items()}
            now = ", ".join(n for _, n, _ in subset)
            fix = " ".join(f for f, _, _ in subset)
            out[config_hash(dataclasses.replace(rc, **changes))] = (
                f"this run has {now} (hardware defaults); to resume the old run, add {fix}"
            )
    return out


class _Monitor:
    """Where each step's metrics go: ``metrics.jsonl``, the configured logger, a live bar on a terminal."""

    def __init__(self, session: RunSession):
        rc, self.loss_name = session.rc, session.experiment.loss_name
        self.writer = MetricsWriter(session.run_dir / "metrics.jsonl")
        self.tracker = None
        if rc.extras.get("logger") is not None:  # logger=csv|tensorboard|mlflow
            from qjax.config import to_container
            from qjax.training.loggers import make_logger

            self.tracker = make_logger(rc.extras["logger"])
            self.tracker.start(to_container(rc), str(session.run_dir))
        # a live bar on a terminal only (disable=None); logs and pipes get the periodic log lines
        self.progress = tqdm(
            total=rc.trainer.steps, desc=rc.experiment, unit="step", disable=None, leave=False, dynamic_ncols=True
        )

    def __call__(self, rows: list[dict]) -> None:
        self.writer(rows)
        if self.tracker is not None:
            for row in rows:
                self.tracker.log(row)
        self.progress.update(len(rows))
        if rows:
            self.progress.set_postfix_str(f"{self.loss_name} {rows[-1]['loss']:.6f}", refresh=False)

    def close(self) -> None:
        self.progress.close()
        self.writer.close()


def train(session: RunSession, ckpt: CheckpointOptions) -> dict:
    """Fit, write ``result.json`` and the plot, print the summary line; returns the result."""
    rc, experiment = session.rc, session.experiment
    log.info(
        "%s on %s: %d qubits, %d parameters, %d Pauli terms; checkpoints in %s",
        rc.experiment,
        rc.backend.name,
        experiment.circuit.num_wires,
        experiment.circuit.num_params,
        len(experiment.problem.observable.terms),
        ckpt.dir,
    )
    monitor = _Monitor(session)
    optimizer = optimizers.build_optimizer(rc.optimizer, rc.schedule, rc.trainer.steps)
    try:
        with logging_redirect_tqdm():  # log lines print above the bar instead of through it
            outcome = fit(
                session.objective,
                experiment.initial_params,
                optimizer,
                steps=rc.trainer.steps,
                seed=rc.seed,
                checkpoint=ckpt,
                tol=rc.trainer.tol,
                patience=rc.trainer.patience,
                log_every=rc.trainer.log_every,
                loss_name=experiment.loss_name,
                on_metrics=monitor,
                job_stats=session.backend.stats,
            )
            report = session.objective.report
            final = report(outcome.params) if report is not None else {}
    except QjaxError as exc:
        session.record()
        _failed(session, ckpt, exc)
        raise
    finally:
        monitor.close()
    result = _result(session, outcome, final)
    session.write_result(result)
    session.record()
    if monitor.tracker is not None:
        monitor.tracker.finish(result)
    _finish(session, result, outcome)
    return result


def _failed(session: RunSession, ckpt: CheckpointOptions, exc: QjaxError) -> None:
    """What a failed run adds to its error: the fix for a divergence; with no backend left, a classical energy."""
    if isinstance(exc, TrainingDiverged):
        kept = f" (checkpoints saved before step {exc.step} are kept)" if exc.step >= ckpt.every else ""
        raise TrainingDiverged(
            f"training diverged: {exc.detail}; {divergence_fix(exc, session.rc)}{kept}",
            step=exc.step,
            quantity=exc.quantity,
            detail=exc.detail,
        ) from None
    if isinstance(exc, BackendUnavailable):
        from qjax.problems.base import classical_energy

        problem, rc = session.problem, session.rc
        energy, method = classical_energy(problem)
        log.error(
            "!!! no backend could run the circuit; reporting the classical heuristic (%s) energy %.7f "
            "instead. Rerun the same command later to continue from the checkpoint.",
            method,
            energy,
        )
        exact = problem.exact_energy
        session.write_result(
            {
                "experiment": rc.experiment,
                "problem": problem.name,
                "backend": rc.backend.name,
                "status": "backend_unavailable",
                "energy": energy,
                "energy_source": method,
                "exact_energy": exact,
                "error": None if exact is None else energy - exact,
                "wall_time_s": session.elapsed(),
                **session.usage(),
            }
        )


def divergence_fix(exc: TrainingDiverged, rc) -> str:
    """The config keys to change after ``exc``, with their current values."""
    lr = f"optimizer.lr (now {rc.optimizer.lr:g})"
    if exc.quantity == "loss":
        return f"check the problem, or lower {lr} if the steps before were already erratic"
    return f"lower {lr}" + ("" if rc.schedule.name == "constant" else f" or change schedule={rc.schedule.name}")


def _result(session: RunSession, outcome, final: dict) -> dict:
    """``result.json`` of a finished training run."""
    rc, stats = session.rc, session.backend.stats()
    figures = session.figures(outcome.params, outcome.loss, final)
    result = {
        "experiment": rc.experiment,
        "problem": session.problem.name,
        "backend": rc.backend.name,
        "steps": outcome.steps,
        "wall_time_s": session.elapsed(),
        "num_jobs": outcome.metrics[-1]["num_jobs"] if outcome.metrics else stats["num_jobs"],
        "shots_total": stats["shots_total"],
        **session.usage(),
        "final_params": outcome.params,
        **figures,
        "two_qubit_gates": two_qubit_gates(session),
        "converged": outcome.converged,
        "resumed_from": outcome.resumed_from,
        "already_finished": outcome.already_finished,
    }
    if stats.get("fallbacks"):
        result["fallbacks"] = stats["fallbacks"]
    return session.report(outcome.params, result)


def two_qubit_gates(session: RunSession) -> int:
    """Two-qubit gates of the circuit as it ran: the transpiled count on a device, else the circuit's own."""
    transpiled = session.backend.describe().get("transpiled") or {}
    if "two_qubit_gates" in transpiled:
        return int(transpiled["two_qubit_gates"])
    return sum(1 for op in session.experiment.circuit.operations if len(op.wires) == 2)


def _finish(session: RunSession, result: dict, outcome) -> None:
    """The convergence plot and the lines a user reads at the end."""
    rc, problem = session.rc, session.problem
    molecular = problem.electrons is not None  # energies in Hartree; spin models are in units of their couplings
    unit = " Ha" if molecular else ""
    if outcome.metrics:
        plot_convergence(
            outcome.metrics,
            session.run_dir / "convergence.png",
            exact=problem.exact_energy,
            label=session.experiment.loss_name,
            title=f"{rc.experiment} {problem.name} on {rc.backend.name}",
            target=(CHEMICAL_ACCURACY_HA, "chemical accuracy (1.6 mHa)") if molecular else None,
        )
    if "energy_unmitigated" in result and problem.exact_energy is not None:
        print(
            f"  mitigation={rc.mitigation.name}: energy {result['energy']:.7f}{unit} "
            f"(error {result['error']:.2e}), unmitigated {result['energy_unmitigated']:.7f}{unit} "
            f"(error {result['energy_unmitigated'] - problem.exact_energy:.2e})",
            flush=True,
        )
    again = "already finished, not trained again; " if outcome.already_finished else ""
    print(
        f"{rc.experiment} {session.outcome(result)}; {again}{outcome.steps} steps, {result['wall_time_s']:.1f} s; "
        f"results in {session.run_dir}",
        flush=True,
    )
