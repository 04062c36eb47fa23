"""Account discovery: which accounts to monitor, and one Watcher per account.

Every refresh interval the Cloud re-reads the account list, so accounts that appear get a
stream and those that vanish are dropped (and their series with them). EEN_ACCOUNTS and
EEN_ACCOUNTS_EXCLUDE apply first, then the shard, so every shard sees the same list to split.
Whatever goes wrong in one round, even a bug, is logged, and the next round comes after a
backoff.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass

from exporter.accounts.cloud import Cloud, Ended, describe
from exporter.accounts.pacing import Backoff, LoginGate, wait
from exporter.accounts.tuning import EngineTuning
from exporter.accounts.watcher import Watcher
from exporter.state.model import AccountInfo
from exporter.state.selfmetrics import SelfMetrics, Thread
from exporter.state.sharding import Shard
from exporter.state.store import StateStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccountFilter:
    include: frozenset[str] = frozenset()  # empty = every account
    exclude: frozenset[str] = frozenset()

    def apply(self, accounts: list[AccountInfo]) -> list[AccountInfo]:
        return [
            a
            for a in accounts
            if (not self.include or a.id in self.include) and a.id not in self.exclude
        ]


class Discovery(threading.Thread):
    def __init__(
        self,
        cloud: Cloud,
        store: StateStore,
        metrics: SelfMetrics,
        accounts: AccountFilter,
        tuning: EngineTuning,
        shard: Shard | None = None,
    ) -> None:
        super().__init__(name="een-discovery", daemon=True)
        self._cloud = cloud
        self._store = store
        self._metrics = metrics
        self._filter = accounts
        self._shard = shard or Shard()
        self._tuning = tuning
        self.gate = LoginGate(tuning.login_concurrency)
        self._monitored: int | None = None  # accounts wanted (all shards) at the last discovery
        self._watchers: dict[str, Watcher] = {}
        self._lock = threading.Lock()  # guards _watchers against stop() racing a reconcile
        self._stopping = threading.Event()

    def run(self) -> None:
        backoff = Backoff(self._tuning.stream.backoff_base, self._tuning.stream.backoff_max)
        try:
            while not self._stopping.is_set():
                try:
                    self._reconcile(self._discover())
                except Exception as exc:  # noqa: BLE001 (the thread's boundary: see _failed)
                    delay = self._failed(exc, backoff.next_delay())
                else:
                    backoff.reset()
                    delay = self._tuning.stream.device_refresh
                wait(self._stopping, delay)
        finally:
            self._cloud.close()

    def _failed(self, exc: Exception, backoff: float) -> float:
        """One log line, and the wait before the next round; an error that is not the API's
        (a bug, ...) is counted too."""
        ended = self._cloud.failure(exc)
        if ended is None:
            self._metrics.unexpected_errors.labels(Thread.DISCOVERY.value).inc()
            log.debug("unexpected error in account discovery", exc_info=True)
            ended = Ended(f"unexpected error: {describe(exc)}")
        delay = max(backoff, ended.retry_after or 0.0)
        self._store.discovery_failed(ended.problem)
        # A paused login or refused grant is no news: the refusal was logged once.
        level = logging.DEBUG if ended.quiet else logging.ERROR
        log.log(
            level, "account discovery failed", extra={"reason": ended.problem, "retry_in": delay}
        )
        return delay

    def stop(self, timeout: float) -> list[str]:
        """Stop discovery and every stream; returns the names of threads still running."""
        deadline = time.monotonic() + timeout
        self._stopping.set()
        with self._lock:
            watchers = list(self._watchers.values())
        for watcher in watchers:
            watcher.stop()
        threads: list[threading.Thread] = [*watchers, self]
        for thread in threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))
        return [thread.name for thread in threads if thread.is_alive()]

    def _discover(self) -> list[AccountInfo]:
        visible = self._cloud.discover(self.gate)
        missing = self._filter.include - {a.id for a in visible}
        if missing:
            log.warning(
                "accounts to monitor are not visible to this login",
                extra={"accounts": ",".join(sorted(missing))},
            )
        wanted = self._filter.apply(visible)
        self._metrics.accounts_discovered(wanted)
        if not wanted and self._monitored != 0:
            log.warning(
                "no account to monitor",
                extra={
                    "visible": len(visible),
                    "include": ",".join(sorted(self._filter.include)),
                    "exclude": ",".join(sorted(self._filter.exclude)),
                },
            )
        self._monitored = len(wanted)
        return wanted

    def _reconcile(self, wanted: list[AccountInfo]) -> None:
        accounts = self._shard.select(wanted)
        added, removed = self._store.sync_accounts(accounts, wanted=len(wanted))
        with self._lock:
            if self._stopping.is_set():
                return
            for account_id in removed:
                self._watchers.pop(account_id).stop()
            spread = min(self._tuning.start_jitter, 0.01 * len(added))
            for account_id in added:
                stopping = threading.Event()
                watcher = Watcher(
                    account_id,
                    self._cloud.watch(account_id, stopping),
                    stopping,
                    self._store,
                    self._metrics,
                    self.gate,
                    self._tuning.stream,
                    start_delay=random.uniform(0.0, spread),  # noqa: S311
                )
                self._watchers[account_id] = watcher
                watcher.start()
        if added or removed:
            log.info(
                "accounts changed",
                extra={
                    "monitored": len(accounts),
                    "added": ",".join(added),
                    "removed": ",".join(removed),
                },
            )
