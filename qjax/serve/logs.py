"""Request ids on every log line of the service.

The HTTP layer sets :data:`request_id` for the request it serves; a worker sets it
to the id of the request that submitted the job it runs. :class:`RequestIdFilter`
copies it onto each log record, and :func:`configure` installs a format that
prints it. Log lines carry messages only: no stack traces, no keys, no payloads.
"""

from __future__ import annotations

import contextvars
import logging
import os

__all__ = ["request_id", "RequestIdFilter", "environment_secrets", "configure", "log", "access"]

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("qjax_request_id", default="-")
log = logging.getLogger("qjax.serve")
access = logging.getLogger("qjax.serve.access")  # one line per request, with its id (uvicorn's own is off)

_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (the current request's, or ``-``) and blanks ``secrets`` out of the message."""

    def __init__(self, secrets: tuple[str, ...] = ()):
        super().__init__()
        self.secrets = tuple(s for s in secrets if len(s) >= 8)

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        if self.secrets:
            message = record.getMessage()
            if any(secret in message for secret in self.secrets):
                for secret in self.secrets:
                    message = message.replace(secret, "[redacted]")
                record.msg, record.args = message, None
        return True


def environment_secrets(environ=os.environ) -> tuple[str, ...]:
    """The IBM token and the API keys the service was given, so that no log line can carry them."""
    keys = [k.strip() for k in environ.get("QJAX_API_KEYS", "").split(",")]
    return tuple(s for s in [environ.get("QISKIT_IBM_TOKEN", ""), *keys] if s)


def configure(level: int = logging.INFO) -> None:
    """Log the service (and uvicorn's access log) to stderr with request ids."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter(environment_secrets()))
    handler.setFormatter(logging.Formatter(_FORMAT))
    for name in ("qjax", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
