"""API v3 account discovery: which accounts to monitor, and one V3AccountStream per account.

The v3 counterpart of exporter.supervisor: every refresh interval it lists the grant's
accounts (a reseller sees its end-user accounts too), applies EEN_ACCOUNTS and the shard, and
starts or stops account streams. A refused grant (the refresh token is dead or the client
credentials are wrong) is shown as v1 shows refused credentials: een_credentials_refused 1, a
reason on /readyz, one log line, and a long pause between attempts.
"""

from __future__ import annotations

import logging
import random
import threading
import time

from exporter.een.pacing import Backoff, LoginGate, wait
from exporter.sharding import Shard
from exporter.state.model import AccountInfo
from exporter.state.selfmetrics import SelfMetrics, Thread
from exporter.state.store import StateStore
from exporter.supervisor import AccountFilter, SupervisorTuning
from exporter.v3.access import AccountAccess, EndUserAccess, GrantAccess, Hosts
from exporter.v3.api import Account, ApiError, V3Client
from exporter.v3.oauth import Failure, OAuthError
from exporter.v3.stream import V3AccountStream
from exporter.v3.tokenfile import TokenFileError
from exporter.v3.tokens import TokenManager

log = logging.getLogger(__name__)

RESELLER = "reseller"


class V3Supervisor(threading.Thread):
    def __init__(
        self,
        manager: TokenManager,
        hosts: Hosts,
        client: V3Client,
        store: StateStore,
        metrics: SelfMetrics,
        accounts: AccountFilter,
        tuning: SupervisorTuning,
        shard: Shard | None = None,
    ) -> None:
        super().__init__(name="een-discovery", daemon=True)
        # After EEN refuses the grant: one try per period, doubling to the cap.
        pause = Backoff(tuning.login_pause, tuning.login_pause_max, rng=lambda: 1.0)
        self._grant = GrantAccess(manager, hosts, client, self, pause)
        self._hosts = hosts
        self._client = client
        self._store = store
        self._metrics = metrics
        self._filter = accounts
        self._tuning = tuning
        self._shard = shard or Shard()
        self._gate = LoginGate(tuning.login_concurrency)
        self._refused = False
        self._health_lock = threading.Lock()
        self._streams: dict[str, V3AccountStream] = {}
        self._lock = threading.Lock()  # guards _streams against stop() racing a reconcile
        self._stopping = threading.Event()

    def run(self) -> None:
        backoff = Backoff(self._tuning.stream.backoff_base, self._tuning.stream.backoff_max)
        while not self._stopping.is_set():
            try:
                self._reconcile(*self._discover())
            except Exception as exc:  # noqa: BLE001 (the thread's boundary: see _failed)
                delay = self._failed(exc, backoff)
            else:
                backoff.reset()
                delay = self._tuning.stream.device_refresh
            wait(self._stopping, delay)

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

    def _discover(self) -> tuple[list[AccountInfo], dict[str, Account], bool]:
        credential = self._grant.get()
        try:
            visible = self._client.accounts(credential.base, credential.value)
        except ApiError as exc:
            if exc.status == 401:
                self._grant.invalidate(credential)
            raise
        reseller = any(a.type == RESELLER for a in visible)
        if reseller and not self._client.devices(credential.base, credential.value):
            # A reseller's own account usually holds no devices; monitor it only if it does.
            visible = [a for a in visible if a.type != RESELLER]
        missing = self._filter.include - {a.id for a in visible}
        if missing:
            log.warning(
                "accounts to monitor are not visible to this login",
                extra={"accounts": ",".join(sorted(missing))},
            )
        infos = self._filter.apply([AccountInfo(a.id, a.name) for a in visible])
        self._metrics.accounts_discovered(infos)
        if not infos:
            log.warning("no account to monitor", extra={"visible": len(visible)})
        return infos, {a.id: a for a in visible}, reseller

    # --- GrantHealth: what GrantAccess reports, from whichever thread asked ----------------

    def refused(self, problem: str) -> None:
        with self._health_lock:
            first, self._refused = not self._refused, True
        self._metrics.credentials_refused.set(1)
        self._metrics.login_failures.inc()
        self._store.login_refused(problem)
        # Once: the pause keeps every thread from asking again for a while.
        log.log(logging.ERROR if first else logging.DEBUG, "EEN refuses the grant",
                extra={"reason": problem})  # fmt: skip

    def accepted(self) -> None:
        with self._health_lock:
            was, self._refused = self._refused, False
        if was:
            log.info("EEN accepts the grant again")
            self._metrics.credentials_refused.set(0)
            self._store.login_refused("")

    def _failed(self, exc: Exception, backoff: Backoff) -> float:
        """One log line and the wait before the next round."""
        delay = backoff.next_delay()
        level = logging.ERROR
        if isinstance(exc, OAuthError) and exc.failure is not Failure.TRANSIENT:
            problem = str(exc)  # GrantAccess reported it, with the hint
            level = logging.DEBUG
        elif isinstance(exc, OAuthError | ApiError | TokenFileError):
            problem = str(exc)
            delay = max(delay, getattr(exc, "retry_after", None) or 0.0)
        else:
            self._metrics.unexpected_errors.labels(Thread.DISCOVERY.value).inc()
            log.debug("unexpected error in account discovery", exc_info=True)
            problem = f"unexpected error: {type(exc).__name__}: {exc}"
        self._store.discovery_failed(problem)
        log.log(level, "account discovery failed", extra={"reason": problem, "retry_in": delay})
        return delay

    def _reconcile(
        self, wanted: list[AccountInfo], visible: dict[str, Account], reseller: bool
    ) -> None:
        accounts = self._shard.select(wanted)
        added, removed = self._store.sync_accounts(accounts, wanted=len(wanted))
        with self._lock:
            if self._stopping.is_set():
                return
            for account_id in removed:
                self._streams.pop(account_id).stop()
            spread = min(self._tuning.start_jitter, 0.01 * len(added))
            for account_id in added:
                stream = V3AccountStream(
                    account_id,
                    self._access(visible[account_id], reseller),
                    self._client,
                    self._store,
                    self._metrics,
                    self._gate,
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

    def _access(self, account: Account, reseller: bool) -> AccountAccess:
        if reseller and account.type != RESELLER:
            return EndUserAccess(
                account.id,
                self._grant,
                self._hosts,
                self._client,
                min_lifetime=self._tuning.tokens.min_lifetime,
            )
        return self._grant
