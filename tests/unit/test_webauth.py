"""Basic auth against bcrypt hashes (verified once, then cached) and the token-bucket rate limit."""

from __future__ import annotations

import base64

import bcrypt

from exporter.webauth import BasicAuth, RateLimiter
from exporter.webconfig import RateLimit


def header(user: str, password: bytes) -> str:
    return "Basic " + base64.b64encode(user.encode() + b":" + password).decode()


def hashed(password: bytes, prefix: str = "$2b$") -> bytes:
    return bcrypt.hashpw(password, bcrypt.gensalt(4)).replace(b"$2b$", prefix.encode(), 1)


USERS = {"alice": hashed(b"s3cret", "$2y$"), "bob": hashed(b"hunter2")}


def test_the_right_password_passes_and_others_do_not() -> None:
    auth = BasicAuth()
    assert auth.allows(header("alice", b"s3cret"), USERS)  # a $2y$ hash, as htpasswd writes
    assert auth.allows(header("bob", b"hunter2"), USERS)
    assert not auth.allows(header("alice", b"hunter2"), USERS)
    assert not auth.allows(header("mallory", b"s3cret"), USERS)
    assert not auth.allows(header("alice", b""), USERS)
    assert not auth.allows(None, USERS)
    assert not auth.allows("basic " + base64.b64encode(b"no colon").decode(), USERS)
    assert auth.allows(header("alice", b"s3cret").replace("Basic", "bASIC"), USERS)


def test_a_verified_password_is_not_hashed_again() -> None:
    auth = BasicAuth()
    for _ in range(5):
        assert auth.allows(header("alice", b"s3cret"), USERS)
        assert not auth.allows(header("alice", b"wrong"), USERS)
    assert auth.comparisons == 2


def test_an_unknown_user_costs_a_comparison_too() -> None:
    """Otherwise the answer's speed would tell which user names exist."""
    auth = BasicAuth()
    assert not auth.allows(header("mallory", b"x"), USERS)
    assert auth.comparisons == 1


def test_a_changed_hash_is_verified_afresh() -> None:
    auth = BasicAuth()
    assert auth.allows(header("alice", b"s3cret"), USERS)
    assert not auth.allows(header("alice", b"s3cret"), {"alice": hashed(b"rotated")})


def test_the_cache_is_bounded_and_holds_no_password() -> None:
    auth = BasicAuth(cache_size=10)
    for attempt in range(25):
        auth.allows(header("bob", f"guess-{attempt}".encode()), USERS)
    cache = auth._cache
    assert len(cache) == 10
    assert not any(b"guess" in key for key in cache)


def test_passwords_longer_than_bcrypt_reads_compare_as_go_compares_them() -> None:
    long = b"x" * 72
    users = {"carol": hashed(long)}
    auth = BasicAuth()
    assert auth.allows(header("carol", long + b"ignored by bcrypt"), users)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_rate_limit_allows_a_burst_then_one_per_interval() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimit(interval=1.0, burst=2), clock)
    assert [limiter.allow() for _ in range(3)] == [True, True, False]
    clock.now += 0.5
    assert not limiter.allow()
    clock.now += 0.5
    assert limiter.allow()
    clock.now += 10
    assert [limiter.allow() for _ in range(3)] == [True, True, False]  # never above the burst


def test_a_burst_of_zero_lets_nothing_through_as_in_go() -> None:
    limiter = RateLimiter(RateLimit(interval=1.0, burst=0), Clock())
    assert not limiter.allow()
