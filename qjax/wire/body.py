"""A batch's JSON text (a request body), parsed only once its nesting is known to be bounded.

Python's ``json`` module recurses once per ``[`` or ``{``: 10,000 of them raised
``RecursionError`` and the client got a 500. :func:`json_depth` measures the
deepest nesting first, in one vectorised pass over the bytes (brackets inside
strings do not count; escapes are honoured), and :func:`decode_json` refuses a
body deeper than the limit with a 400 before ``json.loads`` sees it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from qjax.wire.format import RequestError

__all__ = ["decode_json", "json_depth"]

_ESCAPE = re.compile(rb"\\.", re.S)
# bytes.translate maps each byte to its step in one C pass: "[" "{" +1, "]" "}" -1 (as 255), the rest 0
_STEP = bytes(1 if b in b"[{" else 255 if b in b"]}" else 0 for b in range(256))


def json_depth(body: bytes) -> int:
    """The deepest ``[``/``{`` nesting of ``body`` read as JSON (up to where it stops being valid JSON).

    Escapes (``\\"``, ``\\\\``) are removed first, so every remaining quote opens or closes
    a string; a bracket counts when an even number of quotes precedes it. A backslash
    outside a string is invalid JSON, and ``json.loads`` stops there, so removing
    what follows it cannot hide nesting the parser would reach.
    """
    text = _ESCAPE.sub(b"", body) if b"\\" in body else body
    if not text:
        return 0
    quotes = np.frombuffer(text, np.uint8) == ord('"')
    step = np.frombuffer(text.translate(_STEP), np.int8).astype(np.int32)
    step[np.cumsum(quotes, dtype=np.int32) & 1 == 1] = 0  # inside a string (its closing quote is no bracket)
    return int(max(np.cumsum(step, dtype=np.int32).max(), 0))


def decode_json(body: bytes, max_depth: int) -> Any:
    """``body`` parsed as JSON; :class:`RequestError` (400) when it nests deeper than ``max_depth`` or is not JSON."""
    depth = json_depth(body)
    if depth > max_depth:
        raise RequestError(
            "body", f"nests {depth:,} levels deep; this service reads JSON nested at most {max_depth} levels", 400
        )
    try:
        return json.loads(body, parse_constant=_no_constants)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError("body", f"is not valid JSON ({str(exc)[:120]})", 400) from None


def _no_constants(name: str):
    raise ValueError(f"{name} is not a JSON number")
