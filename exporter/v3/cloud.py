"""API v3's side of account discovery: the grant's accounts, and an SseWatch per account.

Every round lists the grant's accounts and plans how each is reached (access.watch_plan): the
grant's own account (GET /users/self) with the grant's token, if it is an end user's, holds
devices or is the only one; every other account (a reseller's or a distributor's customers,
whatever its `type` says) with a token of its own from /authorizationTokens. A refused grant
(the refresh token is dead or the client credentials are wrong) is shown as v1 shows refused
credentials: een_credentials_refused 1, a reason on /readyz, one log line, and a long pause
between attempts.
"""

from __future__ import annotations

import threading

from exporter.accounts.cloud import Ended
from exporter.accounts.credentials import CredentialHealth
from exporter.accounts.pacing import Backoff, LoginGate
from exporter.accounts.tuning import StreamTuning
from exporter.state.model import AccountInfo
from exporter.state.selfmetrics import SelfMetrics
from exporter.state.store import StateStore
from exporter.v3.access import (
    END_USER_TYPE,
    AccountAccess,
    Credential,
    EndUserAccess,
    GrantAccess,
    Hosts,
    Via,
    watch_plan,
)
from exporter.v3.api import Account, ApiError, V3Client
from exporter.v3.oauth import Failure, OAuthError
from exporter.v3.stream import SseWatch
from exporter.v3.tokenfile import TokenFileError
from exporter.v3.tokens import TokenManager, TokenPolicy


class V3Cloud:
    def __init__(
        self,
        manager: TokenManager,
        hosts: Hosts,
        client: V3Client,
        store: StateStore,
        metrics: SelfMetrics,
        stream: StreamTuning,
        pause: Backoff,
        tokens: TokenPolicy | None = None,
    ) -> None:
        """`pause`: after EEN refuses the grant, one try per period (see GrantAccess)."""
        self._hosts = hosts
        self._client = client
        self._store = store
        self._metrics = metrics
        self._stream = stream
        self._tokens = tokens or TokenPolicy()
        self._health = CredentialHealth(metrics, store, "grant")
        self._grant = GrantAccess(manager, hosts, client, self, pause)
        self._plan: dict[str, Via] = {}  # how to reach each account the last discover() gave

    def discover(self, gate: LoginGate) -> list[AccountInfo]:
        credential = self._grant.get()
        try:
            visible = self._client.accounts(credential.base, credential.value)
            own = self._client.own_account_id(credential.base, credential.value)
            plan = watch_plan(visible, own, self._own_has_devices(visible, own, credential))
        except ApiError as exc:
            if exc.status == 401:
                self._grant.invalidate(credential)
            raise
        self._plan = plan
        return [AccountInfo(a.id, a.name) for a in visible if a.id in plan]

    def _own_has_devices(self, visible: list[Account], own: str, credential: Credential) -> bool:
        """Whether the grant's own account holds devices, asked only where it decides: a
        dealer's own account (a reseller's or a distributor's) usually holds none."""
        if len(visible) == 1 or any(a.id == own and a.type == END_USER_TYPE for a in visible):
            return False  # watched anyway (see watch_plan)
        return bool(self._client.devices(credential.base, credential.value))

    def failure(self, exc: Exception) -> Ended | None:
        if isinstance(exc, OAuthError) and exc.failure is not Failure.TRANSIENT:
            return Ended(str(exc), quiet=True)  # GrantAccess reported it, with the hint
        if isinstance(exc, OAuthError | ApiError | TokenFileError):
            return Ended(str(exc), getattr(exc, "retry_after", None))
        return None

    def watch(self, account_id: str, stopping: threading.Event) -> SseWatch:
        access = self._access(account_id)
        return SseWatch(account_id, access, self._client, self._store, self._stream, stopping)

    def close(self) -> None:
        """Nothing to log out of: the grant outlives the exporter."""

    # --- GrantHealth: what GrantAccess reports, from whichever thread asked ----------------

    def refused(self, problem: str) -> None:
        self._metrics.login_failures.inc()
        # Once: the pause keeps every thread from asking again for a while.
        self._health.refused(problem, "EEN refuses the grant", {"reason": problem})

    def accepted(self) -> None:
        self._health.accepted()

    def _access(self, account_id: str) -> AccountAccess:
        if self._plan[account_id] is Via.SWITCH:
            return EndUserAccess(
                account_id,
                self._grant,
                self._hosts,
                self._client,
                min_lifetime=self._tokens.min_lifetime,
            )
        return self._grant
