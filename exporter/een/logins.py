"""Whether EEN accepts the exporter's credentials, shared by every session.

All sessions log in as the same user, so when EEN refuses the credentials every login pauses
(`LoginPause`), and the refusal is reported once with what to check (CredentialHealth: the
`een_credentials_refused` gauge and /readyz) until a login succeeds again.
"""

from __future__ import annotations

from exporter.accounts.credentials import CredentialHealth
from exporter.een.pacing import LoginPause, Verdict
from exporter.state.selfmetrics import SelfMetrics
from exporter.state.store import StateStore


class Logins:
    def __init__(self, pause: LoginPause, metrics: SelfMetrics, store: StateStore) -> None:
        self._pause = pause
        self._health = CredentialHealth(metrics, store, "credentials")

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
            self._health.accepted()
            return
        self._health.refused(
            f"{reason}; {hint}",
            f"EEN refuses the login; {hint}",
            {"reason": reason, "retry_in": round(self._pause.remaining())},
        )
