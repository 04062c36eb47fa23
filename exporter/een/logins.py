"""Whether EEN accepts the exporter's credentials, shared by every session.

All sessions log in as the same user, so when EEN refuses the credentials every login pauses
(`LoginPause`), the refusal is logged once with what to check, and it shows in the
`een_credentials_refused` gauge and on /readyz until a login succeeds again.
"""

from __future__ import annotations

import logging

from exporter.een.pacing import LoginPause, Verdict
from exporter.state.selfmetrics import SelfMetrics
from exporter.state.store import StateStore

log = logging.getLogger(__name__)


class Logins:
    def __init__(self, pause: LoginPause, metrics: SelfMetrics, store: StateStore) -> None:
        self._pause = pause
        self._metrics = metrics
        self._store = store

    def begin(self) -> bool:
        """Whether a login may start now; see LoginPause.begin."""
        return self._pause.begin()

    def remaining(self) -> float:
        """Seconds before a login may be tried; 0.0 when it may be tried now."""
        return self._pause.remaining()

    def end(self, verdict: Verdict, reason: str = "", hint: str = "") -> None:
        """Record a login's outcome; `reason` and `hint` say why EEN refused it."""
        if not self._pause.end(verdict):
            return
        if verdict is Verdict.ACCEPTED:
            self._metrics.credentials_refused.set(0)
            self._store.login_refused("")
            log.info("EEN accepts the credentials again")
            return
        self._metrics.credentials_refused.set(1)
        self._store.login_refused(f"{reason}; {hint}")
        log.error(
            f"EEN refuses the login; {hint}",
            extra={"reason": reason, "retry_in": round(self._pause.remaining())},
        )
