"""API keys (hashed, constant-time checked) and per-key rate limits of the service."""

import hashlib

import pytest

from qjax.errors import ConfigError
from qjax.serve.auth import KeyRing, RateLimiter, hash_key

ALICE, BOB = "alice-" + "a" * 26, "bob-" + "b" * 28


def test_keys_are_kept_as_sha256_hashes_and_identified():
    ring = KeyRing.from_keys([ALICE, BOB])
    assert hash_key(ALICE) == hashlib.sha256(ALICE.encode()).hexdigest()
    assert ALICE not in repr(vars(ring)) and hash_key(ALICE) in vars(ring)["_hashes"]
    assert ring.identify(ALICE) == hash_key(ALICE)[:12] and ring.identify(BOB) == hash_key(BOB)[:12]
    for wrong in (None, "", ALICE[:-1], ALICE + "x", hash_key(ALICE)):
        assert ring.identify(wrong) is None


def test_keys_from_the_environment_and_from_a_file_of_hashes(tmp_path):
    path = tmp_path / "keys.txt"
    path.write_text(f"# service keys\n{hash_key(BOB)}  # bob\n\n")
    ring = KeyRing.from_environment({"QJAX_API_KEYS": f"{ALICE}, ", "QJAX_API_KEY_FILE": str(path)})
    assert len(ring) == 2 and ring.identify(ALICE) and ring.identify(BOB)


@pytest.mark.parametrize(
    "environ, message",
    [
        ({}, r"no API keys: set QJAX_API_KEYS"),
        ({"QJAX_API_KEYS": "short"}, r"shorter than 16 characters"),
        ({"QJAX_API_KEY_FILE": "/nonexistent/keys"}, r"QJAX_API_KEY_FILE=/nonexistent/keys cannot be read"),
    ],
)
def test_a_service_without_usable_keys_is_refused(environ, message):
    with pytest.raises(ConfigError, match=message):
        KeyRing.from_environment(environ)


def test_a_malformed_hash_is_refused():
    with pytest.raises(ConfigError, match=r"not a SHA-256 hex digest"):
        KeyRing(["abc"])


def test_rate_limiter_allows_a_burst_then_says_when_to_retry():
    now = [100.0]
    limiter = RateLimiter(rate=2.0, burst=3, clock=lambda: now[0])
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("a") == pytest.approx(0.5)  # one token refills in 1/rate seconds
    assert limiter.acquire("b") == 0.0  # buckets are per key
    now[0] += 0.5
    assert limiter.acquire("a") == 0.0 and limiter.acquire("a") > 0
    now[0] += 100
    assert [limiter.acquire("a") for _ in range(4)][:3] == [0.0, 0.0, 0.0]  # refills only up to the burst


def test_bad_rate_limits_are_refused():
    with pytest.raises(ConfigError, match=r"need rate > 0 and burst ≥ 1"):
        RateLimiter(rate=0, burst=1)
