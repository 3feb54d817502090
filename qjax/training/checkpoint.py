"""Resumable run state on Orbax.

One Orbax step folder per saved step, at the root of the run's checkpoint
directory. Each holds two items: ``state`` (params, Optax state, RNG key; arrays,
saved with ``StandardSave``) and ``meta`` (JSON: step, config hash, metrics so
far, whether training finished). Keeping both in one Orbax step makes them
commit atomically: a process killed mid-save leaves only a temporary folder that
Orbax ignores.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass
from typing import Any, NamedTuple

import orbax.checkpoint as ocp

from qjax.errors import CheckpointError

__all__ = ["CheckpointOptions", "TrainState", "Checkpointer"]

log = logging.getLogger("qjax")

RESUME_MODES = ("auto", "never", "must")


@dataclass(frozen=True)
class CheckpointOptions:
    """Where and how often to checkpoint.

    ``dir`` must be absolute (Orbax refuses relative paths); ``every`` steps between
    saves (≥ 1); ``keep`` newest checkpoints kept (≥ 2, so a corrupt newest one
    still leaves a good one); ``resume``: ``auto`` continues when a checkpoint
    exists, ``never`` moves an existing directory aside and starts fresh, ``must``
    fails when there is nothing to resume; ``config_hash`` guards against resuming
    a run with a different configuration; ``sync`` waits for each save to be on
    disk before training goes on (hardware runs: the next step costs a job).
    """

    dir: str
    every: int = 10
    keep: int = 3
    resume: str = "auto"
    config_hash: str | None = None
    sync: bool = False

    def __post_init__(self):
        if not os.path.isabs(self.dir):
            raise CheckpointError(f"checkpoint.dir={self.dir!r} must be an absolute path")
        if self.every < 1:
            raise CheckpointError(f"checkpoint.every={self.every} is invalid: must be ≥ 1")
        if self.keep < 2:
            raise CheckpointError(f"checkpoint.keep={self.keep} is invalid: must be ≥ 2")
        if self.resume not in RESUME_MODES:
            raise CheckpointError(f"checkpoint.resume={self.resume} is invalid: choose auto, never or must")


class TrainState(NamedTuple):
    """Array state of a run: ``params (P,)``, Optax state, raw PRNG ``key (2,) uint32``."""

    params: Any
    opt_state: Any
    key: Any


class Checkpointer:
    """Saves and restores :class:`TrainState` plus JSON metadata in ``options.dir``."""

    def __init__(self, options: CheckpointOptions):
        self.options = options
        self._manager: ocp.CheckpointManager | None = None

    @property
    def manager(self) -> ocp.CheckpointManager:
        if self._manager is None:
            self._manager = ocp.CheckpointManager(
                self.options.dir,
                options=ocp.CheckpointManagerOptions(
                    max_to_keep=self.options.keep, create=True, enable_async_checkpointing=True
                ),
            )
        return self._manager

    def _existing_steps(self) -> list[int]:
        if not os.path.isdir(self.options.dir):
            return []
        return sorted(int(name) for name in os.listdir(self.options.dir) if name.isdigit())

    def restore(self, template: TrainState) -> tuple[TrainState, dict] | None:
        """The newest readable checkpoint, or ``None`` when there is none to resume.

        Applies the resume mode; refuses a checkpoint from another configuration;
        skips (with a warning) a newest checkpoint that cannot be read.
        """
        opts = self.options
        steps = self._existing_steps()
        if opts.resume == "never":
            if steps:
                aside = f"{opts.dir}.replaced-{time.strftime('%Y%m%dT%H%M%S')}"
                shutil.move(opts.dir, aside)
                log.warning("checkpoint.resume=never: moved the existing checkpoints to %s", aside)
            return None
        if not steps:
            if opts.resume == "must":
                raise CheckpointError(
                    f"checkpoint.resume=must but {opts.dir} holds no checkpoint; "
                    "run with checkpoint.resume=auto to start a new run"
                )
            return None
        for step in reversed(steps):
            try:
                restored = self.manager.restore(
                    step,
                    args=ocp.args.Composite(state=ocp.args.StandardRestore(template._asdict()), meta=ocp.args.JsonRestore()),
                )
            except Exception as exc:  # noqa: BLE001 - any read failure means "corrupt"
                log.warning("checkpoint at step %d in %s is unreadable (%s); trying the previous one", step, opts.dir,
                            type(exc).__name__)
                continue
            meta = dict(restored.meta)
            self._check_compatible(meta, step)
            return TrainState(**restored.state), meta
        raise CheckpointError(
            f"no readable checkpoint in {opts.dir} (steps {steps} all failed to load); "
            "start fresh with checkpoint.resume=never (the old directory is kept aside)"
        )

    def _check_compatible(self, meta: dict, step: int) -> None:
        want, have = self.options.config_hash, meta.get("config_hash")
        if want is not None and have != want:
            raise CheckpointError(
                f"the checkpoint in {self.options.dir} (step {step}) was written by a different configuration "
                f"(config hash {have} ≠ {want}); start fresh with checkpoint.resume=never, "
                "or point checkpoint.dir elsewhere"
            )

    def save(self, step: int, state: TrainState, meta: dict) -> None:
        """Save ``state`` and ``meta`` as step ``step`` (asynchronously; see :meth:`wait`)."""
        manager = self.manager
        if step in manager.all_steps():  # re-saving a step only updates its metadata (e.g. finished)
            manager.wait_until_finished()
            manager.delete(step)
        manager.save(
            step,
            args=ocp.args.Composite(state=ocp.args.StandardSave(state._asdict()), meta=ocp.args.JsonSave(meta)),
        )
        if self.options.sync:
            manager.wait_until_finished()

    def wait(self) -> None:
        """Block until every pending save is on disk."""
        if self._manager is not None:
            self._manager.wait_until_finished()

    def close(self) -> None:
        if self._manager is not None:
            self._manager.wait_until_finished()
            self._manager.close()
            self._manager = None
