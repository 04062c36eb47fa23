"""Whether EEN accepts the exporter's credentials (v1's user, v3's grant), shared by every
thread: every login uses the same ones, so one refusal speaks for all.

A refusal shows in the `een_credentials_refused` gauge and on /readyz until a login goes
through again, and is logged once (at ERROR; repeats at DEBUG), as is the acceptance after it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from exporter.state.selfmetrics import SelfMetrics
from exporter.state.store import StateStore

log = logging.getLogger(__name__)


class CredentialHealth:
    def __init__(self, metrics: SelfMetrics, store: StateStore, what: str) -> None:
        """`what` names the credentials in the log: "credentials", "grant"."""
        self._metrics = metrics
        self._store = store
        self._what = what
        self._lock = threading.Lock()
        self._refused = False

    def refused(self, problem: str, message: str, extra: Mapping[str, object]) -> None:
        """EEN refused them: `problem` for /readyz, `message` and `extra` for the log."""
        with self._lock:
            first, self._refused = not self._refused, True
        self._metrics.credentials_refused.set(1)
        self._store.login_refused(problem)
        log.log(logging.ERROR if first else logging.DEBUG, message, extra=dict(extra))

    def accepted(self) -> None:
        """A login went through: clears a refusal."""
        with self._lock:
            was, self._refused = self._refused, False
        if was:
            self._metrics.credentials_refused.set(0)
            self._store.login_refused("")
            log.info(f"EEN accepts the {self._what} again")
