"""Account discovery: which accounts to monitor, and one AccountStream per account.

Every refresh interval the discovery session re-reads the account list, so sub-accounts that
appear get a stream and those that vanish are dropped (and their series with them). Whatever
goes wrong in one round, even a bug, is logged, and the next round comes after a backoff.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass, field

from exporter.een.api import (
    ApiError,
    AuthError,
    Credentials,
    EenSession,
    LoginPaused,
    User,
)
from exporter.een.logins import Logins
from exporter.een.pacing import Backoff, LoginGate, LoginPause, wait
from exporter.een.stream import AccountStream, StreamTuning
from exporter.sharding import Shard
from exporter.state.model import AccountInfo
from exporter.state.selfmetrics import SelfMetrics, Thread
from exporter.state.store import StateStore
from exporter.transport.rest import RestLimits
from exporter.v3.oauth import TOKEN_LIMITS
from exporter.v3.tokens import TokenPolicy

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


@dataclass(frozen=True)
class SupervisorTuning:
    stream: StreamTuning = field(default_factory=StreamTuning)
    login_concurrency: int = 4
    # New streams start at a random moment within 10 ms per account, at most this many seconds.
    start_jitter: float = 5.0
    rest: RestLimits = field(default_factory=RestLimits)  # v1's and v3's REST calls
    token_rest: RestLimits = TOKEN_LIMITS  # v3's token endpoint
    tokens: TokenPolicy = field(default_factory=TokenPolicy)  # v3's token lifetimes and pace
    # After EEN refuses the credentials: one login per period, doubling to the cap.
    login_pause: float = 60.0
    login_pause_max: float = 3600.0


class Supervisor(threading.Thread):
    def __init__(
        self,
        credentials: Credentials,
        store: StateStore,
        metrics: SelfMetrics,
        accounts: AccountFilter,
        tuning: SupervisorTuning,
        shard: Shard | None = None,
    ) -> None:
        super().__init__(name="een-discovery", daemon=True)
        self._credentials = credentials
        self._store = store
        self._metrics = metrics
        self._filter = accounts
        self._shard = shard or Shard()
        self._tuning = tuning
        self.gate = LoginGate(tuning.login_concurrency)
        pause = LoginPause(tuning.login_pause, tuning.login_pause_max)
        self._logins = Logins(pause, metrics, store)
        self._session = self._new_session()
        self._user: User | None = None
        self._monitored: int | None = None  # accounts wanted (all shards) at the last discovery
        self._streams: dict[str, AccountStream] = {}
        self._lock = threading.Lock()  # guards _streams against stop() racing a reconcile
        self._stopping = threading.Event()

    def run(self) -> None:
        backoff = Backoff(self._tuning.stream.backoff_base, self._tuning.stream.backoff_max)
        try:
            while not self._stopping.is_set():
                try:
                    self._reconcile(self._discover())
                except Exception as exc:  # noqa: BLE001 (the thread's boundary: see _failed)
                    delay = backoff.next_delay()
                    if self._user is None:
                        delay = max(delay, self._session.login_wait())
                    self._failed(exc, delay)
                else:
                    backoff.reset()
                    delay = self._tuning.stream.device_refresh
                wait(self._stopping, delay)
        finally:
            self._session.logout()

    def _failed(self, exc: Exception, retry_in: float) -> None:
        """One log line; an error that is not the API's (a bug, ...) is counted too."""
        if isinstance(exc, ApiError):
            problem = str(exc)
        else:
            self._metrics.unexpected_errors.labels(Thread.DISCOVERY.value).inc()
            log.debug("unexpected error in account discovery", exc_info=True)
            problem = f"unexpected error: {type(exc).__name__}: {exc}"
        if isinstance(exc, AuthError):
            self._user = None
        self._store.discovery_failed(problem)
        # A paused login is no news: the refusal that paused it was logged once.
        level = logging.DEBUG if isinstance(exc, LoginPaused) else logging.ERROR
        log.log(level, "account discovery failed", extra={"reason": problem, "retry_in": retry_in})

    def stop(self, timeout: float) -> list[str]:
        """Stop discovery and every stream; returns the names of threads still running."""
        deadline = time.monotonic() + timeout
        self._stopping.set()
        with self._lock:
            streams = list(self._streams.values())
        for stream in streams:
            stream.stop()
        threads: list[threading.Thread] = [*streams, self]
        for thread in threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))
        return [thread.name for thread in threads if thread.is_alive()]

    # --- discovery ----------------------------------------------------------------------------

    def _new_session(self) -> EenSession:
        return EenSession(self._credentials, self._metrics, self._logins, self._tuning.rest)

    def _discover(self) -> list[AccountInfo]:
        if self._user is None:
            with self.gate:
                self._user = self._session.login()
            log.info(
                "logged in",
                extra={
                    "account_id": self._user.owner_account_id,
                    "dealer": self._user.is_master,
                },
            )
        user = self._user
        visible = self._session.list_accounts()
        if user.is_master and not self._session.list_devices():
            # A dealer's own account usually holds no devices; monitor it only if it does.
            visible = [a for a in visible if a.id != user.owner_account_id]
        if not any(a.id == user.owner_account_id for a in visible) and not user.is_master:
            visible.append(AccountInfo(user.owner_account_id, user.owner_account_id))
        missing = self._filter.include - {a.id for a in visible}
        if missing:
            log.warning(
                "accounts to monitor are not visible to this login",
                extra={"accounts": ",".join(sorted(missing))},
            )
        # Sharding comes after the filters, so every shard sees the same list to split.
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
                self._streams.pop(account_id).stop()
            spread = min(self._tuning.start_jitter, 0.01 * len(added))
            for account_id in added:
                stream = AccountStream(
                    account_id,
                    self._new_session(),
                    self._store,
                    self._metrics,
                    self.gate,
                    self._tuning.stream,
                    start_delay=random.uniform(0.0, spread),  # noqa: S311
                )
                self._streams[account_id] = stream
                stream.start()
        if added or removed:
            log.info(
                "accounts changed",
                extra={
                    "monitored": len(accounts),
                    "added": ",".join(added),
                    "removed": ",".join(removed),
                },
            )
