"""The service's error answers: JSON ``{"error", "field", "request_id"}``, never a stack trace.

A dependency or route that refuses a request raises :class:`Refused`; the app's
handler answers it with :func:`error_response` and counts it in the
``qjax_refused_requests`` metric under its ``reason``.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse

from qjax.serve import logs
from qjax.wire import RequestError

__all__ = ["Refused", "error_response"]


def error_response(status: int, message: str, field: str | None = None, headers: dict | None = None) -> JSONResponse:
    """An error answer carrying the current request's id."""
    body = {"error": message, "field": field, "request_id": logs.request_id.get()}
    return JSONResponse(body, status_code=status, headers=headers)


class Refused(Exception):
    """Ends a request early with an error answer; ``reason`` labels the refusal metric (``unauthorized``, ...)."""

    def __init__(self, status: int, message: str, field: str | None, reason: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.field, self.reason, self.headers = status, message, field, reason, headers

    @classmethod
    def invalid(cls, exc: RequestError) -> Refused:
        """The refusal of a request the wire format (or a route's own check) found invalid."""
        return cls(exc.status, exc.message, exc.field or None, "invalid")

    def response(self) -> JSONResponse:
        return error_response(self.status, self.message, self.field, self.headers)
