"""The durable job store of the quantum execution service (SQLAlchemy: SQLite by default, or PostgreSQL).

Every accepted evaluation batch is one row, written (and committed) before the
service answers the client, so a kill -9 loses no accepted job. A job moves
``queued → running → done | failed``, or to ``cancelled`` from ``queued``/``running``;
the moves are single conditional ``UPDATE`` statements, so two workers never claim
the same job and a job is finished at most once — whoever finishes it second is
told so and changes nothing. A client's idempotency key (unique per API key) makes a
retried submission return the job it already created.

Any number of processes (API and workers, on any machines) share one store.
A worker claims a job with a **lease** (:meth:`JobStore.claim_next`: ``SELECT … FOR
UPDATE SKIP LOCKED`` on PostgreSQL inside one ``UPDATE``; the same statement is a
conditional update under SQLite's database lock) and its process renews the leases
it holds (:meth:`JobStore.renew`, a heartbeat). A job whose lease expired — its
worker died — goes back to the queue (:meth:`JobStore.release_expired`, run by every
process's heartbeat); its backend job id, when one was recorded (IBM), stays, and
the worker that claims it next re-attaches to that backend job instead of running it
again. A job whose lease expired :data:`MAX_ATTEMPTS` times is failed instead, so
one job cannot bring the workers down forever.

What the API processes must agree on lives here too: the token buckets of the rate
limit (:meth:`JobStore.take_token`) and the quotas, checked in the transaction that
inserts the job under a per-key row lock (:meth:`JobStore.submit` with a
:class:`Quota`). Processes register in the ``processes`` table and refresh it with
their heartbeat (:meth:`JobStore.beat`), which is how ``/readyz`` sees the live
workers. The schema is created by whichever process comes first: under a PostgreSQL
advisory lock, or SQLite's write lock, so processes starting together on an empty
database do not race, and no separate migration step exists.
"""

from __future__ import annotations

import builtins
import json
import math
import os
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import sqlalchemy as sa

__all__ = [
    "JobStore",
    "JobRecord",
    "Quota",
    "QuotaExceeded",
    "StoreUnavailable",
    "STATUSES",
    "MAX_ATTEMPTS",
    "DEFAULT_LEASE_S",
    "engine_url",
    "safe_url",
]

STATUSES = ("queued", "running", "done", "failed", "cancelled")
_FINAL = ("done", "failed", "cancelled")
#: A job whose lease expired this many times (its worker died each time) is failed by
#: :meth:`JobStore.release_expired`, not run again: whatever it does keeps killing workers.
MAX_ATTEMPTS = 3
#: How long a claim lasts without a heartbeat (``--lease-s``); a dead worker's job runs again after at most this.
DEFAULT_LEASE_S = 15.0
# A constant key for PostgreSQL's advisory lock around schema creation ("qjax" in ASCII).
_SCHEMA_LOCK = 0x716A6178

