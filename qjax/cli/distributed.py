"""Multi-process start-up: join this process to a ``jax.distributed`` job before JAX runs anything.

Where the coordinator and this process's rank come from, first match wins:

1. ``QJAX_COORDINATOR`` (``host:port`` of process 0), ``QJAX_NUM_PROCESSES`` and
   ``QJAX_PROCESS_ID`` (0 … N-1), set by hand or by a launcher script;
2. SLURM (a job step of ``srun`` with more than one task, ``SLURM_STEP_NUM_TASKS`` > 1): JAX reads the coordinator
   (the first node of the step, a port derived from the job id) and the rank itself.

Nothing set, or one process: a plain single-process run. The wait for the other processes is
bounded (``QJAX_DISTRIBUTED_TIMEOUT_S``, default 120 s); when it runs out the run stops with
one line naming the coordinator it waited for, never a hang. On CPU the collectives go
through gloo. Only process 0 writes the run's records and takes the checkpoint lock
(:func:`is_primary`); every process takes part in Orbax's save and restore.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Mapping, NamedTuple

from qjax.errors import ConfigError

__all__ = ["ProcessSpec", "process_spec", "start_distributed", "is_primary", "process_count", "scratch_dir"]

_DEFAULT_TIMEOUT_S = 120


class ProcessSpec(NamedTuple):
    """How to join: ``coordinator`` None means JAX's own cluster detection (SLURM)."""

    coordinator: str | None
    num_processes: int | None
    process_id: int | None
    timeout_s: int
    source: str


def _int(env: Mapping[str, str], key: str) -> int:
    value = env.get(key, "")
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{key}={value!r} is not an integer; set it to a whole number") from None


def process_spec(env: Mapping[str, str] | None = None) -> ProcessSpec | None:
    """The :class:`ProcessSpec` the environment asks for, or None for a single-process run."""
    env = os.environ if env is None else env
    timeout = _int(env, "QJAX_DISTRIBUTED_TIMEOUT_S") if env.get("QJAX_DISTRIBUTED_TIMEOUT_S") else _DEFAULT_TIMEOUT_S
    if timeout < 1:
        raise ConfigError(f"QJAX_DISTRIBUTED_TIMEOUT_S={timeout} must be at least 1 (seconds)")
    keys = ("QJAX_COORDINATOR", "QJAX_NUM_PROCESSES", "QJAX_PROCESS_ID")
    given = [k for k in keys if env.get(k)]
    if given:
        missing = [k for k in keys if k not in given]
        if missing:
            raise ConfigError(
                f"{', '.join(given)} set but not {', '.join(missing)}; a multi-process run needs all three "
                "(QJAX_COORDINATOR=host:port QJAX_NUM_PROCESSES=N QJAX_PROCESS_ID=0..N-1)"
            )
        count, rank = _int(env, "QJAX_NUM_PROCESSES"), _int(env, "QJAX_PROCESS_ID")
        if count < 1 or not 0 <= rank < count:
            raise ConfigError(
                f"QJAX_PROCESS_ID={rank} with QJAX_NUM_PROCESSES={count}: the id must be in 0..{count - 1}"
                if count >= 1
                else f"QJAX_NUM_PROCESSES={count} must be at least 1"
            )
        coordinator = env["QJAX_COORDINATOR"]
        if ":" not in coordinator:
            raise ConfigError(f"QJAX_COORDINATOR={coordinator!r} needs a port: host:port (e.g. 10.0.0.1:12345)")
        if count == 1:
            return None
        return ProcessSpec(coordinator, count, rank, timeout, "QJAX_*")
    # srun sets SLURM_STEP_NUM_TASKS for its job step; a batch script's own step (no srun) is one process
    if env.get("SLURM_JOB_ID") and env.get("SLURM_STEP_NUM_TASKS") and _int(env, "SLURM_STEP_NUM_TASKS") > 1:
        return ProcessSpec(None, None, None, timeout, "SLURM")
    return None


def start_distributed(env: Mapping[str, str] | None = None) -> ProcessSpec | None:
    """Join the job the environment describes (idempotent); None when it describes none.

    Raises :class:`ConfigError` (one line) when the other processes do not arrive in time."""
    spec = process_spec(env)
    if spec is None:
        return None
    import jax

    if jax.distributed.is_initialized():
        return spec
    if (os.environ.get("JAX_PLATFORMS") or "").lower() in ("", "cpu"):
        # CPU devices of several processes talk through gloo (JAX's default has no cross-process collectives).
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    where = spec.coordinator or "SLURM's coordinator (first node of SLURM_STEP_NODELIST)"
    message = (
        f"jax.distributed: no complete job of {spec.num_processes or 'SLURM_NTASKS'} processes at {where} within "
        f"{spec.timeout_s} s; start every process with the same QJAX_COORDINATOR and QJAX_NUM_PROCESSES and a "
        "distinct QJAX_PROCESS_ID (0..N-1), or raise QJAX_DISTRIBUTED_TIMEOUT_S"
    )
    # JAX's client aborts the process (a C++ fatal error and a stack trace) when its own deadline
    # passes, so ours comes first: one line and exit code 2, as for any bad input.
    joined = threading.Event()

    def watchdog():
        if not joined.wait(spec.timeout_s):
            sys.stderr.write(f"qjax: error: {message}\n")
            sys.stderr.flush()
            os._exit(2)

    threading.Thread(target=watchdog, name="qjax-distributed-watchdog", daemon=True).start()
    try:
        jax.distributed.initialize(
            spec.coordinator,
            num_processes=spec.num_processes,
            process_id=spec.process_id,
            initialization_timeout=spec.timeout_s + 60,
        )
    except Exception as exc:  # JAX raises XlaRuntimeError / RuntimeError / ValueError for what it can report
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{message} ({first})") from None
    finally:
        joined.set()
    return spec


def process_count() -> int:
    """Processes in this JAX job (1 when not distributed)."""
    import jax

    return jax.process_count()


def is_primary() -> bool:
    """Whether this process writes records and holds the checkpoint lock: process 0 (or the only one)."""
    import sys

    if "jax" not in sys.modules:
        return True
    import jax

    if not jax.distributed.is_initialized():  # no backend start-up here: XLA flags may still change
        return True
    return jax.process_index() == 0


def scratch_dir() -> Path:
    """Where a process other than 0 puts the records it would write (they are process 0's to keep)."""
    import jax

    out = Path(tempfile.gettempdir()) / f"qjax-process-{jax.process_index()}-{os.getpid()}"
    out.mkdir(parents=True, exist_ok=True)
    return out
