"""The quantum execution service (issue 8, in progress): an HTTP front of the executor protocol.

So far: :mod:`qjax.serve.store`, the durable job store (SQLAlchemy, SQLite by default), and
:mod:`qjax.serve.auth`, hashed API keys with constant-time checks and per-key rate limits.
"""

from qjax.serve.store import STATUSES, JobRecord, JobStore

__all__ = ["JobStore", "JobRecord", "STATUSES"]
