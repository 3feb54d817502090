"""A service in a child process (``python -m qjax.serve``), for scripts, tests and notebooks.

>>> svc = ServiceProcess("/tmp/qjax-svc", keys=["my-key-0123456789abcdef"]).start()
>>> svc.url
'http://127.0.0.1:...'
>>> svc.kill()      # SIGKILL, as a crash would; svc.start() again reuses the data dir and port

Several at once (a cluster on one store): ``launch()`` each, then ``wait_ready()`` each,
so that they start in parallel; ``args`` carry ``--role``, ``--db-url`` and so on.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["ServiceProcess", "free_port"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServiceProcess:
    """``python -m qjax.serve`` on 127.0.0.1 with ``keys``, its SQLite store and log under ``data_dir``."""

    def __init__(
        self,
        data_dir: str | os.PathLike,
        keys: Sequence[str],
        *,
        port: int | None = None,
        args: Sequence[str] = (),
        env: dict | None = None,
    ):
        self.data_dir = Path(data_dir)
        self.keys, self.port, self.args = list(keys), port or free_port(), list(args)
        self.env = {**os.environ, **(env or {}), "QJAX_API_KEYS": ",".join(self.keys)}
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "serve.log"

    def start(self, timeout: float = 120.0) -> ServiceProcess:
        """Start it and wait until ``/readyz`` answers 200."""
        return self.launch().wait_ready(timeout)

    def launch(self) -> ServiceProcess:
        """Start the process; :meth:`wait_ready` waits for it."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "qjax.serve",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                    *self.args,
                ],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_ready(self, timeout: float = 120.0) -> ServiceProcess:
        """Wait until ``/readyz`` answers 200 (raises ``RuntimeError`` when the process exits or time runs out)."""
        import httpx

        assert self.proc is not None, "launch() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the service exited ({self.proc.returncode}): {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"the service was not ready after {timeout:g} s; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers run (a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM, then wait."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
