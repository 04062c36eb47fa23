"""The exporter's state: accounts, their devices' last known status, and stream health.

Stream threads write, the HTTP server reads. Everything is guarded by one lock, held only for
dictionary updates and copies. Every account's name and stream health are copied for every
render (a handful of numbers, and its message count changes all the time); its devices and their
statuses carry a version, changed only when something rendered from them changes, so /metrics
re-renders only what changed: a reconnect touches a few lines, not 50 cameras. The devices'
event counts are kept apart, in one table per kind of device over every account
(state.counters), whose slices carry their own stamps: an event renders again the event lines
of its slice of devices, not every status line, nor any other slice. A version
moved by every change /metrics could show lets a scrape with nothing new copy nothing.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from exporter.state.counters import EventsCopy, EventTable
from exporter.state.eventcodes import CLOUD_DISCONNECT, STREAM_STATS
from exporter.state.model import (
    AccountInfo,
    DeviceInfo,
    DeviceKind,
    Event,
    EventSelection,
    Status,
    StreamUpdate,
)
from exporter.state.status import INVALID, is_known


class Readiness(enum.Enum):
    PENDING = "pending"  # no first snapshot yet
    READY = "ready"  # had its first snapshot
    FAILING = "failing"  # failed before its first snapshot


@dataclass(slots=True)
class Device:
    id: str
    kind: DeviceKind
    name: str
    bridge_id: str
    status: Status = 0  # last informative status (model.Status); 0 = not known yet
    updated_at: float = 0.0  # when that status was first received (Unix seconds)
    slot: int = 0  # its place among its account's devices of its kind (EventTable rows)


@dataclass(slots=True)
class Account:
    id: str
    name: str
    devices: dict[str, Device] = field(default_factory=dict)
    stream_up: bool = False
    connects: int = 0
    disconnects: int = 0
    messages: int = 0
    last_message_at: float = 0.0
    readiness: Readiness = Readiness.PENDING
    problem: str = ""  # why the account is not (or was not last time) streaming
    awaiting_snapshot: set[str] = field(default_factory=set)
    devices_version: int = 0  # the devices, their names and statuses


DeviceRow = tuple[str, DeviceKind, str, str, Status, float]  # id, kind, name, bridge_id, status, at
StreamHealth = tuple[bool, int, int, int, float]  # up, connects, disconnects, messages, last at


@dataclass(slots=True)
class AccountsCopy:
    """The accounts, copied under the lock for a render: every account's id, name and stream
    health in id order (the body's), and the devices of those whose devices changed since the
    versions asked about."""

    ids: list[str]
    names: list[str]
    health: list[StreamHealth]
    devices: dict[str, tuple[int, tuple[DeviceRow, ...]]]  # id -> (devices version, devices)


@dataclass(frozen=True, slots=True)
class DeviceChanges:
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    renamed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AccountHealth:
    id: str
    name: str
    stream_up: bool
    readiness: Readiness
    problem: str
    cameras_by_status: dict[Status, int]  # status -> count (0 = unknown)
    bridges: int


class StateStore:
    def __init__(self, events: EventSelection | None = None) -> None:
        self.events = events or EventSelection()
        # Where each code's count sits in a device's lists, per kind.
        self._code_index = {
            kind: {code: i for i, code in enumerate(self.events.for_kind(kind))}
            for kind in DeviceKind
        }
        # Every device's event counters, per kind, with the lists each kind has series of.
        self._tables = {
            DeviceKind.CAMERA: EventTable(
                len(self.events.camera),
                frozenset(
                    (["counts", "last_ms"] if self.events.shown() else [])
                    + (["expected", "received"] if STREAM_STATS in self.events.camera else [])
                ),
            ),
            DeviceKind.BRIDGE: EventTable(
                len(self.events.bridge),
                frozenset(
                    (["counts"] if self.events.bridge else [])
                    + (["disconnect"] if CLOUD_DISCONNECT in self.events.bridge else [])
                ),
            ),
        }
        self._lock = threading.Lock()
        self._accounts: dict[str, Account] = {}
        self._discovered = False
        self._discovery_problem = ""
        self._login_problem = ""  # why EEN refuses the credentials; "" while it does not
        self._wanted = 0  # accounts to monitor across every shard (this one's are _accounts)
        self._version = 0  # changed by every change a render could show

    # --- accounts -------------------------------------------------------------------------

    def sync_accounts(
        self, accounts: Iterable[AccountInfo], wanted: int | None = None
    ) -> tuple[list[str], list[str]]:
        """Make the monitored accounts exactly `accounts`; returns (added, removed) ids.

        `wanted` counts the accounts of every shard (default: these), so that a shard whose
        share is empty can still tell that there is something to monitor.
        """
        by_id = {account.id: account for account in accounts}
        with self._lock:
            self._version += 1
            self._discovered = True
            self._wanted = len(by_id) if wanted is None else wanted
            self._discovery_problem = ""
            removed = [account_id for account_id in self._accounts if account_id not in by_id]
            for account_id in removed:
                del self._accounts[account_id]
                for table in self._tables.values():
                    table.place(account_id, ())
            added = []
            for account_id, info in by_id.items():
                account = self._accounts.get(account_id)
                if account is None:
                    account = self._accounts[account_id] = Account(account_id, info.name)
                    added.append(account_id)
                elif account.name != info.name:
                    account.name = info.name
        return added, removed

    def discovery_failed(self, problem: str) -> None:
        with self._lock:
            self._discovery_problem = problem

    def login_refused(self, problem: str) -> None:
        """EEN refuses the credentials (why, and what to check); "" once it accepts them."""
        with self._lock:
            self._login_problem = problem

    def login_problem(self) -> str:
        with self._lock:
            return self._login_problem

    # --- devices ----------------------------------------------------------------------------

    def set_devices(
        self, account_id: str, listing: Iterable[DeviceInfo], seed_status: bool, now: float
    ) -> DeviceChanges:
        """Replace the account's devices with a fresh device list.

        New devices take their status from the listing; known ones too when `seed_status`
        (a resync while the stream is down), otherwise the stream's fresher value stays.
        """
        with self._lock:
            self._version += 1
            account = self._accounts.get(account_id)
            if account is None:
                return DeviceChanges()
            old = account.devices
            new: dict[str, Device] = {}
            added, renamed = [], []
            seeded = False
            for info in listing:
                device = old.get(info.id)
                if device is None or device.kind is not info.kind:
                    device = self._new_device(info)
                    added.append(info.id)
                    _seed(device, info.status, now)
                else:
                    if (device.name, device.bridge_id) != (info.name, info.bridge_id):
                        device.name, device.bridge_id = info.name, info.bridge_id
                        renamed.append(info.id)
                    if seed_status:
                        seeded = _seed(device, info.status, now) or seeded
                new[info.id] = device
            removed = [esn for esn in old if esn not in new]
            account.devices = new
            account.awaiting_snapshot.difference_update(removed)
            if added or removed or renamed or seeded:
                account.devices_version += 1
            if added or removed:
                self._lay_out_counters(account)
        return DeviceChanges(tuple(added), tuple(removed), tuple(renamed))

    def _new_device(self, info: DeviceInfo) -> Device:
        return Device(info.id, info.kind, info.name, info.bridge_id)

    def _lay_out_counters(self, account: Account) -> None:
        """Event rows for the account's devices (they keep their values)."""
        for kind, table in self._tables.items():
            devices = sorted(
                (device for device in account.devices.values() if device.kind is kind),
                key=lambda device: device.id,
            )
            for slot, device in enumerate(devices):
                device.slot = slot
            table.place(account.id, [device.id for device in devices])

    def subscriptions(
        self, account_id: str, only: Iterable[str] | None = None
    ) -> dict[str, tuple[str, ...]]:
        """The event codes to subscribe each device to, for the account's devices (or `only`)."""
        with self._lock:
            account = self._accounts.get(account_id)
            if account is None:
                return {}
            devices = account.devices
            wanted = devices if only is None else [esn for esn in only if esn in devices]
            return {esn: self.events.for_kind(devices[esn].kind) for esn in wanted}

    # --- stream -----------------------------------------------------------------------------

    def stream_connected(self, account_id: str) -> None:
        with self._lock:
            self._version += 1
            account = self._accounts.get(account_id)
            if account:
                account.connects += 1

    def stream_subscribed(self, account_id: str, esns: Iterable[str]) -> None:
        """The subscription is sent: the stream is up and its snapshot is on the way."""
        with self._lock:
            self._version += 1
            account = self._accounts.get(account_id)
            if account is None:
                return
            account.stream_up = True
            account.problem = ""
            account.awaiting_snapshot = set(esns) & account.devices.keys()
            _check_snapshot_complete(account)

    def stream_closed(self, account_id: str, problem: str) -> None:
        """A connected stream ended; the devices keep their last known values."""
        with self._lock:
            self._version += 1
            account = self._accounts.get(account_id)
            if account is None:
                return
            account.stream_up = False
            account.disconnects += 1
            account.problem = problem
            account.awaiting_snapshot.clear()

    def account_failing(self, account_id: str, problem: str) -> None:
        """An attempt to (re)establish the account's stream failed."""
        with self._lock:
            account = self._accounts.get(account_id)
            if account is None:
                return
            account.problem = problem
            if account.readiness is Readiness.PENDING:
                account.readiness = Readiness.FAILING

    def apply(self, account_id: str, update: StreamUpdate, now: float) -> None:
        """Record one stream message: the hot path, kept to dictionary updates."""
        with self._lock:
            self._version += 1
            account = self._accounts.get(account_id)
            if account is None:
                return
            account.messages += 1
            account.last_message_at = now
            devices = account.devices
            for esn, status in update.statuses.items():
                device = devices.get(esn)
                # is_known, inlined; a snapshot repeating the status keeps "since when"
                if (
                    device
                    and status != device.status
                    and status
                    and (isinstance(status, str) or not status & INVALID)
                ):
                    device.status = status
                    device.updated_at = now
                    account.devices_version += 1
            if update.events:
                self._count(account, update.events)
            if account.awaiting_snapshot:
                account.awaiting_snapshot.difference_update(update.statuses)
                account.awaiting_snapshot.difference_update(update.answered)
                _check_snapshot_complete(account)

    def _count(self, account: Account, events: Sequence[Event]) -> None:
        """Count events of the account's devices in codes subscribed for their kind. Others (a
        code asked of the other kind, a device deleted meanwhile) are not counted, so an event
        label only ever takes a configured code."""
        devices = account.devices
        for event in events:
            device = devices.get(event.device_id)
            if device is None:
                continue
            index = self._code_index[device.kind].get(event.code)
            if index is None:
                continue
            table = self._tables[device.kind]
            slot = device.slot
            table.count(account.id, slot, index, event.at_ms)
            if event.code == STREAM_STATS:
                table.packets(account.id, slot, event.expected, event.received)
            elif event.code == CLOUD_DISCONNECT:
                table.disconnected(account.id, slot, event.seconds)

    # --- readers ----------------------------------------------------------------------------

    def version(self) -> int:
        """Changes with every change /metrics could show: a scrape that finds it unchanged
        answers from its cache without copying anything."""
        with self._lock:
            return self._version

    def accounts(self, known: dict[str, int]) -> AccountsCopy:
        """Every account's name and health, and the devices of the accounts whose devices
        version differs from `known` (account id -> devices version)."""
        with self._lock:
            ids = sorted(self._accounts)
            accounts = [self._accounts[account_id] for account_id in ids]
            return AccountsCopy(
                ids,
                [account.name for account in accounts],
                [
                    (
                        account.stream_up,
                        account.connects,
                        account.disconnects,
                        account.messages,
                        account.last_message_at,
                    )
                    for account in accounts
                ],
                {
                    account.id: (account.devices_version, _device_rows(account))
                    for account in accounts
                    if known.get(account.id) != account.devices_version
                },
            )

    def event_changes(self, kind: DeviceKind, epoch: int, stamp: int) -> EventsCopy | None:
        """What changed in the kind's event counters since (epoch, stamp) of an earlier copy
        (EventTable.copy); None: nothing."""
        with self._lock:
            return self._tables[kind].copy(epoch, stamp)

    def wanted_accounts(self) -> int:
        """Accounts to monitor across every shard, as of the last discovery."""
        with self._lock:
            return self._wanted

    def health(self) -> tuple[bool, str, list[AccountHealth]]:
        """(discovered, discovery problem, per-account health) for /readyz and the landing page."""
        with self._lock:
            accounts = [_health(account) for account in self._accounts.values()]
            return self._discovered, self._discovery_problem, accounts


def _seed(device: Device, status: Status, now: float) -> bool:
    """Take the device list's status if it says something new; whether it did."""
    if status == device.status or not is_known(status):
        return False
    device.status = status
    device.updated_at = now
    return True


def _check_snapshot_complete(account: Account) -> None:
    if account.stream_up and not account.awaiting_snapshot:
        account.readiness = Readiness.READY


def _device_rows(account: Account) -> tuple[DeviceRow, ...]:
    return tuple(
        (d.id, d.kind, d.name, d.bridge_id, d.status, d.updated_at)
        for d in account.devices.values()
    )


def _health(account: Account) -> AccountHealth:
    cameras: dict[Status, int] = {}
    bridges = 0
    for device in account.devices.values():
        if device.kind is DeviceKind.BRIDGE:
            bridges += 1
        else:
            cameras[device.status] = cameras.get(device.status, 0) + 1
    return AccountHealth(
        account.id,
        account.name,
        account.stream_up,
        account.readiness,
        account.problem,
        cameras,
        bridges,
    )