_metadata = sa.MetaData()
_jobs = sa.Table(
    "jobs",
    _metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("key_id", sa.String(64), nullable=False),
    sa.Column("idempotency_key", sa.String(200)),
    sa.Column("request_id", sa.String(64)),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("target", sa.String(64), nullable=False),
    sa.Column("shots", sa.BigInteger),  # requested: parameter sets × observables × shots (0 when exact)
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("result", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("remote_id", sa.String(128)),
    sa.Column("worker", sa.String(96)),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("finished_at", sa.Float),
    sa.Column("lease_until", sa.Float),  # a running job's claim lasts until then unless its worker renews it
    sa.UniqueConstraint("key_id", "idempotency_key", name="one_job_per_idempotency_key"),
    sa.Index("jobs_by_key_and_time", "key_id", "created_at"),  # quotas count a key's recent jobs
)
# Per API key: the token bucket of its rate limit, shared by every API process; its row also serializes the
# quota check and insert of the key's submissions.
_keys = sa.Table(
    "key_state",
    _metadata,
    sa.Column("key_id", sa.String(64), primary_key=True),
    sa.Column("tokens", sa.Float, nullable=False),
    sa.Column("refilled_at", sa.Float, nullable=False),
)
# The service's processes, refreshed by their heartbeats: /readyz counts the live workers through it.
_processes = sa.Table(
    "processes",
    _metadata,
    sa.Column("id", sa.String(96), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("workers", sa.Integer, nullable=False),
    sa.Column("targets", sa.String(255), nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("seen_at", sa.Float, nullable=False),
)
# Columns added after the first release: created on an existing database by whichever process opens it first.
_ADDED_COLUMNS = {"jobs": ("lease_until",)}


class StoreUnavailable(Exception):
    """The database cannot be reached or opened; the message is one line and never holds a password."""


class Quota(NamedTuple):
    """Most ``jobs`` and ``shots`` (``None``: unlimited) a key may submit after ``since`` (a UNIX time)."""

    since: float
    jobs: int | None
    shots: int | None


class QuotaExceeded(Exception):
    """A submission that would exceed a :class:`Quota`: ``what`` (``jobs``/``shots``), its limit and use."""

    def __init__(self, what: str, limit: int, used: int, more: int, oldest: float | None):
        super().__init__(f"quota of {limit} {what} exceeded")
        self.what, self.limit, self.used, self.more, self.oldest = what, limit, used, more, oldest


class JobRecord(NamedTuple):
    """One stored job; ``payload`` and ``result`` are the decoded JSON documents."""

    id: str
    key_id: str
    idempotency_key: str | None
    request_id: str | None
    status: str
    target: str
    shots: int | None
    payload: dict
    result: dict | None
    error: str | None
    remote_id: str | None
    worker: str | None
    attempts: int
    created_at: float
    started_at: float | None
    finished_at: float | None
    lease_until: float | None = None

    @property
    def queue_s(self) -> float | None:
        return None if self.started_at is None else self.started_at - self.created_at

    @property
    def run_s(self) -> float | None:
        return None if self.finished_at is None or self.started_at is None else self.finished_at - self.started_at


def _record(row) -> JobRecord:
    data = dict(row._mapping)
    data["payload"] = json.loads(data["payload"])
    data["result"] = None if data["result"] is None else json.loads(data["result"])
    return JobRecord(**data)


def engine_url(url: str) -> sa.engine.URL:
    """``url`` as SQLAlchemy opens it: a plain ``postgresql://`` (or ``postgres://``) URL uses psycopg 3."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise StoreUnavailable(
            f"{url.split('://', 1)[0]!r}… is not a database URL; use e.g. sqlite:////var/lib/qjax/jobs.db or "
            "postgresql://user@host:5432/qjax"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def safe_url(url: str | sa.engine.URL) -> str:
    """The URL with its password hidden (for messages and logs)."""
    try:
        parsed = url if isinstance(url, sa.engine.URL) else sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        return "<unparsable URL>"
    return parsed.render_as_string(hide_password=True)


def _why(exc: BaseException, password: str | None) -> str:
    """The driver's reason in one line, without the password."""
    original = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(original).splitlines() if line.strip()]
    text = lines[0] if lines else type(original).__name__
    if password:
        text = text.replace(password, "***")
    return text[:300]


class JobStore:
    """Jobs in the database at ``url`` (e.g. ``sqlite:////var/lib/qjax/jobs.db``, ``postgresql://...``).

    ``lease_s``: how long a claim lasts without being renewed. Raises :class:`StoreUnavailable`
    (one line, no password) when the database cannot be reached or its driver is missing.
    """

    def __init__(self, url: str, *, lease_s: float = DEFAULT_LEASE_S):
        if not lease_s > 0:
            raise ValueError(f"lease_s={lease_s} must be positive")
        self.lease_s = float(lease_s)
        parsed = engine_url(url)
        self.sqlite = parsed.get_backend_name() == "sqlite"
        self.postgresql = parsed.get_backend_name() == "postgresql"
        connect_args: dict[str, Any] = {"timeout": 30} if self.sqlite else {}
        if self.postgresql:
            connect_args["connect_timeout"] = 10
        database = parsed.database
        if self.sqlite and database and database != ":memory:":
            try:
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreUnavailable(f"cannot create the directory of {database} ({exc.strerror})") from None
        try:
            self.engine = sa.create_engine(parsed, connect_args=connect_args, pool_pre_ping=True)
        except ModuleNotFoundError as exc:
            raise StoreUnavailable(
                f"the database driver {exc.name} is not installed; pip install 'qjax[serve]' (psycopg 3 for PostgreSQL)"
            ) from None
        if self.sqlite:

            @sa.event.listens_for(self.engine, "connect")
            def _durable(dbapi_connection, _record):  # WAL: readers never block the writer; FULL: fsync on commit
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=FULL")
                cursor.close()

        try:
            self._create_schema()
        except sa.exc.SQLAlchemyError as exc:
            self.engine.dispose()
            raise StoreUnavailable(f"cannot open the job store {safe_url(url)}: {_why(exc, parsed.password)}") from None

    def _create_schema(self) -> None:
        """Tables and added columns, by one process at a time (advisory lock / SQLite's write lock)."""
        for attempt in range(5):
            try:
                with self.engine.begin() as conn:
                    if self.postgresql:
                        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SCHEMA_LOCK})
                    elif self.sqlite:
                        conn.exec_driver_sql("BEGIN IMMEDIATE")  # pysqlite would begin only at the first write
                    _metadata.create_all(conn)
                    inspector = sa.inspect(conn)
                    for table, columns in _ADDED_COLUMNS.items():
                        have = {c["name"] for c in inspector.get_columns(table)}
                        for name in columns:
                            if name not in have:
                                column = _metadata.tables[table].c[name]
                                kind = column.type.compile(dialect=conn.dialect)
                                conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
                return
            except (sa.exc.OperationalError, sa.exc.ProgrammingError, sa.exc.IntegrityError) as exc:
                # another process created a table between our look and our CREATE, or held the lock past the timeout
                if attempt == 4 or "already exists" not in str(exc) and "locked" not in str(exc):
                    raise
                time.sleep(0.1 * (attempt + 1))

    # ---- submitting and reading ---------------------------------------------------------------------------------

    def submit(
        self,
        *,
        key_id: str,
        payload: dict,
        target: str,
        shots: int | None = None,
        idempotency_key: str | None = None,
        request_id: str | None = None,
        quota: Quota | None = None,
    ) -> tuple[JobRecord, bool]:
        """Store a new queued job, or return the one this ``(key_id, idempotency_key)`` already made.

        Returns ``(job, created)``; the row is committed before this returns. With a
        ``quota``, the key's usage is counted and the job inserted in one transaction
        holding the key's row lock, so concurrent API processes cannot overshoot it
        together; :class:`QuotaExceeded` when it would.
        """
        if idempotency_key is not None:
            existing = self.get_by_idempotency(key_id, idempotency_key)
            if existing is not None:
                return existing, False
        row = {
            "id": uuid.uuid4().hex,
            "key_id": key_id,
            "idempotency_key": idempotency_key,
            "request_id": request_id,
            "status": "queued",
            "target": target,
            "shots": shots,
            "payload": json.dumps(payload, separators=(",", ":")),
            "attempts": 0,
            "created_at": self._clock(),
        }
        try:
            with self.engine.begin() as conn:
                if quota is not None:
                    self._lock_key(conn, key_id)
                    jobs, spent, oldest = self._usage(conn, key_id, quota.since)
                    for limit, used, more, what in (
                        (quota.jobs, jobs, 1, "jobs"),
                        (quota.shots, spent, shots or 0, "shots"),
                    ):
                        if limit is not None and used + more > limit:
                            raise QuotaExceeded(what, limit, used, more, oldest)
                conn.execute(_jobs.insert().values(**row))
        except sa.exc.IntegrityError:  # the same key raced in from another request: that one won
            existing = self.get_by_idempotency(key_id, idempotency_key) if idempotency_key is not None else None
            if existing is None:
                raise
            return existing, False
        created = self.get(str(row["id"]))
        assert created is not None  # committed above; jobs are never deleted
        return created, True

    def _lock_key(self, conn, key_id: str) -> None:
        """Hold the key's row (created when missing) until ``conn``'s transaction ends."""
        self._ensure_key(conn, key_id)
        conn.execute(_keys.update().where(_keys.c.key_id == key_id).values(key_id=_keys.c.key_id))

    def _ensure_key(self, conn, key_id: str) -> None:
        insert: Any
        if self.postgresql:
            from sqlalchemy.dialects.postgresql import insert
        elif self.sqlite:
            from sqlalchemy.dialects.sqlite import insert
        else:  # pragma: no cover - other databases: a plain insert when missing (a race there ends in a retry)
            if conn.execute(sa.select(_keys.c.key_id).where(_keys.c.key_id == key_id)).first() is None:
                conn.execute(_keys.insert().values(key_id=key_id, tokens=math.inf, refilled_at=0.0))
            return
        conn.execute(insert(_keys).values(key_id=key_id, tokens=-1.0, refilled_at=-1.0).on_conflict_do_nothing())

    def get_by_idempotency(self, key_id: str, idempotency_key: str) -> JobRecord | None:
        """The job ``key_id`` created with ``idempotency_key``, or ``None``."""
        with self.engine.connect() as conn:
            row = conn.execute(
                _jobs.select().where(_jobs.c.key_id == key_id, _jobs.c.idempotency_key == idempotency_key)
            ).first()
        return None if row is None else _record(row)

    def get(self, job_id: str, key_id: str | None = None) -> JobRecord | None:
        """The job, or ``None`` (also when ``key_id`` is given and the job belongs to another key)."""
        query = _jobs.select().where(_jobs.c.id == job_id)
        if key_id is not None:
            query = query.where(_jobs.c.key_id == key_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _record(row)

    def list(self, key_id: str | None = None, limit: int = 50, status: str | None = None) -> list[JobRecord]:
        """The newest ``limit`` jobs (of ``key_id``, with ``status``, when given)."""
        query = _jobs.select().order_by(_jobs.c.created_at.desc()).limit(int(limit))
        if key_id is not None:
            query = query.where(_jobs.c.key_id == key_id)
        if status is not None:
            query = query.where(_jobs.c.status == status)
        with self.engine.connect() as conn:
            return [_record(row) for row in conn.execute(query)]

    def counts(self) -> dict[str, int]:
        """Number of jobs per status (every status present, 0 when none)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(_jobs.c.status, sa.func.count()).group_by(_jobs.c.status)).all()
        return {status: 0 for status in STATUSES} | {status: int(n) for status, n in rows}

    def usage(self, key_id: str, since: float) -> tuple[int, int, float | None]:
        """``(jobs, shots, oldest)`` that ``key_id`` submitted since ``since`` (shots as requested; ``oldest``
        is the creation time of the oldest of them, ``None`` when there are none): what quotas count."""
        with self.engine.connect() as conn:
            return self._usage(conn, key_id, since)

    @staticmethod
    def _usage(conn, key_id: str, since: float) -> tuple[int, int, float | None]:
        query = sa.select(
            sa.func.count(), sa.func.coalesce(sa.func.sum(_jobs.c.shots), 0), sa.func.min(_jobs.c.created_at)
        ).where(_jobs.c.key_id == key_id, _jobs.c.created_at >= since)
        jobs, shots, oldest = conn.execute(query).one()
        return int(jobs), int(shots), oldest

    def counts_by_target(self, since: float) -> dict[str, dict[str, int]]:
        """target → status → number of jobs created since ``since`` (for per-backend error rates)."""
        query = (
            sa.select(_jobs.c.target, _jobs.c.status, sa.func.count())
            .where(_jobs.c.created_at >= since)
            .group_by(_jobs.c.target, _jobs.c.status)
        )
        out: dict[str, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for target, status, n in conn.execute(query):
                out.setdefault(target, {s: 0 for s in STATUSES})[status] = int(n)
        return out

    def ping(self) -> bool:
        """``True`` when the database answers (readiness)."""
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.select(1))
            return True
        except sa.exc.SQLAlchemyError:
            return False

    def _clock(self):
        """Now, in UNIX seconds, as an SQL expression: on PostgreSQL the database server's clock (the
        transaction's start), so processes on machines whose clocks disagree still agree on when a lease ends, a
        process was last seen, or a rate-limit token comes back; on SQLite (one machine) this process's clock."""
        if self.postgresql:
            return sa.cast(sa.func.extract("epoch", sa.func.now()), sa.Float)
        return sa.literal(time.time(), sa.Float)

    # ---- the rate limit, shared by every API process ----------------------------------------------------------

    def take_token(self, key_id: str, rate: float, burst: int, now: float | None = None) -> float:
        """Take one token of ``key_id``'s bucket (``rate`` per second, at most ``burst``): 0.0 when taken, else the
        seconds until one is there. One conditional ``UPDATE``, atomic across processes."""
        now = self._clock() if now is None else now
        filled = _keys.c.tokens + (now - _keys.c.refilled_at) * rate
        level = sa.case((_keys.c.refilled_at < 0, float(burst)), (filled > burst, float(burst)), else_=filled)
        with self.engine.begin() as conn:
            taken = conn.execute(
                _keys.update().where(_keys.c.key_id == key_id, level >= 1.0).values(tokens=level - 1.0, refilled_at=now)
            ).rowcount
            if taken == 1:
                return 0.0
            self._ensure_key(conn, key_id)  # a key seen for the first time: its row starts full
            taken = conn.execute(
                _keys.update().where(_keys.c.key_id == key_id, level >= 1.0).values(tokens=level - 1.0, refilled_at=now)
            ).rowcount
            if taken == 1:
                return 0.0
            have = conn.execute(sa.select(level).where(_keys.c.key_id == key_id)).scalar()
        return max((1.0 - float(have or 0.0)) / rate, 1e-3)

    # ---- workers: claims, leases, heartbeats --------------------------------------------------------------------

    def claim_next(self, worker: str, targets: Iterable[str] | None = None) -> JobRecord | None:
        """Move the oldest queued job (of ``targets``, when given) to ``running`` for ``worker`` with a lease of
        :attr:`lease_s`; ``None`` when there is none. One statement: on PostgreSQL the row is picked with
        ``FOR UPDATE SKIP LOCKED`` (claims in parallel skip each other's row), on SQLite under its write lock."""
        pick = sa.select(_jobs.c.id).where(_jobs.c.status == "queued")
        if targets is not None:
            pick = pick.where(_jobs.c.target.in_(tuple(targets)))
        with self.engine.connect() as conn:  # idle workers only read: no write lock while the queue is empty
            if conn.execute(pick.limit(1)).first() is None:
                return None
        pick = pick.order_by(_jobs.c.created_at).limit(1).with_for_update(skip_locked=True)
        now = self._clock()
        with self.engine.begin() as conn:
            job_id = conn.execute(
                _jobs.update()
                .where(_jobs.c.id == pick.scalar_subquery(), _jobs.c.status == "queued")
                .values(
                    status="running",
                    worker=worker,
                    started_at=now,
                    lease_until=now + self.lease_s,
                    attempts=_jobs.c.attempts + 1,
                )
                .returning(_jobs.c.id)
            ).scalar()
        return None if job_id is None else self.get(job_id)

    def holds(self, job_id: str, worker: str) -> bool:
        """``True`` while ``worker`` still holds the job (running, claimed by it)."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(_jobs.c.status, _jobs.c.worker).where(_jobs.c.id == job_id)).first()
        return row is not None and row.status == "running" and row.worker == worker

    def renew(self, workers: Iterable[str]) -> int:
        """Extend the leases of the running jobs these workers hold by :attr:`lease_s` from now; how many."""
        names = tuple(workers)
        if not names:
            return 0
        with self.engine.begin() as conn:
            return conn.execute(
                _jobs.update()
                .where(_jobs.c.status == "running", _jobs.c.worker.in_(names))
                .values(lease_until=self._clock() + self.lease_s)
            ).rowcount

    def release_expired(
        self, now: float | None = None, max_attempts: int = MAX_ATTEMPTS
    ) -> dict[str, builtins.list[str]]:
        """Running jobs whose lease ended before ``now``: back to the queue (a recorded backend job id stays, and
        the next claim re-attaches to it), or failed after ``max_attempts`` claims. Safe in any number of
        processes at once: each move is conditional on the lease still being expired.

        Returns ``{"requeued": [...], "reattach": [...], "failed": [...]}`` (job ids).
        """
        now = self._clock() if now is None else now
        expired = sa.and_(_jobs.c.status == "running", _jobs.c.lease_until < now)
        with self.engine.begin() as conn:
            running = conn.execute(sa.select(_jobs.c.id, _jobs.c.remote_id, _jobs.c.attempts).where(expired)).all()
            if not running:
                return {"requeued": [], "reattach": [], "failed": []}
            failed = [job_id for job_id, _, attempts in running if attempts >= max_attempts]
            again = [(job_id, remote) for job_id, remote, attempts in running if attempts < max_attempts]
            if failed:
                failed = list(
                    conn.execute(
                        _jobs.update()
                        .where(_jobs.c.id.in_(failed), expired)
                        .values(
                            status="failed",
                            finished_at=self._clock(),
                            lease_until=None,
                            error=f"the worker running this job stopped {max_attempts} times, so it is not run "
                            "again; submit a smaller batch (fewer parameter sets or qubits)",
                        )
                        .returning(_jobs.c.id)
                    ).scalars()
                )
            moved = set()
            if again:
                moved = set(
                    conn.execute(
                        _jobs.update()
                        .where(_jobs.c.id.in_([job_id for job_id, _ in again]), expired)
                        .values(status="queued", worker=None, started_at=None, lease_until=None)
                        .returning(_jobs.c.id)
                    ).scalars()
                )
        requeued = [job_id for job_id, remote in again if job_id in moved and remote is None]
        reattach = [job_id for job_id, remote in again if job_id in moved and remote is not None]
        return {"requeued": requeued, "reattach": reattach, "failed": failed}

    def beat(self, process: str, *, role: str, workers: int, targets: Iterable[str], started_at: float) -> None:
        """Record that ``process`` is alive now (one row per process, refreshed by its heartbeat)."""
        now = self._clock()
        values = {"role": role, "workers": workers, "targets": ",".join(targets)[:255], "seen_at": now}
        with self.engine.begin() as conn:
            if conn.execute(_processes.update().where(_processes.c.id == process).values(**values)).rowcount == 0:
                conn.execute(
                    _processes.insert().values(
                        id=process, host=os.uname().nodename[:255], pid=os.getpid(), started_at=started_at, **values
                    )
                )
            # a process gone for long (kill -9, its machine down) leaves the table
            conn.execute(_processes.delete().where(_processes.c.seen_at < now - 20 * self.lease_s))

    def leave(self, process: str) -> None:
        """``process`` stops: its row goes (its running jobs, if any, come back when their leases expire)."""
        with self.engine.begin() as conn:
            conn.execute(_processes.delete().where(_processes.c.id == process))

    def processes(self, within_s: float | None = None) -> builtins.list[dict]:
        """The processes seen in the last ``within_s`` seconds (default: two leases), newest first."""
        since = self._clock() - (2 * self.lease_s if within_s is None else within_s)
        query = _processes.select().where(_processes.c.seen_at >= since).order_by(_processes.c.started_at.desc())
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def set_remote_id(self, job_id: str, remote_id: str) -> None:
        """Record the backend's job id (committed) before waiting on it, so a restart can re-attach."""
        with self.engine.begin() as conn:
            conn.execute(_jobs.update().where(_jobs.c.id == job_id).values(remote_id=remote_id))

    def finish(self, job_id: str, result: dict[str, Any], worker: str | None = None) -> bool:
        """Store the result of a running job; ``False`` (nothing changed) if it was not running any more, or (given
        ``worker``) if that worker no longer holds it."""
        return self._end(job_id, "done", worker, result=json.dumps(result, separators=(",", ":")))

    def fail(self, job_id: str, error: str, worker: str | None = None) -> bool:
        """End a running job with ``error`` (a message safe to show the client)."""
        return self._end(job_id, "failed", worker, error=error)

    def _end(self, job_id: str, status: str, worker: str | None, **values) -> bool:
        query = _jobs.update().where(_jobs.c.id == job_id, _jobs.c.status == "running")
        if worker is not None:
            query = query.where(_jobs.c.worker == worker)
        with self.engine.begin() as conn:
            return (
                conn.execute(
                    query.values(status=status, finished_at=self._clock(), lease_until=None, **values)
                ).rowcount
                == 1
            )

    def cancel(self, job_id: str, key_id: str | None = None) -> bool:
        """Cancel a job that has not ended; ``False`` if it had (its result stays)."""
        query = _jobs.update().where(_jobs.c.id == job_id, _jobs.c.status.in_(("queued", "running")))
        if key_id is not None:
            query = query.where(_jobs.c.key_id == key_id)
        with self.engine.begin() as conn:
            return (
                conn.execute(query.values(status="cancelled", finished_at=self._clock(), lease_until=None)).rowcount
                == 1
            )

    def close(self) -> None:
        """Close the store's connections."""
        self.engine.dispose()
