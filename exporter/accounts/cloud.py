"""How an EEN API plugs into the engine: a `Cloud` that discovers the accounts and opens a
`Watch` per account, and the `Ended` a failure of either turns into.

What goes wrong is the API's to describe: `failure` turns one of its own errors into an
`Ended` (and forgets whatever the error says is no longer valid, a session or a token), and
answers None for any other error, which the engine counts and logs as unexpected (a bug).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from exporter.accounts.pacing import LoginGate
from exporter.accounts.tuning import StreamTuning
from exporter.state.model import AccountInfo, DeviceInfo
from exporter.state.store import DeviceChanges, StateStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ended:
    """Why an attempt (a stream's, or a discovery round) ended, and what to make of it."""

    problem: str  # safe to log
    retry_after: float | None = None  # wait at least this long (a 429, a paused login)
    planned: bool = False  # left on purpose (a token renewal): reconnect at once
    quiet: bool = False  # a refused or paused login: logged once elsewhere, here at debug


@dataclass(frozen=True)
class Subscribed:
    """What a watch is subscribed to: the devices whose snapshot is awaited, and how many
    devices it watches (for the log)."""

    awaited: Collection[str]
    devices: int


class Watch(Protocol):
    """One account's stream, driven by one engine thread; `stopping` is that thread's, set
    before `interrupt()` is called, and the watch gives up whatever it is doing once set."""

    def connect(self) -> None:
        """Log in or get a token as needed, resync the devices and connect the stream (all
        inside the login gate)."""

    def subscribe(self) -> Subscribed:
        """Subscribe the connected stream (still inside the gate)."""

    def read(self) -> Ended | None:
        """Read until the stream ends: an Ended when it ends without an error, None when the
        engine is stopping. Raises on any failure (see `failure`)."""

    def close(self) -> None:
        """Close the stream (after an attempt, whether it connected or not)."""

    def interrupt(self) -> None:
        """Wake the thread from a blocking connect or read (from another thread)."""

    def failure(self, exc: Exception) -> Ended | None:
        """What an error of an attempt means; None: not one of the watch's own (a bug)."""

    def finish(self) -> None:
        """The thread is ending: log out, release connections."""


class Cloud(Protocol):
    """The API's side of account discovery, driven by the discovery thread."""

    def discover(self, gate: LoginGate) -> list[AccountInfo]:
        """The accounts the credentials see and may be monitored (a dealer's or reseller's
        own account only if it holds devices). A login goes through `gate`."""

    def watch(self, account_id: str, stopping: threading.Event) -> Watch:
        """A watch for an account the last `discover` returned."""

    def failure(self, exc: Exception) -> Ended | None:
        """What a discovery error means; None: not one of the API's own (a bug)."""

    def close(self) -> None:
        """Discovery is ending: log out, release connections."""


class AccountWatch:
    """What every API's watch holds (the account, the store it feeds, its tuning and its
    thread's stop event), and the resync they share."""

    def __init__(
        self, account_id: str, store: StateStore, tuning: StreamTuning, stopping: threading.Event
    ) -> None:
        self.account_id = account_id
        self._store = store
        self._tuning = tuning
        self._stopping = stopping
        self._synced = False  # whether the device list was read before (first read adds all)

    def _resynced(self, devices: Sequence[DeviceInfo]) -> None:
        """A device list read on (re)connecting: it replaces the store's; its changes are
        logged, but for the first list's."""
        changes = self._store.set_devices(self.account_id, devices, True, time.time())
        if self._synced:
            log_changes(self.account_id, changes)
        self._synced = True


def log_changes(account_id: str, changes: DeviceChanges) -> None:
    """The one log line of a device list's changes (a watch's resync or refresh)."""
    if changes.added or changes.removed or changes.renamed:
        log.info(
            "devices changed",
            extra={
                "account_id": account_id,
                "added": ",".join(changes.added),
                "removed": ",".join(changes.removed),
                "renamed": ",".join(changes.renamed),
            },
        )


def describe(exc: BaseException) -> str:
    """An exception as a log's reason: its type, and its message if any."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
