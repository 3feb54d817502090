"""API keys and rate limits of the quantum execution service.

Keys are never stored: :class:`KeyRing` keeps the SHA-256 of each one (from
``QJAX_API_KEYS=key1,key2``, hashed at load, or from a file of hex hashes, one per
line, ``#`` comments allowed) and checks a presented key by comparing digests with
:func:`hmac.compare_digest` against every stored hash, so the time taken does not
depend on which key (or how much of one) matched. A key's public identity is
``key_id``: the first 12 hex digits of its hash, safe to log and to store with jobs.

:class:`RateLimiter` is a token bucket per key (``rate`` requests per second, bursts
of ``burst``); a refused request learns how long to wait (``Retry-After``).
:class:`SharedRateLimiter` keeps the same buckets in the job store, so that every API
process in front of one store draws from one bucket per key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from qjax.errors import ConfigError

__all__ = ["KeyRing", "RateLimiter", "SharedRateLimiter", "hash_key"]

_MIN_KEY_LENGTH = 16


def hash_key(key: str) -> str:
    """The SHA-256 hex digest stored for ``key``."""
    return hashlib.sha256(key.encode()).hexdigest()


class KeyRing:
    """The accepted API keys, as hashes; :meth:`identify` maps a presented key to its ``key_id``."""

    def __init__(self, hashes: Iterable[str]):
        self._hashes = tuple(h.strip().lower() for h in hashes if h.strip())
        for h in self._hashes:
            if len(h) != 64 or any(c not in "0123456789abcdef" for c in h):
                raise ConfigError(
                    "an API key hash is not a SHA-256 hex digest (64 hex digits); make one with "
                    "`python -c \"import qjax.serve.auth as a; print(a.hash_key('<key>'))\"`"
                )
        if not self._hashes:
            raise ConfigError(
                "no API keys: set QJAX_API_KEYS=key1,key2 or QJAX_API_KEY_FILE=<file of hashes>; "
                "the service refuses to run open"
            )

    @classmethod
    def from_keys(cls, keys: Iterable[str]) -> KeyRing:
        return cls(_hashed(keys))

    @classmethod
    def from_environment(cls, environ=os.environ) -> KeyRing:
        """``QJAX_API_KEYS`` (comma-separated keys) and/or ``QJAX_API_KEY_FILE`` (hashes, one per line)."""
        hashes = _hashed(environ.get("QJAX_API_KEYS", "").split(","))
        path = environ.get("QJAX_API_KEY_FILE")
        if path:
            try:
                lines = Path(path).read_text().splitlines()
            except OSError as exc:
                raise ConfigError(f"QJAX_API_KEY_FILE={path} cannot be read ({exc.strerror}); fix the path") from None
            hashes += [line.split("#", 1)[0] for line in lines]
        return cls(hashes)

    def identify(self, presented: str | None) -> str | None:
        """The ``key_id`` of ``presented``, or ``None`` when it is missing or not an accepted key."""
        digest = hash_key(presented or "")
        found = None
        for stored in self._hashes:  # every hash is compared, whichever matches
            if hmac.compare_digest(digest, stored):
                found = stored
        return None if presented is None or found is None else found[:12]

    def __len__(self) -> int:
        return len(self._hashes)


def _hashed(keys: Iterable[str]) -> list[str]:
    keys = [k.strip() for k in keys if k.strip()]
    if any(len(k) < _MIN_KEY_LENGTH for k in keys):
        raise ConfigError(
            f"an API key is shorter than {_MIN_KEY_LENGTH} characters; use long random keys "
            '(e.g. python -c "import secrets; print(secrets.token_urlsafe(32))")'
        )
    return [hash_key(k) for k in keys]


def _check_rate(rate: float, burst: int) -> None:
    if not rate > 0 or burst < 1:
        raise ConfigError(f"rate limit {rate}/s with burst {burst} is invalid: need rate > 0 and burst ≥ 1")


class SharedRateLimiter:
    """Token buckets per key kept by ``take(key_id, rate, burst)`` (:meth:`JobStore.take_token`: one atomic update
    in the database), so they hold across API processes; same interface as :class:`RateLimiter`."""

    def __init__(self, take: Callable[[str, float, int], float], rate: float, burst: int):
        _check_rate(rate, burst)
        self.rate, self.burst, self._take = float(rate), int(burst), take

    def acquire(self, key_id: str) -> float:
        """Take one token for ``key_id``: 0.0 when allowed, else the seconds to wait before retrying."""
        return self._take(key_id, self.rate, self.burst)


class RateLimiter:
    """Token buckets per key in this process: ``rate`` requests per second on average, at most ``burst`` at once."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        _check_rate(rate, burst)
        self.rate, self.burst, self._clock = float(rate), int(burst), clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key_id: str) -> float:
        """Take one token for ``key_id``: 0.0 when allowed, else the seconds to wait before retrying."""
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.get(key_id, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / self.rate
