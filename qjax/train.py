"""The command-line entry point: ``python -m qjax.train +experiment=vqe``.

A thin Hydra layer: validate the config, open a run session (:mod:`qjax.cli.session`:
experiment, backend, objective, manifest) and train it (:mod:`qjax.cli.training`:
:func:`qjax.fit` with checkpoints in a deterministic directory; ``metrics.jsonl``,
``result.json``, ``manifest.json``, ``convergence.png``). User errors end with one
line on stderr and a non-zero exit, never a traceback (:mod:`qjax.cli.errors`).
"""

from __future__ import annotations

import gc
import sys

import hydra
from omegaconf import DictConfig

from qjax.cli.errors import exit_on_user_errors, refuse_secrets_on_command_line
from qjax.library_logs import quiet_libraries

__all__ = ["run", "main", "exit_on_user_errors", "quiet_libraries", "refuse_secrets_on_command_line"]


def run(cfg: DictConfig) -> dict:
    """Train one configuration; returns the ``result.json`` dict."""
    from qjax.cli.session import output_dir, scrub_hydra_files
    from qjax.config import config_hash, default_checkpoint_dir, secret_keys, to_container, validate
    from qjax.resources import preflight

    if secret_keys(cfg):
        scrub_hydra_files(secret_keys(cfg))
    rc = validate(cfg)  # before anything heavy: bad config fails fast
    preflight(rc)  # and so does a run this machine has not the memory for
    quiet_libraries()
    from qjax.cli import session as sessions
    from qjax.cli import training

    # What is imported by now lives for the whole run: take it out of the cyclic GC's
    # sweeps, which otherwise land in the first step's tracing (0.15-0.25 s measured in
    # scripts/benchmark.py's first call with PennyLane and Qiskit loaded).
    gc.collect()
    gc.freeze()
    run_dir, chash = output_dir(), config_hash(cfg)
    ckpt = training.checkpoint_options(rc, default_checkpoint_dir(cfg), chash)
    session = sessions.start(
        rc,
        run_dir,
        config=to_container(cfg),
        state_dir=ckpt.dir,
        gradient=rc.gradient,
        manifest_extra={"config_hash": chash, "run_dir": str(run_dir.resolve())},
    )
    return training.train(session, ckpt)


@hydra.main(config_path="pkg://qjax.conf", config_name="config", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> float | None:
    result = exit_on_user_errors(run, cfg)
    # a sweeper that optimises (hparams_search=optuna) minimises what the task returns
    return None if result is None else float(result["loss"])


def main() -> None:
    """Console entry point (``qjax-train`` / ``python -m qjax.train``)."""
    refuse_secrets_on_command_line(sys.argv[1:])
    _hydra_main()


if __name__ == "__main__":
    main()
