"""The poll resources of EEN's v1 docs, rendered from the world for the WebSocket stream and
HTTP long polling alike (EENCloud/api-docs `source/includes/_api_poll.md`, "Resources" and
"Resource Types"; een-api.md §4-5).

- `status` is the legacy bitmask; `status64` adds the extended word in the upper 32 bits;
  `status_hex` / `status_hex64` are the same as hex strings (WebSocket only, per the docs).
- `pre` / `thumb` are the timestamps of the latest preview / thumbnail image; `video` is the
  `[start, end]` of the latest video segment, its end moving with each key frame while the
  camera records. They advance while a camera streams (records) and freeze when it stops.
- A resource with nothing to report (a bridge's previews, a camera that never streamed since
  the simulator started) is absent, not an error: "If a specified event has not been
  triggered on the device/account, it will not be listed by the poll service (no error will
  be reported)".
"""

from __future__ import annotations

import enum
import math
import time
import zlib
from dataclasses import dataclass
from typing import Any

from exporter.simulator.world import Bit, Device, DeviceType, World

STATUS_RESOURCES = frozenset({"status", "status64", "status_hex", "status_hex64"})
MEDIA_RESOURCES = frozenset({"pre", "thumb", "video"})
RESOURCES = STATUS_RESOURCES | MEDIA_RESOURCES | {"event"}
WEBSOCKET_ONLY = frozenset({"status_hex", "status_hex64"})
PREVIEW_SECONDS = 1.0  # a preview image (and a video key frame) per streaming camera
THUMBNAIL_SECONDS = 10.0  # a thumbnail per streaming camera
STREAMING = Bit.ON | Bit.REGISTERED | Bit.STREAMING


class Extended(enum.IntFlag):
    """The upper word of `status64` (een-api.md §5, from EENCloud/api-docs `_api_poll.md`)."""

    VALID = 0x01
    ON = 0x02
    REGISTERED = 0x04
    PENDING = 0x08  # configuration problem prevents streaming
    STREAMING = 0x10


def een_timestamp(moment: float) -> str:
    """EEN's `YYYYMMDDhhmmss.xxx` UTC timestamp format."""
    millis = int(moment * 1000) % 1000
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(moment)) + f".{millis:03d}"


@dataclass(frozen=True, slots=True)
class Subscription:
    """What one poll (stream or HTTP session) asked of one ESN: resources, and event codes."""

    resources: frozenset[str]
    events: frozenset[str]

    @property
    def status(self) -> bool:
        return "status" in self.resources


class SpecError(ValueError):
    """A subscription entry the docs do not allow; the message is the per-entity error's."""


def parse_spec(spec: object) -> Subscription:
    """One `cameras` entry (`{"resource": [...], "event": [...]}`) as a Subscription."""
    resources = spec.get("resource") if isinstance(spec, dict) else None
    if not isinstance(resources, list) or not resources:
        raise SpecError("invalid resource")
    if not all(isinstance(r, str) and r in RESOURCES for r in resources):
        raise SpecError("invalid resource")
    codes: frozenset[str] = frozenset()
    if "event" in resources:
        assert isinstance(spec, dict)
        listed = spec.get("event")
        if not isinstance(listed, list) or not all(isinstance(c, str) for c in listed):
            raise SpecError("invalid event list")
        codes = frozenset(listed)
    return Subscription(frozenset(resources), codes)


def resolves(world: World, account_id: str, esn: str) -> bool:
    """Whether `esn` is a device of the account, or the account itself: account ESNs are
    documented for account-level events ("keyed by ID (camera, bridge or account ESN)")."""
    if esn == account_id:
        return account_id in world.accounts
    device = world.devices.get(esn)
    return device is not None and device.account_id == account_id


def status64(world: World, device: Device, status: int) -> int:
    """The extended word over the legacy one. Status 0 ("no change") stays 0, and an invalid
    legacy word has no valid bit; a camera that is off has its registered bit suppressed in
    the legacy word but not here, where it follows its bridge's cloud link."""
    if status == 0:
        return 0
    upper = Extended(0)
    if not status & Bit.INVALID:
        upper |= Extended.VALID
    if status & Bit.ON:
        upper |= Extended.ON
    if status & Bit.REGISTERED or _bridge_registered(world, device, status):
        upper |= Extended.REGISTERED
    if status & (Bit.PASSWORD_NEEDED | Bit.CAMERA_ERROR):
        upper |= Extended.PENDING
    if status & Bit.STREAMING:
        upper |= Extended.STREAMING
    return int(upper) << 32 | status


