"""Resumable run state on Orbax.

One Orbax step folder per saved step, at the root of the run's checkpoint
directory. Each holds two items: ``state`` (params, Optax state, RNG key; arrays,
saved with ``StandardSave``) and ``meta`` (JSON: step, config hash, metrics so
far, whether training finished). Keeping both in one Orbax step makes them
commit atomically: a process killed mid-save leaves only a temporary folder that
Orbax ignores.

One process at a time owns a checkpoint directory: :class:`Checkpointer` holds an
exclusive ``flock`` on ``<dir>/.lock`` (holder's pid inside) from its first
restore or save until :meth:`Checkpointer.close`. The kernel drops the lock when
its process ends, kill -9 included, so a lock is never stale; the file stays.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import logging
import os
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple

import jax
import numpy as np
import orbax.checkpoint as ocp

from qjax.errors import CheckpointError

try:
    import fcntl
except ImportError:  # Windows: no flock; runs there go unguarded (see _DirectoryLock.acquire)
    fcntl = None  # type: ignore[assignment]

__all__ = ["CheckpointOptions", "TrainState", "Checkpointer", "check_writable", "LOCK_FILE"]

log = logging.getLogger("qjax")

RESUME_MODES = ("auto", "never", "must")
#: The lock file inside a checkpoint directory (see the module docstring).
LOCK_FILE = ".lock"


@dataclass(frozen=True)
class CheckpointOptions:
    """Where and how often to checkpoint.

    ``dir`` must be absolute (Orbax refuses relative paths); ``every`` steps between
    saves (≥ 1); ``keep`` newest checkpoints kept (≥ 2, so a corrupt newest one
    still leaves a good one); ``resume``: ``auto`` continues when a checkpoint
    exists, ``never`` moves an existing directory aside and starts fresh, ``must``
    fails when there is nothing to resume; ``config_hash`` guards against resuming
    a run with a different configuration, and ``accepted_hashes`` lists older hashes
    of the same configuration (:func:`qjax.config.legacy_config_hash`) that a
    checkpoint may carry, so runs saved before the hash changed still resume; ``sync``
    waits for each save to be on disk before training goes on (hardware runs: the
    next step costs a job).
    """

    dir: str
    every: int = 10
    keep: int = 3
    resume: str = "auto"
    config_hash: str | None = None
    sync: bool = False
    accepted_hashes: tuple[str, ...] = ()
    #: Hashes this configuration had under older defaults → what changed and how to resume such a run
    #: (named in the refusal instead of the bare hashes).
    changed_defaults: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if not os.path.isabs(self.dir):
            raise CheckpointError(f"checkpoint.dir={self.dir!r} must be an absolute path")
        if self.every < 1:
            raise CheckpointError(f"checkpoint.every={self.every} is invalid: must be ≥ 1")
        if self.keep < 2:
            raise CheckpointError(f"checkpoint.keep={self.keep} is invalid: must be ≥ 2")
        if self.resume not in RESUME_MODES:
            raise CheckpointError(f"checkpoint.resume={self.resume} is invalid: choose auto, never or must")
        # "/a/b/" and "/a/b" are one directory, with one lock and one moved-aside name
        object.__setattr__(self, "dir", os.path.normpath(self.dir))


class TrainState(NamedTuple):
    """Array state of a run: ``params (P,)``, Optax state, raw PRNG ``key (2,) uint32``."""

    params: Any
    opt_state: Any
    key: Any


def check_writable(directory: str) -> None:
    """Create ``directory`` if needed and write, then remove, a probe file in it.

    Raises :class:`CheckpointError` naming the path and the fix when it cannot be
    used (a regular file, a path under a file, no permission, an immutable or
    read-only directory, a symlink loop), before Orbax's background threads find out.
    """
    probe = os.path.join(directory, f".write-probe-{socket.gethostname()}-{os.getpid()}")
    try:
        os.makedirs(directory, exist_ok=True)
        with open(probe, "wb") as fh:
            fh.write(b"qjax")
        os.remove(probe)
    except OSError as exc:
        if os.path.lexists(directory) and not os.path.isdir(directory):
            reason = "it exists and is not a directory"
        else:
            reason = f"{exc.strerror or type(exc).__name__} ({exc.filename or directory})"
        raise CheckpointError(
            f"checkpoint directory {directory} cannot be written: {reason}; point checkpoint.dir at a writable "
            "directory (or fix this one's permissions)"
        ) from None


class _DirectoryLock:
    """An exclusive, non-blocking ``flock`` on ``<directory>/.lock`` that records its holder."""

    def __init__(self, directory: str):
        self.directory = directory
        self.path = os.path.join(directory, LOCK_FILE)
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`CheckpointError` naming the process that holds it.

        Also re-takes it after the directory was moved aside (``resume=never``): the
        old lock, which moved with its folder, is let go once the new one is held.
        """
        if fcntl is None:
            log.warning("no file locks on this platform; a second run on %s would not be detected", self.directory)
            return
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:  # e.g. a directory, or an immutable file, in its place
                raise CheckpointError(
                    f"cannot open the lock file {self.path}: {exc.strerror}; remove whatever is in its place, "
                    "or point checkpoint.dir elsewhere"
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _lock_holder(fd)
                os.close(fd)
                raise CheckpointError(
                    f"checkpoint directory {self.directory} is in use by {holder} (another run of the same "
                    "configuration); wait for it to finish or stop it, or point checkpoint.dir elsewhere"
                ) from None
            except OSError as exc:
                os.close(fd)
                if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL):
                    raise CheckpointError(
                        f"cannot lock {self.path}: {exc.strerror}; point checkpoint.dir elsewhere"
                    ) from None
                # a filesystem without flock: run unguarded rather than not at all
                log.warning(
                    "cannot lock %s (%s); a second run on this directory would not be detected", self.path, exc.strerror
                )
                return
            # Opened just before the directory was moved aside and locked just after the mover let go:
            # that lock guards the old folder, not this path; try again on the file the path names now.
            if _same_file(fd, self.path):
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        previous, self._fd = self._fd, fd
        if previous is not None:
            os.close(previous)

    def release(self) -> None:
        """Let go (closing the file drops the ``flock``); the file stays, so no one ever locks a deleted inode."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _same_file(fd: int, path: str) -> bool:
    try:
        here, there = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _lock_holder(fd: int) -> str:
    """``process N`` (``on host H`` when not this one) from a held lock file, as far as it says."""
    fields = os.pread(fd, 200, 0).decode(errors="replace").split()
    if not fields or not fields[0].isdigit():  # the holder has not written its pid yet
        return "another process"
    host = f" on host {fields[1]}" if len(fields) > 1 and fields[1] != socket.gethostname() else ""
    return f"process {fields[0]}{host}"


@contextmanager
def _reads_settled_before_loop_closes():
    """Make Orbax wait for all of a restore's reads before it closes the restore's event loop.

    Orbax runs each restore in a fresh event loop and closes it as soon as the
    first read fails (a corrupt file), while the other reads (tensorstore futures)
    are still in flight; each one that lands later finds the loop closed and
    prints ``RuntimeError: Event loop is closed`` from a background thread. For
    the restore only, this replaces Orbax's loop runner (``_run_sync_via_new_loop``,
    private in orbax-checkpoint 0.12) with a copy that first lets the loop's pending
    tasks finish. An Orbax without that function keeps its own: only the noise returns.
    """
    from orbax.checkpoint._src import asyncio_utils

    original = getattr(asyncio_utils, "_run_sync_via_new_loop", None)
    if original is None:
        yield
        return

    def run_and_drain(coro):
        loop = asyncio.new_event_loop()
        try:
            asyncio.set_event_loop(loop)
            return loop.run_until_complete(coro)
        finally:
            pending = asyncio.all_tasks(loop)
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            asyncio.set_event_loop(None)
            loop.close()

    asyncio_utils._run_sync_via_new_loop = run_and_drain
    try:
        yield
    finally:
        asyncio_utils._run_sync_via_new_loop = original


def _short(exc: BaseException, limit: int = 200) -> str:
    """``Type: first line of the message``, cut at ``limit`` characters (tensorstore's run to kilobytes)."""
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_lock_holder() -> bool:
    """Whether this process locks the directory: process 0 only, as a jax.distributed run is one run."""
    return jax.process_index() == 0


def _sync_processes(name: str) -> None:
    """A barrier across the processes of a jax.distributed run (nothing to wait for in one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def _host_local(tree):
    """``tree`` as Orbax can write it from every process of a jax.distributed run: the training
    state (parameters, optimiser state, key) is the same small array on every process, held on
    one local device, which Orbax refuses as "host local"; as numpy it is written once, by the
    primary host. One process: unchanged."""
    if jax.process_count() == 1:
        return tree
    return jax.tree_util.tree_map(lambda a: np.asarray(a) if isinstance(a, jax.Array) else a, tree)


def _join_orbax_threads(timeout_s: float = 30.0) -> None:
    """Let the commit threads of a failed save end before the caller reports it (and maybe exits).

    Orbax raises at the first failed commit while the save's other threads still
    run; at interpreter exit they would find the thread pools shut down and log
    errors of their own. Bounded: a stuck thread must not turn a failure into a hang.
    """
    deadline = time.monotonic() + timeout_s
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and type(thread).__module__.startswith("orbax."):
            thread.join(max(0.0, deadline - time.monotonic()))


class Checkpointer:
    """Saves and restores :class:`TrainState` plus JSON metadata in ``options.dir``.

    The first :meth:`restore` or :meth:`save` checks that the directory is writable
    and locks it (process 0 of a multi-process run); :meth:`close` waits for pending
    saves and lets go. A failed save, background ones included, raises
    :class:`CheckpointError`.
    """

    def __init__(self, options: CheckpointOptions):
        self.options = options
        self._manager: ocp.CheckpointManager | None = None
        self._lock: _DirectoryLock | None = None
        self._opened = False

    def open(self) -> None:
        """Check that the directory is writable and lock it; idempotent."""
        if self._opened:
            return
        check_writable(self.options.dir)
        if _is_lock_holder():
            self._lock = _DirectoryLock(self.options.dir)
            self._lock.acquire()
        self._opened = True

    @property
    def manager(self) -> ocp.CheckpointManager:
        if self._manager is None:
            self._manager = ocp.CheckpointManager(
                self.options.dir,
                options=ocp.CheckpointManagerOptions(
                    max_to_keep=self.options.keep,
                    create=True,
                    enable_async_checkpointing=True,
                    # Step folders are made in the calling thread: made in the background, a failure
                    # left Orbax's commit threads waiting 300 s for a "created" signal that never came,
                    # so the process could not exit. The arrays are still written in the background.
                    async_options=ocp.AsyncOptions(create_directories_asynchronously=False),
                    # Every process of a jax.distributed run calls save and restore (they synchronise);
                    # process 0 writes the metadata and finalises the step.
                    multiprocessing_options=ocp.options.MultiprocessingOptions(primary_host=0),
                ),
            )
        return self._manager

    def _existing_steps(self) -> list[int]:
        if not os.path.isdir(self.options.dir):
            return []
        root = self.options.dir
        return sorted(
            int(name) for name in os.listdir(root) if name.isdigit() and os.path.isdir(os.path.join(root, name))
        )

    def restore(self, template: TrainState) -> tuple[TrainState, dict] | None:
        """The newest readable checkpoint, or ``None`` when there is none to resume.

        Applies the resume mode; refuses a checkpoint from another configuration
        (read from its ``meta`` before its arrays, whose shapes may not match
        ``template``); skips (with a warning) a newest checkpoint that cannot be read.
        """
        self.open()
        opts = self.options
        steps = self._existing_steps()
        if opts.resume == "never":
            if steps and _is_lock_holder():  # process 0 moves the folder; the others wait for it here
                self._move_aside()
            _sync_processes("qjax-checkpoint-fresh-start")
            return None
        if not steps:
            if opts.resume == "must":
                raise CheckpointError(
                    f"checkpoint.resume=must but {opts.dir} holds no checkpoint; "
                    "run with checkpoint.resume=auto to start a new run"
                )
            return None
        with _reads_settled_before_loop_closes():
            for step in reversed(steps):
                meta = self._read(step, meta=ocp.args.JsonRestore())
                if meta is None:
                    continue
                self._check_compatible(dict(meta.meta), step)
                state = self._read(step, state=ocp.args.StandardRestore(_host_local(template._asdict())))
                if state is not None:
                    return TrainState(**state.state), dict(meta.meta)
        raise CheckpointError(
            f"no readable checkpoint in {opts.dir} (steps {steps} all failed to load); "
            "start fresh with checkpoint.resume=never (the old directory is kept aside)"
        )

    def _read(self, step: int, **items):
        """Restore ``items`` of ``step``, or ``None`` (with a warning) when they cannot be read."""
        try:
            return self.manager.restore(step, args=ocp.args.Composite(**items))
        except Exception as exc:  # noqa: BLE001 - any read failure means "corrupt"
            log.warning(
                "checkpoint at step %d in %s is unreadable (%s); trying the previous one",
                step,
                self.options.dir,
                _short(exc, 120),
            )
            return None

    def _move_aside(self) -> None:
        """``resume=never``: rename the directory to ``<dir>.replaced-<time>`` and lock a fresh one in its place."""
        opts = self.options
        stamp = time.strftime("%Y%m%dT%H%M%S")
        aside, n = f"{opts.dir}.replaced-{stamp}", 1
        while os.path.lexists(aside):  # two fresh starts within a second
            n += 1
            aside = f"{opts.dir}.replaced-{stamp}-{n}"
        try:
            os.rename(opts.dir, aside)
        except OSError as exc:
            raise CheckpointError(
                f"checkpoint.resume=never cannot move {opts.dir} aside to {aside}: {exc.strerror}; move or delete "
                "it yourself, or point checkpoint.dir elsewhere"
            ) from None
        log.warning("checkpoint.resume=never: moved the existing checkpoints to %s", aside)
        check_writable(opts.dir)
        if self._lock is not None:
            self._lock.acquire()

    def _check_compatible(self, meta: dict, step: int) -> None:
        want, have = self.options.config_hash, meta.get("config_hash")
        if want is not None and have != want and have not in self.options.accepted_hashes:
            if isinstance(have, str) and have in self.options.changed_defaults:
                raise CheckpointError(
                    f"the checkpoint in {self.options.dir} (step {step}) was written before a default changed: "
                    f"{self.options.changed_defaults[have]}; or start fresh with checkpoint.resume=never"
                )
            raise CheckpointError(
                f"the checkpoint in {self.options.dir} (step {step}) was written by a different configuration "
                f"(config hash {have} ≠ {want}); start fresh with checkpoint.resume=never, "
                "or point checkpoint.dir elsewhere"
            )

    def _save_failed(self, exc: BaseException) -> CheckpointError:
        """The error to raise for a failed save, once that save's other threads have ended."""
        _join_orbax_threads()
        return CheckpointError(
            f"saving a checkpoint in {self.options.dir} failed ({_short(exc)}); free disk space or fix the "
            "directory's permissions and rerun the same command to continue from the last saved step, "
            "or point checkpoint.dir elsewhere"
        )

    def save(self, step: int, state: TrainState, meta: dict) -> None:
        """Save ``state`` and ``meta`` as step ``step`` (asynchronously; see :meth:`wait`).

        Raises :class:`CheckpointError` if this save, or an earlier one still in the
        background, failed.
        """
        self.open()
        try:
            manager = self.manager
            if step in manager.all_steps():  # re-saving a step only updates its metadata (e.g. finished)
                manager.wait_until_finished()
                manager.delete(step)
            manager.save(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardSave(_host_local(state._asdict())), meta=ocp.args.JsonSave(meta)
                ),
            )
            if self.options.sync:
                manager.wait_until_finished()
        except Exception as exc:  # noqa: BLE001 - Orbax, tensorstore and the OS each raise their own
            raise self._save_failed(exc) from exc

    def wait(self) -> None:
        """Block until every pending save is on disk; :class:`CheckpointError` if one failed."""
        if self._manager is not None:
            try:
                self._manager.wait_until_finished()
            except Exception as exc:  # noqa: BLE001
                raise self._save_failed(exc) from exc

    def close(self) -> None:
        """Wait for pending saves, close Orbax and release the directory's lock (also when a save failed)."""
        try:
            self.wait()
        finally:
            manager, self._manager = self._manager, None
            if manager is not None:
                try:
                    manager.close()
                except Exception as exc:  # noqa: BLE001 - the failure was reported by wait()
                    log.debug("closing the checkpoint manager: %s", _short(exc))
            if self._lock is not None:
                self._lock.release()
                self._lock = None
            self._opened = False
