"""Who may ask: HTTP basic auth against the web config's bcrypt hashes, and its rate limit.

A bcrypt comparison is slow on purpose (~60 ms at cost 10), so it never runs on the threads
that serve requests: it goes to a pool of its own (`een-bcrypt-N`, one thread by default, as
the toolkit runs one check at a time) through a short queue. A request whose credentials need a
check waits for it without holding an HTTP worker; when the queue is full, or its client has
too many checks waiting already, the request is answered at once (503) instead of queueing
behind a flood of guesses. /healthz (when excluded from auth) and scrapes whose credentials
were verified before never wait for a check.

Verified results are kept: a successful (user, hash, password) in one cache, failures in
another, so a flood of wrong guesses cannot push Prometheus' verified credentials out. The
caches hold an HMAC of the password under a key made at start, never the password.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import queue
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass

import bcrypt

from exporter.web.config import RateLimit, decoy_hash

# The name the log lines have always carried (see exporter/web/__init__.py).
log = logging.getLogger("exporter.webauth")

CACHE_SIZE = 100  # verified (user, hash, password) successes kept, as the toolkit keeps
FAILURE_CACHE_SIZE = 1000  # and failures, apart: guesses must not push successes out
BCRYPT_MAX_PASSWORD = 72  # bytes bcrypt reads; Go's compare ignores the rest, so do we
CHECK_THREADS = 1  # the toolkit's one at a time: the other core keeps serving
MAX_WAITING = 8  # checks queued; beyond, a request needing one is answered 503 at once
MAX_WAITING_PER_CLIENT = 2  # of those, from one client address
# A comparison at the highest cost accepted (14) takes about 1 s here: room for it on a busy
# machine, within the 5 s from SIGTERM to exit.
CLOSE_TIMEOUT = 2.5
# Compared against when the user is unknown and no web config says better (it gives a decoy
# of its users' cost, so that an unknown name answers as slowly as a known one).
_DEFAULT_DECOY = decoy_hash()


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


class Busy:
    """The answer when a check is needed and none can be queued now: try again shortly."""

    def __repr__(self) -> str:
        return "BUSY"


BUSY = Busy()
# Decided at once (True/False), decided later (the future), or not now (BUSY).
Verdict = bool | Future[bool] | Busy


@dataclass(eq=False)
class _Check:
    key: bytes
    password: bytes
    hashed: bytes
    known: bool
    client: str
    result: Future[bool]


class BasicAuth:
    """Checks credentials: cached results at once, bcrypt comparisons on the check pool."""

    def __init__(
        self,
        cache_size: int = CACHE_SIZE,
        failure_cache_size: int = FAILURE_CACHE_SIZE,
        threads: int = CHECK_THREADS,
        max_waiting: int = MAX_WAITING,
        max_waiting_per_client: int = MAX_WAITING_PER_CLIENT,
    ) -> None:
        self._cache_size = cache_size
        self._failure_cache_size = failure_cache_size
        self._max_waiting = max_waiting
        self._max_per_client = max_waiting_per_client
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._cache: OrderedDict[bytes, None] = OrderedDict()  # verified successes
        self._failures: OrderedDict[bytes, None] = OrderedDict()
        self._pending: dict[bytes, Future[bool]] = {}  # checks queued or running, by key
        self._per_client: dict[str, int] = {}
        self._queue: queue.SimpleQueue[_Check | None] = queue.SimpleQueue()
        self._waiting = 0  # queued or running
        self._stopped = False
        self.comparisons = 0  # bcrypt comparisons run, for tests and curiosity
        self.refused = 0  # checks refused because too many were waiting
        # Started by the first check: without basic auth, none runs. Daemons, so that a
        # checker nobody closed never holds the process open; close() waits for a running
        # comparison instead: a daemon thread still inside bcrypt when the interpreter
        # finalizes is torn down in its native code, and the process aborts (SIGABRT).
        self._threads = [
            threading.Thread(target=self._work, name=f"een-bcrypt-{n}", daemon=True)
            for n in range(threads)
        ]

    def check(
        self,
        authorization: str | None,
        users: Mapping[str, bytes],
        decoy: bytes = _DEFAULT_DECOY,
        client: str = "",
    ) -> Verdict:
        """Whether the credentials match: now if known, else a future, or BUSY."""
        credentials = basic_credentials(authorization)
        if credentials is None:
            return False
        user, password = credentials
        known = user in users
        hashed = users[user] if known else decoy
        key = hmac.digest(self._key, b"\0".join((user.encode(), hashed, password)), hashlib.sha256)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return known  # always True: only successes of known users are kept
            if key in self._failures:
                return False
            pending = self._pending.get(key)
            if pending is not None:  # the same credentials already being checked
                return pending
            if (
                self._stopped
                or self._waiting >= self._max_waiting
                or self._per_client.get(client, 0) >= self._max_per_client
            ):
                self.refused += 1
                return BUSY
            self._waiting += 1
            self._per_client[client] = self._per_client.get(client, 0) + 1
            result: Future[bool] = Future()
            self._pending[key] = result
            if self._threads[0].ident is None:  # the first check
                for thread in self._threads:
                    thread.start()
        self._queue.put(_Check(key, password, hashed, known, client, result))
        return result

    def allows(
        self,
        authorization: str | None,
        users: Mapping[str, bytes],
        decoy: bytes = _DEFAULT_DECOY,
        timeout: float | None = None,
    ) -> bool:
        """check(), waiting for the comparison (BUSY is a refusal). For tests and tools."""
        verdict = self.check(authorization, users, decoy)
        if isinstance(verdict, Future):
            return verdict.result(timeout)
        return verdict is True

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            if not job.result.set_running_or_notify_cancel():
                self._forget(job)
                continue
            try:
                self.comparisons += 1
                # A hash the web config accepted never raises; anything else is a refusal.
                matches = bcrypt.checkpw(job.password[:BCRYPT_MAX_PASSWORD], job.hashed)
            except ValueError:
                log.warning("a bcrypt hash could not be checked: refusing")
                matches = False
            allowed = matches and job.known
            with self._lock:
                cache, size = (
                    (self._cache, self._cache_size)
                    if allowed
                    else (self._failures, self._failure_cache_size)
                )
                cache[job.key] = None
                while len(cache) > size:
                    cache.popitem(last=False)
            self._forget(job)
            job.result.set_result(allowed)

    def _forget(self, job: _Check) -> None:
        with self._lock:
            self._pending.pop(job.key, None)
            self._waiting -= 1
            left = self._per_client[job.client] - 1
            if left:
                self._per_client[job.client] = left
            else:
                del self._per_client[job.client]

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Cancel the checks not yet started and stop the threads. A comparison running cannot
        be interrupted: its thread is given `timeout` to finish it (see __init__)."""
        with self._lock:
            self._stopped = True
            pending = list(self._pending.values())
        for result in pending:
            result.cancel()  # a running one is not cancelled: it completes
        started = [thread for thread in self._threads if thread.ident is not None]
        for _ in started:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in started:
            thread.join(max(0.0, deadline - time.monotonic()))


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