def _bridge_registered(world: World, device: Device, status: int) -> bool:
    if status & Bit.ON or device.bridge_id is None:
        return False
    bridge = world.devices.get(device.bridge_id)
    return bridge is not None and bool(bridge.status & Bit.REGISTERED)


def status_values(
    world: World, device: Device, status: int, wanted: frozenset[str]
) -> dict[str, Any]:
    """The status resources of `wanted`, all from one legacy word."""
    values: dict[str, Any] = {}
    if "status" in wanted:
        values["status"] = status
    if "status_hex" in wanted:
        values["status_hex"] = f"{status:08x}"
    if wanted & {"status64", "status_hex64"}:
        extended = status64(world, device, status)
        if "status64" in wanted:
            values["status64"] = extended
        if "status_hex64" in wanted:
            values["status_hex64"] = f"{extended:016x}"
    return values


@dataclass(slots=True)
class _Timeline:
    """When a camera last started and stopped previewing and recording."""

    previewing_since: float | None = None
    previewing_until: float | None = None
    recording_since: float | None = None
    recording_until: float | None = None


class Media:
    """`pre`, `thumb` and `video` of each camera, from the clock and its status history."""

    def __init__(self, world: World, start: float | None = None) -> None:
        self.world = world
        self.preview_seconds = PREVIEW_SECONDS
        self.thumbnail_seconds = THUMBNAIL_SECONDS
        # Cameras streaming when the simulator started have done so since then.
        self._start = time.time() if start is None else start
        self._timelines: dict[str, _Timeline] = {}

    def observe(self, device: Device, now: float) -> None:
        """Note a camera starting or stopping previews or recording (any status change, a
        frozen preview feed); status 0 and invalid words change nothing, as the docs say."""
        if device.type is not DeviceType.CAMERA or not _informative(device.status):
            return
        timeline = self._timelines.get(device.esn)
        if timeline is None:
            timeline = self._timelines[device.esn] = _Timeline()
            now = min(now, self._start)
        previewing = _streams(device.status) and not device.previews_frozen
        if previewing and (
            timeline.previewing_since is None or timeline.previewing_until is not None
        ):
            timeline.previewing_since, timeline.previewing_until = now, None
        elif not previewing and timeline.previewing_since is not None:
            timeline.previewing_until = timeline.previewing_until or now
        recording = _streams(device.status) and bool(device.status & Bit.RECORDING)
        if recording and (timeline.recording_since is None or timeline.recording_until is not None):
            timeline.recording_since, timeline.recording_until = now, None
        elif not recording and timeline.recording_since is not None:
            timeline.recording_until = timeline.recording_until or now

    def forget(self, esn: str) -> None:
        self._timelines.pop(esn, None)

    def values(self, device: Device, wanted: frozenset[str], now: float) -> dict[str, Any]:
        """The media resources of `wanted` that have something to report."""
        if device.type is not DeviceType.CAMERA or not wanted & MEDIA_RESOURCES:
            return {}
        self.observe(device, now)
        timeline = self._timelines.get(device.esn)
        if timeline is None:
            return {}
        values: dict[str, Any] = {}
        phase = zlib.crc32(device.esn.encode()) % 1000 / 1000
        if timeline.previewing_since is not None:
            since, until = timeline.previewing_since, timeline.previewing_until or now
            if "pre" in wanted:
                values["pre"] = een_timestamp(_latest(since, until, self.preview_seconds, phase))
            if "thumb" in wanted:
                values["thumb"] = een_timestamp(
                    _latest(since, until, self.thumbnail_seconds, phase)
                )
        if "video" in wanted and timeline.recording_since is not None:
            since, until = timeline.recording_since, timeline.recording_until or now
            end = _latest(since, until, self.preview_seconds, phase)
            values["video"] = [een_timestamp(since), een_timestamp(end)]
        return values


def _latest(since: float, until: float, period: float, phase: float) -> float:
    """The last tick of a `period` clock (offset by `phase` periods) from `since` to `until`;
    `since` itself when none fell in between (the first image comes as the stream starts)."""
    tick = (math.floor(until / period - phase) + phase) * period
    return tick if tick >= since else since


def _informative(status: int) -> bool:
    return status != 0 and not status & Bit.INVALID


def _streams(status: int) -> bool:
    return status & STREAMING == STREAMING and not status & Bit.INVALID
