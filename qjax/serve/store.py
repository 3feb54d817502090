"""The durable job store of the quantum execution service (SQLAlchemy; SQLite by default).

Every accepted evaluation batch is one row, written (and committed) before the
service answers the client, so a kill -9 loses no accepted job. A job moves
``queued → running → done | failed``, or to ``cancelled`` from ``queued``/``running``;
the moves are single conditional ``UPDATE`` statements, so two workers never claim
the same job and a job is finished at most once — whoever finishes it second is
told so and changes nothing. A client's idempotency key (unique per API key) makes a
retried submission return the job it already created.

After a restart, :meth:`JobStore.recover` puts ``running`` jobs without a backend
job id back in the queue (simulated work is re-run) and lists those with one (IBM
jobs), which the service re-attaches by that id instead of submitting them again.
A job that has been started :data:`MAX_ATTEMPTS` times and is still running at a
restart is failed instead, so one job cannot bring the service down forever.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any, NamedTuple

import sqlalchemy as sa

__all__ = ["JobStore", "JobRecord", "STATUSES", "MAX_ATTEMPTS"]

STATUSES = ("queued", "running", "done", "failed", "cancelled")
_FINAL = ("done", "failed", "cancelled")
#: A job found running after this many starts (claims or re-attachments) is failed by :meth:`JobStore.recover`, not
#: run again: whatever it does keeps stopping the service.
MAX_ATTEMPTS = 3

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
    sa.Column("worker", sa.String(64)),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("finished_at", sa.Float),
    sa.UniqueConstraint("key_id", "idempotency_key", name="one_job_per_idempotency_key"),
    sa.Index("jobs_by_key_and_time", "key_id", "created_at"),  # quotas count a key's recent jobs
)


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


class JobStore:
    """Jobs in the database at ``url`` (e.g. ``sqlite:////var/lib/qjax/jobs.db``, ``postgresql://...``)."""

    def __init__(self, url: str):
        connect_args = {"timeout": 30} if url.startswith("sqlite") else {}
        database = sa.engine.make_url(url).database
        if url.startswith("sqlite") and database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        self.engine = sa.create_engine(url, connect_args=connect_args, future=True)
        if url.startswith("sqlite"):

            @sa.event.listens_for(self.engine, "connect")
            def _durable(dbapi_connection, _record):  # WAL: readers never block the writer; FULL: fsync on commit
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=FULL")
                cursor.close()

        _metadata.create_all(self.engine)

    def submit(
        self,
        *,
        key_id: str,
        payload: dict,
        target: str,
        shots: int | None = None,
        idempotency_key: str | None = None,
        request_id: str | None = None,
    ) -> tuple[JobRecord, bool]:
        """Store a new queued job, or return the one this ``(key_id, idempotency_key)`` already made.

        Returns ``(job, created)``; the row is committed before this returns.
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
            "created_at": time.time(),
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(_jobs.insert().values(**row))
        except sa.exc.IntegrityError:  # the same key raced in from another request: that one won
            existing = self.get_by_idempotency(key_id, idempotency_key)
            if existing is None:
                raise
            return existing, False
        return self.get(row["id"]), True

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
        query = sa.select(
            sa.func.count(), sa.func.coalesce(sa.func.sum(_jobs.c.shots), 0), sa.func.min(_jobs.c.created_at)
        ).where(_jobs.c.key_id == key_id, _jobs.c.created_at >= since)
        with self.engine.connect() as conn:
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

    def claim_next(self, worker: str) -> JobRecord | None:
        """Move the oldest queued job to ``running`` for ``worker``; ``None`` when the queue is empty."""
        while True:
            with self.engine.connect() as conn:
                job_id = conn.execute(
                    sa.select(_jobs.c.id).where(_jobs.c.status == "queued").order_by(_jobs.c.created_at).limit(1)
                ).scalar()
            if job_id is None:
                return None
            with self.engine.begin() as conn:
                claimed = conn.execute(
                    _jobs.update()
                    .where(_jobs.c.id == job_id, _jobs.c.status == "queued")
                    .values(status="running", worker=worker, started_at=time.time(), attempts=_jobs.c.attempts + 1)
                ).rowcount
            if claimed == 1:  # else another worker took it first: try the next one
                return self.get(job_id)

    def set_remote_id(self, job_id: str, remote_id: str) -> None:
        """Record the backend's job id (committed) before waiting on it, so a restart can re-attach."""
        with self.engine.begin() as conn:
            conn.execute(_jobs.update().where(_jobs.c.id == job_id).values(remote_id=remote_id))

    def finish(self, job_id: str, result: dict[str, Any]) -> bool:
        """Store the result of a running job; ``False`` (nothing changed) if it was not running any more."""
        return self._end(job_id, "done", result=json.dumps(result, separators=(",", ":")))

    def fail(self, job_id: str, error: str) -> bool:
        """End a running job with ``error`` (a message safe to show the client)."""
        return self._end(job_id, "failed", error=error)

    def _end(self, job_id: str, status: str, **values) -> bool:
        with self.engine.begin() as conn:
            return (
                conn.execute(
                    _jobs.update()
                    .where(_jobs.c.id == job_id, _jobs.c.status == "running")
                    .values(status=status, finished_at=time.time(), **values)
                ).rowcount
                == 1
            )

    def cancel(self, job_id: str, key_id: str | None = None) -> bool:
        """Cancel a job that has not ended; ``False`` if it had (its result stays)."""
        query = _jobs.update().where(_jobs.c.id == job_id, _jobs.c.status.in_(("queued", "running")))
        if key_id is not None:
            query = query.where(_jobs.c.key_id == key_id)
        with self.engine.begin() as conn:
            return conn.execute(query.values(status="cancelled", finished_at=time.time())).rowcount == 1

    def recover(self, max_attempts: int = MAX_ATTEMPTS) -> dict[str, list[str]]:
        """After a restart: re-queue running jobs that have no backend job id; list those that have one (their
        attempts count one more); fail those already started ``max_attempts`` times.

        Returns ``{"requeued": [...], "reattach": [...], "failed": [...]}`` (job ids).
        """
        with self.engine.begin() as conn:
            running = conn.execute(
                sa.select(_jobs.c.id, _jobs.c.remote_id, _jobs.c.attempts).where(_jobs.c.status == "running")
            ).all()
            failed = [job_id for job_id, _, attempts in running if attempts >= max_attempts]
            again = [(job_id, remote) for job_id, remote, attempts in running if attempts < max_attempts]
            requeued = [job_id for job_id, remote in again if remote is None]
            reattach = [job_id for job_id, remote in again if remote is not None]
            if failed:
                conn.execute(
                    _jobs.update()
                    .where(_jobs.c.id.in_(failed), _jobs.c.status == "running")
                    .values(
                        status="failed",
                        finished_at=time.time(),
                        error=f"the service stopped {max_attempts} times while this job was running, so "
                        "it is not run again; submit a smaller batch (fewer parameter sets or "
                        "qubits)",
                    )
                )
            if requeued:
                conn.execute(
                    _jobs.update()
                    .where(_jobs.c.id.in_(requeued), _jobs.c.status == "running")
                    .values(status="queued", worker=None, started_at=None)
                )
            if reattach:
                conn.execute(
                    _jobs.update()
                    .where(_jobs.c.id.in_(reattach), _jobs.c.status == "running")
                    .values(attempts=_jobs.c.attempts + 1)
                )
        return {"requeued": requeued, "reattach": reattach, "failed": failed}
