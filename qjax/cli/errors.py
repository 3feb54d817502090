"""Failure handling for every entry point, in one place.

A user-facing error (:class:`~qjax.errors.QjaxError`) ends the command with one line on
stderr and an exit code; a traceback means a bug. Exit codes: interrupted, 128 + signal;
stopped by the budget or with no backend left, 3; any other user error, 2.
"""

from __future__ import annotations

import functools
import json
import sys
from typing import Any, Callable

from qjax.cli.session import output_dir
from qjax.errors import BackendUnavailable, BudgetExceeded, QjaxError, TrainingInterrupted

__all__ = ["exit_on_user_errors", "refuse_secrets_on_command_line"]

_NO_CFG = object()


def exit_on_user_errors(task: Callable[[Any], Any], cfg: Any = _NO_CFG):
    """Run ``task(cfg)``; a user-facing error becomes one line on stderr and its exit code.

    ``exit_on_user_errors(task, cfg)`` runs it now and returns what ``task`` returns;
    ``@exit_on_user_errors`` (one argument) wraps ``task`` for later (e.g. under ``@hydra.main``).
    In a multirun, a member's error is recorded in its ``result.json`` and the sweep goes on;
    the sweep summary lists it and the sweep exits with 2.
    """
    if cfg is _NO_CFG:
        return functools.wraps(task)(lambda cfg: exit_on_user_errors(task, cfg))
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


def refuse_secrets_on_command_line(argv: list[str]) -> None:
    """Exit 2 with one line when an override sets a key named like a secret, before Hydra writes or logs it."""
    from qjax.config import refuse_secret_overrides

    try:
        refuse_secret_overrides(argv)
    except QjaxError as exc:
        print(f"qjax: error: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)


def _in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _record_member_error(exc: QjaxError) -> None:
    from qjax.training.records import write_json

    print(f"qjax: error in this sweep member: {exc}", file=sys.stderr, flush=True)
    path = output_dir() / "result.json"
    result = json.loads(path.read_text()) if path.exists() else {}  # e.g. a classical fallback energy
    write_json(path, {**result, "status": result.get("status", type(exc).__name__), "error_message": str(exc)})
