"""Request ids on every log line of the service.

The HTTP layer sets :data:`request_id` for the request it serves; a worker sets it
to the id of the request that submitted the job it runs. :class:`RequestIdFilter`
copies it onto each log record, and :func:`configure` installs a format that
prints it. Log lines carry messages only: no stack traces, no keys, no payloads.
"""

from __future__ import annotations

import contextvars
import logging

__all__ = ["request_id", "RequestIdFilter", "configure", "log", "access"]

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("qjax_request_id", default="-")
log = logging.getLogger("qjax.serve")
access = logging.getLogger("qjax.serve.access")  # one line per request, with its id (uvicorn's own is off)

_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (the current request's, or ``-``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def configure(level: int = logging.INFO) -> None:
    """Log the service (and uvicorn's access log) to stderr with request ids."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter(_FORMAT))
    for name in ("qjax", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
