"""API v1's side of account discovery: the discovery session, and a PollWatch per account.

The discovery session logs in (through the login gate), lists the accounts and, for a
dealer, drops its own account unless it holds devices; a user that is not a dealer always
sees its own account. Every PollWatch gets a session of its own; all share one LoginPause.
"""

from __future__ import annotations

import logging
import threading

from exporter.accounts.cloud import Ended
from exporter.accounts.pacing import LoginGate
from exporter.accounts.tuning import StreamTuning
from exporter.een.api import ApiError, AuthError, Credentials, EenSession, LoginPaused, User
from exporter.een.logins import Logins
from exporter.een.pacing import LoginPause
from exporter.een.stream import PollWatch
from exporter.state.model import AccountInfo
from exporter.state.selfmetrics import SelfMetrics
from exporter.state.store import StateStore
from exporter.transport.rest import RestLimits

log = logging.getLogger(__name__)


class V1Cloud:
    def __init__(
        self,
        credentials: Credentials,
        store: StateStore,
        metrics: SelfMetrics,
        stream: StreamTuning,
        rest: RestLimits,
        pause: LoginPause,
    ) -> None:
        self._credentials = credentials
        self._store = store
        self._metrics = metrics
        self._stream = stream
        self._rest = rest
        self._logins = Logins(pause, metrics, store)
        self._session = self._new_session()
        self._user: User | None = None

    def discover(self, gate: LoginGate) -> list[AccountInfo]:
        if self._user is None:
            with gate:
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
        return visible

    def failure(self, exc: Exception) -> Ended | None:
        if not isinstance(exc, ApiError):
            return None
        retry_after = self._session.login_wait() if self._user is None else None
        if isinstance(exc, AuthError):
            self._user = None
        # A paused login is no news: the refusal that paused it was logged once.
        return Ended(str(exc), retry_after, quiet=isinstance(exc, LoginPaused))

    def watch(self, account_id: str, stopping: threading.Event) -> PollWatch:
        return PollWatch(account_id, self._new_session(), self._store, self._stream, stopping)

    def close(self) -> None:
        self._session.logout()

    def _new_session(self) -> EenSession:
        return EenSession(self._credentials, self._metrics, self._logins, self._rest)
