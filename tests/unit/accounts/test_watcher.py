"""The per-account thread of the engine, driving a scripted Watch: backoff, stop, failures."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from exporter.accounts import watcher as watcher_module
from exporter.accounts.cloud import Ended
from exporter.accounts.pacing import Backoff, LoginGate
from exporter.accounts.tuning import StreamTuning
from exporter.accounts.watcher import Watcher
from exporter.state.model import AccountInfo
from exporter.state.selfmetrics import SelfMetrics
from exporter.state.store import StateStore
from tests.unit.accounts.fakes import (
    BLOCK,
    PATIENCE,
    Attempt,
    Clock,
    FakeError,
    FakeWatch,
    fixed_jitter,
)

ACCOUNT = "00001234"
NEVER_HEALTHY = StreamTuning(timeout=1e9, backoff_base=1.0, backoff_max=8.0)  # 30 s to reset
ALWAYS_HEALTHY = StreamTuning(timeout=0.0, backoff_base=1.0, backoff_max=8.0)
# The tests that stop the thread use the real wait: a backoff this long ends only by stop().
LONG = StreamTuning(timeout=1e9, backoff_base=1000.0, backoff_max=1000.0)

Start = Callable[..., tuple[Watcher, FakeWatch]]


@pytest.fixture
def store() -> StateStore:
    store = StateStore()
    store.sync_accounts([AccountInfo(ACCOUNT, "Account")])
    return store


@pytest.fixture
def metrics() -> SelfMetrics:
    return SelfMetrics()


@pytest.fixture
def start(store: StateStore, metrics: SelfMetrics) -> Iterator[Start]:
    started: list[Watcher] = []

    def make(
        attempts: list[Attempt], tuning: StreamTuning = NEVER_HEALTHY, start_delay: float = 0.0
    ) -> tuple[Watcher, FakeWatch]:
        stopping = threading.Event()
        watch = FakeWatch(attempts, stopping)
        thread = Watcher(
            ACCOUNT, watch, stopping, store, metrics, LoginGate(1), tuning, start_delay
        )
        started.append(thread)
        thread.start()
        return thread, watch

    yield make
    for thread in started:
        thread.stop()
        thread.join(PATIENCE)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Waits that return at once, recorded; backoff without jitter (each delay its ceiling)."""
    clock = Clock()
    monkeypatch.setattr(watcher_module, "wait", clock.wait)
    monkeypatch.setattr(watcher_module, "Backoff", fixed_jitter(Backoff))
    return clock


def refused(n: int) -> list[Attempt]:
    return [Attempt(connect=FakeError(f"refused {i}")) for i in range(n)]


def stops_promptly(thread: Watcher, watch: FakeWatch) -> None:
    began = time.monotonic()
    thread.stop()
    thread.join(PATIENCE)
    assert not thread.is_alive()
    assert time.monotonic() - began < 1.0
    assert watch.steps.seen[-1] == "finish"


# --- backoff --------------------------------------------------------------------------------


