"""The engine's discovery thread over a fake Cloud: filters, shard, reconcile, failures, stop."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from exporter.accounts import discovery as discovery_module
from exporter.accounts.discovery import AccountFilter, Discovery
from exporter.accounts.pacing import Backoff
from exporter.accounts.tuning import EngineTuning, StreamTuning
from exporter.state.model import AccountInfo
from exporter.state.selfmetrics import SelfMetrics
from exporter.state.sharding import Shard
from exporter.state.store import StateStore
from tests.unit.accounts.fakes import PATIENCE, Clock, FakeCloud, FakeError, fixed_jitter

TUNING = EngineTuning(
    StreamTuning(device_refresh=300.0, backoff_base=1.0, backoff_max=8.0), start_jitter=0.0
)


def accounts(*ids: str) -> list[AccountInfo]:
    return [AccountInfo(i, f"Account {i}") for i in ids]


Start = Callable[..., Discovery]


@pytest.fixture
def store() -> StateStore:
    return StateStore()


@pytest.fixture
def metrics() -> SelfMetrics:
    return SelfMetrics()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Each wait between rounds lasts until the test releases it (or stop())."""
    clock = Clock(hold=True)
    monkeypatch.setattr(discovery_module, "wait", clock.wait)
    monkeypatch.setattr(discovery_module, "Backoff", fixed_jitter(Backoff))
    return clock


@pytest.fixture
def start(store: StateStore, metrics: SelfMetrics) -> Iterator[Start]:
    started: list[Discovery] = []

    def make(
        cloud: FakeCloud, accounts: AccountFilter | None = None, shard: Shard | None = None
    ) -> Discovery:
        discovery = Discovery(
            cloud, store, metrics, accounts or AccountFilter(), TUNING, shard or Shard()
        )
        started.append(discovery)
        discovery.start()
        return discovery

    yield make
    for discovery in started:
        discovery.stop(PATIENCE)


def streams() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("een-stream-")}


def test_reconcile_starts_and_stops_a_watcher_per_account(
    start: Start, clock: Clock, store: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    cloud = FakeCloud(accounts("a", "b"))
    discovery = start(cloud)
    assert clock.reach(1) == [300.0]  # a round went through: the next one a refresh later
    for account in ("a", "b"):
        cloud.watches[account].steps.reach("read blocked")
    assert {"een-stream-a", "een-stream-b"} <= streams()
    assert cloud.gates == [discovery.gate]

    cloud.accounts = accounts("b", "c")
    clock.release()
    clock.reach(2)
    cloud.watches["a"].steps.reach("finish")  # stopped, and its thread ended
    cloud.watches["c"].steps.reach("read blocked")
    assert [a.id for a in store.health()[2]] == ["b", "c"]
    assert cloud.watches["b"].steps.seen.count("connect") == 1  # left alone
    changed = [r.__dict__ for r in caplog.records if r.getMessage() == "accounts changed"]
    assert [(c["added"], c["removed"]) for c in changed] == [("a,b", ""), ("c", "a")]

    assert discovery.stop(PATIENCE) == []
    for account in ("a", "b", "c"):
        assert cloud.watches[account].steps.seen[-1] == "finish"
    cloud.steps.reach("close")
    assert not streams() & {"een-stream-a", "een-stream-b", "een-stream-c"}


def test_the_filters_and_the_shard_choose_the_watchers(
    start: Start, clock: Clock, store: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    ids = [f"{n:08d}" for n in range(20)]
    cloud = FakeCloud(accounts(*ids))
    include = frozenset([*ids[:10], "missing"])
    shard = Shard(0, 2)
    start(cloud, AccountFilter(include, frozenset(ids[:2])), shard)
    clock.reach(1)
    wanted = [i for i in ids[2:10] if shard.owner(i) == 0]
    assert sorted(cloud.watches) == wanted
    assert store.wanted_accounts() == 8
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.getMessage() == "accounts to monitor are not visible to this login"
    assert warning.__dict__["accounts"] == "missing"


def test_no_account_to_monitor_is_warned_once(
    start: Start, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    start(FakeCloud(accounts("a")), AccountFilter(exclude=frozenset(["a"])))
    clock.reach(1)
    clock.release()
    clock.reach(2)
    [line] = [r for r in caplog.records if r.getMessage() == "no account to monitor"]
    assert (line.__dict__["visible"], line.__dict__["exclude"]) == (1, "a")


def test_a_failed_round_backs_off_and_says_why(
    start: Start, clock: Clock, store: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cloud = FakeCloud(FakeError("account_list: HTTP 503"))
    start(cloud)
    assert clock.reach(1) == [1.0]
    clock.release()
    assert clock.reach(2) == [1.0, 2.0]
    cloud.accounts = FakeError("account_list: HTTP 429", retry_after=30.0)
    clock.release()
    assert clock.reach(3)[2] == 30.0
    cloud.accounts = FakeError("paused", quiet=True)
    clock.release()
    assert clock.reach(4)[3] == 8.0
    cloud.accounts = accounts("a")
    clock.release()
    assert clock.reach(5)[4] == 300.0
    cloud.accounts = FakeError("account_list: HTTP 503")
    clock.release()
    assert clock.reach(6)[5] == 1.0  # a round that went through reset the backoff
    failed = [r for r in caplog.records if r.getMessage() == "account discovery failed"]
    assert [(r.levelname, r.__dict__["reason"]) for r in failed] == [
        ("ERROR", "account_list: HTTP 503"),
        ("ERROR", "account_list: HTTP 503"),
        ("ERROR", "account_list: HTTP 429"),
        ("DEBUG", "paused"),
        ("ERROR", "account_list: HTTP 503"),
    ]
    assert store.health()[1] == "account_list: HTTP 503"


def test_an_unexpected_error_in_a_round_is_counted(
    start: Start, clock: Clock, store: StateStore, metrics: SelfMetrics
) -> None:
    start(FakeCloud(RuntimeError("simulated bug")))
    clock.reach(1)
    assert store.health()[1] == "unexpected error: RuntimeError: simulated bug"
    labels = {"thread": "discovery"}
    assert metrics.registry.get_sample_value("een_exporter_unexpected_errors_total", labels) == 1


def test_stop_during_the_wait_between_rounds(start: Start, clock: Clock) -> None:
    cloud = FakeCloud(accounts("a"))
    discovery = start(cloud)
    clock.reach(1)
    began = time.monotonic()
    assert discovery.stop(PATIENCE) == []
    assert time.monotonic() - began < 1.0
    cloud.steps.reach("close")


def test_stop_names_the_threads_that_did_not_end(start: Start, clock: Clock) -> None:
    cloud = FakeCloud(accounts("a"))
    discovery = start(cloud)
    clock.reach(1)
    watch = cloud.watches["a"]
    watch.steps.reach("read blocked")
    watch.deaf = True  # a read that cannot be woken
    assert discovery.stop(0.1) == ["een-stream-a"]
    watch.wake()  # let it end now
    watch.steps.reach("finish")
