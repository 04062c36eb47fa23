"""A scripted Watch and Cloud for the engine's tests, and a clock that stands in for its waits.

Nothing here sleeps to synchronise: each fake sets an event or notifies a condition when it
reaches a step, and the tests wait on those (with a timeout that only a broken engine meets).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from exporter.accounts.cloud import Ended, Subscribed, Watch
from exporter.accounts.pacing import LoginGate
from exporter.state.model import AccountInfo

PATIENCE = 5.0  # seconds a test waits for a step a working engine reaches at once


class FakeError(Exception):
    """One of the fake API's own errors: `failure` turns it into an Ended."""

    def __init__(self, problem: str, retry_after: float | None = None, quiet: bool = False):
        super().__init__(problem)
        self.retry_after = retry_after
        self.quiet = quiet


class Block:
    """A step that blocks until the watch is interrupted (or the test releases it)."""


BLOCK = Block()
# What a step does: nothing (None), raise, return an Ended (read only), or BLOCK.
Step = None | Exception | Ended | Block


@dataclass
class Attempt:
    connect: Step = None
    read: Step = BLOCK


def _failure(exc: Exception) -> Ended | None:
    if isinstance(exc, FakeError):
        return Ended(str(exc), exc.retry_after, quiet=exc.quiet)
    return None


@dataclass
class Steps:
    """Which steps were reached, in order, with a condition to wait on."""

    seen: list[str] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def add(self, step: str) -> None:
        with self.changed:
            self.seen.append(step)
            self.changed.notify_all()

    def reach(self, step: str, times: int = 1) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: self.seen.count(step) >= times, PATIENCE):
                raise AssertionError(f"{step!r} not reached {times} times; saw {self.seen}")


class FakeWatch:
    """Plays one Attempt per attempt; past the script, every attempt blocks in connect."""

    def __init__(self, attempts: list[Attempt], stopping: threading.Event | None = None):
        self._attempts = list(attempts)
        self._stopping = stopping
        self._current = Attempt(connect=BLOCK)
        self.steps = Steps()
        self._woken = threading.Event()
        self.subscribed = Subscribed(("d1", "d2"), 2)
        self.deaf = False  # interrupt() does not wake a blocked step (a socket that hangs)

    # --- the Watch ---

    def connect(self) -> None:
        self._current = self._attempts.pop(0) if self._attempts else Attempt(connect=BLOCK)
        self.steps.add("connect")
        self._play(self._current.connect, "connect")

    def subscribe(self) -> Subscribed:
        self.steps.add("subscribe")
        return self.subscribed

    def read(self) -> Ended | None:
        self.steps.add("read")
        return self._play(self._current.read, "read")

    def close(self) -> None:
        self.steps.add("close")

    def interrupt(self) -> None:
        self.steps.add("interrupt")
        if not self.deaf:
            self.wake()

    def wake(self) -> None:
        """Unblock a blocked step."""
        self._woken.set()

    def failure(self, exc: Exception) -> Ended | None:
        return _failure(exc)

    def finish(self) -> None:
        self.steps.add("finish")

    def _play(self, step: Step, name: str) -> Ended | None:
        if isinstance(step, Block):
            self.steps.add(f"{name} blocked")
            self._woken.wait(60.0)
            self._woken.clear()
            if name == "read":
                return None  # interrupted: the stream ends as it does when stopping
            raise FakeError("interrupted")
        if isinstance(step, Exception):
            raise step
        return step


class FakeCloud:
    """Discovers whatever `accounts` holds (or raises it); a FakeWatch per account."""

    def __init__(self, accounts: list[AccountInfo] | Exception) -> None:
        self.accounts = accounts
        self.watches: dict[str, FakeWatch] = {}
        self.steps = Steps()
        self.gates: list[LoginGate] = []

    def discover(self, gate: LoginGate) -> list[AccountInfo]:
        self.gates.append(gate)
        self.steps.add("discover")
        if isinstance(self.accounts, Exception):
            raise self.accounts
        return list(self.accounts)

    def watch(self, account_id: str, stopping: threading.Event) -> Watch:
        watch = FakeWatch([Attempt()], stopping)  # connects, then reads until stopped
        self.watches[account_id] = watch
        return watch

    def failure(self, exc: Exception) -> Ended | None:
        return _failure(exc)

    def close(self) -> None:
        self.steps.add("close")


class Clock:
    """Stands in for exporter.accounts.pacing.wait: records every wait; `hold` keeps each one
    waiting until `release` (or the stop event), otherwise waits return at once."""

    def __init__(self, hold: bool = False) -> None:
        self.waits: list[float] = []
        self._hold = hold
        self._released = 0
        self._changed = threading.Condition()

    def wait(self, event: threading.Event, seconds: float) -> bool:
        with self._changed:
            self.waits.append(seconds)
            number = len(self.waits)
            self._changed.notify_all()
            while self._hold and self._released < number and not event.is_set():
                self._changed.wait(0.01)  # wakes for the stop event too
        return event.is_set()

    def reach(self, waits: int) -> list[float]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.waits) >= waits, PATIENCE):
                raise AssertionError(f"{waits} waits not reached; saw {self.waits}")
            return list(self.waits)

    def release(self) -> None:
        with self._changed:
            self._released += 1
            self._changed.notify_all()


def fixed_jitter(backoff: type) -> Callable[..., object]:
    """The Backoff class with no jitter (each delay its ceiling), for exact delays."""
    return lambda base, cap: backoff(base, cap, rng=lambda: 1.0)