def test_backoff_doubles_to_the_cap_while_attempts_fail(start: Start, clock: Clock) -> None:
    start(refused(6))
    # The start delay, then one backoff per failed attempt.
    assert clock.reach(7) == [0.0, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_a_healthy_connection_resets_the_backoff(start: Start, clock: Clock) -> None:
    lost = Attempt(read=FakeError("connection lost"))
    start([*refused(3), lost, *refused(2)], tuning=ALWAYS_HEALTHY)
    assert clock.reach(7)[1:] == [1.0, 2.0, 4.0, 1.0, 2.0, 4.0]


def test_a_connection_that_was_not_healthy_long_keeps_the_backoff(
    start: Start, clock: Clock
) -> None:
    lost = Attempt(read=FakeError("connection lost"))
    start([*refused(3), lost, *refused(2)], tuning=NEVER_HEALTHY)
    assert clock.reach(7)[1:] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_retry_after_is_waited_at_least(start: Start, clock: Clock) -> None:
    start([Attempt(connect=FakeError("429", retry_after=50.0)), *refused(1)])
    assert clock.reach(3)[1:] == [50.0, 2.0]


def test_a_planned_end_reconnects_without_backoff(
    start: Start, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    renewal = Attempt(read=Ended("access token renewal", planned=True))
    _, watch = start([renewal, renewal, *refused(1)])
    assert clock.reach(2) == [0.0, 1.0]  # no wait between the renewals; backoff not advanced
    watch.steps.reach("connect", 3)
    renewed = [r for r in caplog.records if r.getMessage() == "stream renewed"]
    assert [r.__dict__["reason"] for r in renewed] == ["access token renewal"] * 2
    assert not [r for r in caplog.records if r.getMessage() == "stream down"][1:]


# --- what an attempt does, and what a failure means ---------------------------------------------


def test_an_attempt_connects_subscribes_and_reports_up(
    start: Start, store: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    _, watch = start([Attempt()])
    watch.steps.reach("read blocked")
    assert watch.steps.seen == ["connect", "subscribe", "read", "read blocked"]
    [health] = store.health()[2]
    assert health.stream_up
    [up] = [r for r in caplog.records if r.getMessage() == "stream up"]
    assert up.__dict__["devices"] == 2


def test_a_failure_is_logged_with_its_reason_and_closes_the_stream(
    start: Start, clock: Clock, store: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _, watch = start([Attempt(read=FakeError("connection lost"))])
    clock.reach(2)
    [down] = [r for r in caplog.records if r.getMessage() == "stream down"]
    assert down.levelno == logging.WARNING
    assert down.__dict__["reason"] == "connection lost"
    assert down.__dict__["retry_in"] == 1.0
    assert watch.steps.seen[:5] == ["connect", "subscribe", "read", "close", "connect"]
    [health] = store.health()[2]
    assert health.problem == "connection lost"


def test_a_quiet_failure_is_logged_at_debug(
    start: Start, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    start([Attempt(connect=FakeError("paused: EEN refused the credentials", quiet=True))])
    clock.reach(2)
    [down] = [r for r in caplog.records if r.getMessage() == "stream down"]
    assert down.levelno == logging.DEBUG


@pytest.mark.parametrize("phase", ["connect", "read"])
def test_an_unexpected_error_is_counted_and_ends_only_the_attempt(
    phase: str,
    start: Start,
    clock: Clock,
    metrics: SelfMetrics,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    bug = Attempt(**{phase: RuntimeError("simulated bug")})
    _, watch = start([bug, *refused(1)])
    assert clock.reach(3)[1:] == [1.0, 2.0]
    unexpected = metrics.registry.get_sample_value(
        "een_exporter_unexpected_errors_total", {"thread": "stream"}
    )
    assert unexpected == 1
    down = [r for r in caplog.records if r.getMessage() == "stream down"]
    assert down[0].__dict__["reason"] == "unexpected error: RuntimeError: simulated bug"
    assert down[1].__dict__["reason"] == "refused 0"
    assert watch.steps.seen.count("close") >= 2


# --- stop -------------------------------------------------------------------------------------


def test_stop_during_the_start_delay(start: Start) -> None:
    thread, watch = start([Attempt()], start_delay=1000.0)
    stops_promptly(thread, watch)
    assert "connect" not in watch.steps.seen


def test_stop_during_connect(start: Start, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    thread, watch = start([Attempt(connect=BLOCK)], tuning=LONG)
    watch.steps.reach("connect blocked")
    stops_promptly(thread, watch)
    assert watch.steps.seen.count("connect") == 1
    assert not [r for r in caplog.records if r.getMessage() == "stream down"]


def test_stop_during_read(start: Start, store: StateStore) -> None:
    thread, watch = start([Attempt(read=BLOCK)], tuning=LONG)
    watch.steps.reach("read blocked")
    stops_promptly(thread, watch)
    assert watch.steps.seen[-3:] == ["interrupt", "close", "finish"]
    [health] = store.health()[2]
    assert not health.stream_up
    assert health.problem == "exporter stopping"


def test_stop_during_the_backoff(
    start: Start, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = Clock(hold=True)  # each wait lasts until released, or until the thread is stopped
    monkeypatch.setattr(watcher_module, "wait", clock.wait)
    thread, watch = start(refused(1), start_delay=0.0)
    clock.release()  # the start delay
    assert clock.reach(2)[1] >= 0.0  # backing off after the refusal
    stops_promptly(thread, watch)
    assert watch.steps.seen.count("connect") == 1
    [down] = [r for r in caplog.records if r.getMessage() == "stream down"]
    assert down.__dict__["reason"] == "refused 0"
