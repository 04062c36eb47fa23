"""Who may ask: HTTP basic auth against the web config's bcrypt hashes, and its rate limit."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

import bcrypt

from exporter.webconfig import RateLimit

CACHE_SIZE = 100  # verified (user, hash, password) results kept, as the toolkit keeps
BCRYPT_MAX_PASSWORD = 72  # bytes bcrypt reads; Go's compare ignores the rest, so do we
# Compared against when the user is unknown, so that the answer takes as long as for a known
# user and does not tell which names exist. The hash of a random throwaway password, cost 10.
_DECOY_HASH = b"$2b$10$EDvfWGI4ue6NM3ZRUQjyCuZbteMRnkmt7GkfCH8j1pOLuDZlXO2Vi"


def basic_credentials(authorization: str | None) -> tuple[str, bytes] | None:
    """(user, password) of an `Authorization: Basic ...` header, or None, as Go reads it.

    >>> basic_credentials("Basic YWxpY2U6czNjcjN0OndpdGg6Y29sb25z")
    ('alice', b's3cr3t:with:colons')
    >>> basic_credentials("Bearer x"), basic_credentials("Basic !!"), basic_credentials(None)
    (None, None, None)
    """
    if not authorization or authorization[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True)
        user, colon, password = decoded.partition(b":")
        name = user.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return (name, password) if colon else None


class BasicAuth:
    """Checks credentials; a bcrypt comparison (~70 ms at cost 10) runs once per distinct
    (user, hash, password), one at a time, and its result is kept for later requests.

    The cache holds an HMAC of the password under a key made at start, never the password.
    """

    def __init__(self, cache_size: int = CACHE_SIZE) -> None:
        self._cache_size = cache_size
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._bcrypt = threading.Lock()  # one at a time: it is CPU-bound by design
        self._cache: OrderedDict[bytes, bool] = OrderedDict()
        self.comparisons = 0  # bcrypt comparisons run, for tests and curiosity

    def allows(self, authorization: str | None, users: Mapping[str, bytes]) -> bool:
        credentials = basic_credentials(authorization)
        if credentials is None:
            return False
        user, password = credentials
        known = user in users
        hashed = users[user] if known else _DECOY_HASH
        key = hmac.digest(self._key, b"\0".join((user.encode(), hashed, password)), hashlib.sha256)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached and known
        with self._bcrypt:
            self.comparisons += 1
            matches = bcrypt.checkpw(password[:BCRYPT_MAX_PASSWORD], hashed)
        allowed = matches and known
        with self._lock:
            self._cache[key] = allowed
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return allowed


class RateLimiter:
    """A token bucket like Go's rate.Limiter: starts full with `burst` tokens, one more every
    `interval` seconds; with a burst of 0 nothing passes, as in Go."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = float(limit.burst)
        self._updated = clock()

    def allow(self) -> bool:
        with self._lock:
            now = self._clock()
            refill = (now - self._updated) / self.limit.interval
            self._tokens = min(float(self.limit.burst), self._tokens + refill)
            self._updated = now
            if self._tokens < 1.0:
                return False
            self._tokens -= 1.0
            return True
