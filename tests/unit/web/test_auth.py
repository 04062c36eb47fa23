"""Basic auth against bcrypt hashes (verified once, then cached; checked off the serving threads,
a bounded number at a time) and the token-bucket rate limit."""

from __future__ import annotations

import base64
import threading
import time
from concurrent.futures import Future

import bcrypt
import pytest

from exporter.web.auth import BUSY, BasicAuth, RateLimiter
from exporter.web.config import RateLimit, decoy_hash


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
    auth = BasicAuth(failure_cache_size=10)
    for attempt in range(25):
        auth.allows(header("bob", f"guess-{attempt}".encode()), USERS)
    cache = auth._failures
    assert len(cache) == 10
    assert not any(b"guess" in key for key in cache)


def test_a_flood_of_guesses_does_not_push_verified_credentials_out() -> None:
    """Issue 19 item 9: one cache of 100 for both let 100 guesses evict Prometheus' success, so
    its next scrape queued for bcrypt behind the flood."""
    auth = BasicAuth(cache_size=2, failure_cache_size=2)
    assert auth.allows(header("alice", b"s3cret"), USERS)
    for attempt in range(20):
        assert not auth.allows(header("alice", f"guess-{attempt}".encode()), USERS)
    comparisons = auth.comparisons
    assert auth.check(header("alice", b"s3cret"), USERS) is True  # at once: no comparison
    assert auth.comparisons == comparisons


class Gate:
    """Holds the check thread inside bcrypt.checkpw until opened."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.open = threading.Event()
        self.entered = threading.Semaphore(0)
        real = bcrypt.checkpw

        def checkpw(password: bytes, hashed: bytes) -> bool:
            self.entered.release()
            assert self.open.wait(10)
            return real(password, hashed)

        monkeypatch.setattr(bcrypt, "checkpw", checkpw)


def test_checks_run_off_the_callers_thread_and_a_full_queue_answers_busy_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 19 item 9: checks ran on the HTTP workers one at a time, so 200 guessing
    connections held every worker and /healthz waited 12.7 s. Now the caller gets a future, and
    beyond a short queue BUSY, without waiting."""
    gate = Gate(monkeypatch)
    auth = BasicAuth(max_waiting=3, max_waiting_per_client=3)
    try:
        verdicts = [auth.check(header("bob", f"guess-{n}".encode()), USERS) for n in range(3)]
        assert all(isinstance(verdict, Future) for verdict in verdicts)
        assert gate.entered.acquire(timeout=5)  # the first one is being compared
        began = time.monotonic()
        assert auth.check(header("bob", b"one too many"), USERS) is BUSY
        assert time.monotonic() - began < 0.05
        # The same credentials again wait for the check under way rather than queue another.
        assert auth.check(header("bob", b"guess-0"), USERS) is verdicts[0]
        gate.open.set()
        assert [v.result(5) for v in verdicts if isinstance(v, Future)] == [False] * 3
        assert isinstance(auth.check(header("bob", b"room again"), USERS), Future)
    finally:
        gate.open.set()
        auth.close()


def test_one_client_cannot_take_every_place_in_the_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    gate = Gate(monkeypatch)
    auth = BasicAuth(max_waiting=4, max_waiting_per_client=2)
    try:
        mallory = [
            auth.check(header("bob", f"g{n}".encode()), USERS, client="10.0.0.6") for n in range(3)
        ]
        assert isinstance(mallory[0], Future)
        assert isinstance(mallory[1], Future)
        assert mallory[2] is BUSY
        assert isinstance(auth.check(header("bob", b"hunter2"), USERS, client="10.0.0.9"), Future)
    finally:
        gate.open.set()
        auth.close()


def test_close_cancels_waiting_checks_and_stops_its_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate = Gate(monkeypatch)
    auth = BasicAuth(max_waiting=4, max_waiting_per_client=4)
    running = auth.check(header("bob", b"a"), USERS)
    waiting = auth.check(header("bob", b"b"), USERS)
    assert isinstance(running, Future)
    assert isinstance(waiting, Future)
    assert gate.entered.acquire(timeout=5)
    auth.close(timeout=0.1)
    assert waiting.cancelled()
    assert auth.check(header("bob", b"c"), USERS) is BUSY  # closed
    gate.open.set()
    assert running.result(5) is False
    for thread in auth._threads:
        thread.join(5)
        assert not thread.is_alive()
        assert thread.name.startswith("een-bcrypt-")


def test_an_unknown_user_is_compared_with_a_decoy_of_the_given_cost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 19 item 12: the decoy had cost 10 whatever the users' cost: with cost-4 users an
    unknown name answered in 60 ms and a known one in 2 ms."""
    compared: list[bytes] = []
    real = bcrypt.checkpw

    def checkpw(password: bytes, hashed: bytes) -> bool:
        compared.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", checkpw)
    decoy = decoy_hash(4)
    assert not BasicAuth().allows(header("mallory", b"x"), USERS, decoy)
    assert compared == [decoy]
    assert decoy.startswith(b"$2b$04$")


def test_a_hash_the_library_refuses_is_a_refusal_not_an_error() -> None:
    """The web config refuses such hashes at load; should one get here all the same, the
    request is refused (401), not answered 500 with a traceback."""
    good = USERS["bob"].decode()
    bad_salt = good[:28] + "/" + good[29:]  # the salt's last character must be . O e u
    auth = BasicAuth()
    assert not auth.allows(header("bob", b"hunter2"), {"bob": bad_salt.encode()})


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
