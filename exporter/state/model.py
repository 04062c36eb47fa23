"""Records shared by the EEN transport and the state store."""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

# A device's status: API v1's bitmask (0 = not known), or API v3's connectionStatus string
# ("" = not known). One process speaks one API, so an account's devices all have one kind.
Status = int | str


class DeviceKind(enum.Enum):
    CAMERA = "camera"
    BRIDGE = "bridge"


@dataclass(frozen=True, slots=True)
class AccountInfo:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """A device as the device list describes it; `status` is its Status at listing time."""

    id: str
    kind: DeviceKind
    name: str
    bridge_id: str  # the camera's bridge; "" for bridges and unattached cameras
    status: Status


# Event and StreamUpdate are built once per event and per stream message: not frozen, as
# a frozen dataclass takes five times as long to build (2 µs). Nothing changes them.


@dataclass(slots=True)
class Event:
    """One poll-stream event of a device (een-api.md §7), reduced to what the store counts."""

    device_id: str
    code: str  # the four-CC, e.g. "PRTH"
    at_ms: int  # EEN's own timestamp (YYYYMMDDhhmmss.xxx, UTC) in Unix milliseconds
    expected: int = 0  # CSSU: packets the bridge expected in the interval (delta_expected)
    received: int = 0  # CSSU: packets it received (delta_rcvd)
    seconds: float = 0.0  # CCLD: how long the bridge was without its cloud connection


@dataclass(frozen=True, slots=True)
class EventSelection:
    """The event codes subscribed for each kind of device, in the order they are shown."""

    camera: tuple[str, ...] = ()
    bridge: tuple[str, ...] = ()
    # Camera codes counted (and subscribed) without een_camera_events_total and
    # een_camera_last_event_timestamp_seconds series of their own: by default CSSU, whose
    # packet counters say more (EEN_CSSU_EVENT_SERIES).
    hidden: tuple[str, ...] = ()

    def shown(self) -> tuple[tuple[int, str], ...]:
        """The camera codes with series of their own, with their place in `camera`."""
        return tuple((i, code) for i, code in enumerate(self.camera) if code not in self.hidden)

    def for_kind(self, kind: DeviceKind) -> tuple[str, ...]:
        return self.camera if kind is DeviceKind.CAMERA else self.bridge


@dataclass(slots=True)
class StreamUpdate:
    """What one poll-stream message tells the store."""

    statuses: Mapping[str, Status] = field(default_factory=dict)  # ESN -> status
    # ESNs the stream answered without a usable status (refused, or malformed): their
    # snapshot has come all the same.
    answered: Collection[str] = ()
    events: Sequence[Event] = ()
