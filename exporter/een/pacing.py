"""The pause after EEN refuses v1's credentials: one login per period for the whole exporter
(reconnect backoff, the login gate and waits are exporter.accounts.pacing)."""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable

from exporter.accounts.pacing import Backoff


class Verdict(enum.Enum):
    """What a login said about the credentials."""

    ACCEPTED = "accepted"
    REFUSED = "refused"  # wrong user name or password, or a user EEN will not let in
    UNKNOWN = "unknown"  # it failed for another reason (network, 5xx, ...)


class LoginPause:
    """After EEN refuses the credentials, one login attempt per period for the whole exporter.

    Every session logs in with the same user, so one refusal speaks for all of them; each
    retrying at its own pace would be hundreds of failed logins an hour, and EEN may lock the
    user. The period doubles from `base` up to `cap` while the refusals go on. While paused,
    the first login asked for after the period is the one attempt (a "trial"); the others
    wait for its verdict.

    >>> now = [0.0]
    >>> pause = LoginPause(base=60.0, cap=240.0, clock=lambda: now[0])
    >>> pause.begin(), pause.end(Verdict.REFUSED), pause.remaining()
    (True, True, 60.0)
    >>> now[0] = 60.0
    >>> pause.begin(), pause.begin(), pause.end(Verdict.REFUSED), pause.remaining()
    (True, False, False, 120.0)
    >>> now[0] = 180.0
    >>> pause.begin(), pause.end(Verdict.ACCEPTED), pause.remaining()
    (True, True, 0.0)
    """

    TRIAL_WAIT = 1.0  # how long others wait, then look again, while the trial runs

    def __init__(
        self, base: float, cap: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._backoff = Backoff(base, cap, rng=lambda: 1.0)
        self._clock = clock
        self._lock = threading.Lock()
        self._until: float | None = None  # paused until then; None: not paused
        self._trial: int | None = None  # the thread running the trial

    @property
    def paused(self) -> bool:
        return self._until is not None

    def remaining(self) -> float:
        """Seconds before a login may be tried; 0.0 when it may be tried now."""
        with self._lock:
            if self._until is None:
                return 0.0
            if self._trial is not None:
                return self.TRIAL_WAIT
            return max(0.0, self._until - self._clock())

    def begin(self) -> bool:
        """Whether the calling thread may log in now (while paused: it runs the one trial)."""
        with self._lock:
            if self._until is None:
                return True
            if self._trial is not None or self._clock() < self._until:
                return False
            self._trial = threading.get_ident()
            return True

    def end(self, verdict: Verdict) -> bool:
        """Record the calling thread's login outcome; whether it started or ended the pause."""
        with self._lock:
            trial = self._trial == threading.get_ident()
            if trial:
                self._trial = None
            if verdict is Verdict.ACCEPTED:
                self._backoff.reset()
                ended, self._until = self._until is not None, None
                return ended
            # A refusal of a login that began before the pause (ran alongside the one that
            # started it) says nothing new: it neither restarts nor lengthens the pause.
            if verdict is Verdict.REFUSED and (trial or self._until is None):
                started = self._until is None
                self._until = self._clock() + self._backoff.next_delay()
                return started
            return False
