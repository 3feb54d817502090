"""A throwaway PostgreSQL server (Debian's ``initdb`` / ``pg_ctl``), for tests, load scripts and trying the service.

>>> with LocalPostgres() as pg:                    # initdb in a temporary directory, pg_ctl start
...     url = pg.create_database("qjax")          # postgresql://postgres@127.0.0.1:<port>/qjax
...     # python -m qjax.serve --db-url $url ...
>>> # stopped and removed

It listens on 127.0.0.1 (a free port) and on a socket in its own directory. Local
(socket) and TCP connections of every user are trusted, except the user
:data:`PASSWORD_USER`, who must give :attr:`LocalPostgres.password` over TCP (to test
wrong credentials). ``initdb`` refuses to run as root: as root, the server runs as
the ``postgres`` user Debian's package creates. :func:`find_bindir` says where the
binaries are (``None``: not installed; ``apt-get install postgresql``).
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

__all__ = ["LocalPostgres", "find_bindir", "why_unavailable", "PASSWORD_USER"]

#: The one user who needs a password over TCP.
PASSWORD_USER = "qjax_pw"


def find_bindir() -> str | None:
    """The directory of ``initdb`` and ``pg_ctl``: ``$PG_BINDIR``, Debian's newest ``/usr/lib/postgresql/*/bin``,
    or the ``PATH``; ``None`` when there are none."""
    candidates = [os.environ.get("PG_BINDIR", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True)
    on_path = shutil.which("initdb")
    candidates.append(os.path.dirname(on_path) if on_path else "")
    for bindir in candidates:
        if bindir and os.access(os.path.join(bindir, "initdb"), os.X_OK) and os.path.exists(f"{bindir}/pg_ctl"):
            return bindir
    return None


def why_unavailable() -> str | None:
    """Why no throwaway server can run here (``None`` when one can)."""
    if find_bindir() is None:
        return "no PostgreSQL server installed (initdb not found): apt-get install postgresql, or set PG_BINDIR"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run initdb as (initdb refuses root)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "the PostgreSQL driver psycopg is not installed: pip install 'qjax[serve]'"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalPostgres:
    """A PostgreSQL cluster in a fresh temporary directory: :meth:`start` (initdb, pg_ctl start), :meth:`stop`
    (pg_ctl stop, the directory removed)."""

    def __init__(self, port: int | None = None):
        self.port = port or _free_port()
        self.password = secrets.token_urlsafe(16)
        self.dir: Path | None = None
        self.bindir = find_bindir()
        self._as_postgres = os.geteuid() == 0

    def _run(self, *cmd: str, timeout: float = 120) -> None:
        args = list(cmd)
        if self._as_postgres:
            args = ["runuser", "-u", "postgres", "--", *args]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(
                f"{Path(cmd[0]).name} failed ({proc.returncode}): {(proc.stderr or proc.stdout)[-1500:]}"
            )

    def start(self) -> LocalPostgres:
        why = why_unavailable()
        if why is not None:
            raise RuntimeError(why)
        self.dir = Path(tempfile.mkdtemp(prefix="qjax-pg-"))
        data = self.dir / "data"
        if self._as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(f"{self.bindir}/initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        (data / "pg_hba.conf").write_text(
            "local all all trust\n"
            f"host all {PASSWORD_USER} 127.0.0.1/32 scram-sha-256\n"
            "host all all 127.0.0.1/32 trust\n"
        )
        # small and quick: no fsync (a throwaway cluster), enough connections for a few service processes
        options = f"-p {self.port} -k {self.dir} -h 127.0.0.1 -c fsync=off -c max_connections=200"
        self._run(
            f"{self.bindir}/pg_ctl", "-D", str(data), "-o", options, "-l", str(self.dir / "server.log"), "-w", "start"
        )
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {PASSWORD_USER} LOGIN PASSWORD '{self.password}'")
        return self

    def url(self, database: str = "postgres", user: str = "postgres", password: str | None = None) -> str:
        """A plain ``postgresql://user[:password]@127.0.0.1:port/database`` URL."""
        auth = user if password is None else f"{user}:{password}"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """A new empty database (``name``, or a random one) that every user may use; its URL."""
        import psycopg

        name = name or f"t_{secrets.token_hex(6)}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
            conn.execute(f'GRANT ALL ON DATABASE "{name}" TO PUBLIC')
            conn.execute(f'ALTER DATABASE "{name}" OWNER TO {PASSWORD_USER}')
        return self.url(name)

    def stop(self) -> None:
        if self.dir is None:
            return
        try:
            self._run(
                f"{self.bindir}/pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop", timeout=60
            )
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
