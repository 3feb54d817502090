"""The quantum execution service (issue 8, in progress): an HTTP front of the executor protocol.

So far: :mod:`qjax.serve.store`, the durable job store (SQLAlchemy, SQLite by default).
"""

from qjax.serve.store import STATUSES, JobRecord, JobStore

__all__ = ["JobStore", "JobRecord", "STATUSES"]
