"""Poll-stream events of the simulated devices (een-api.md §7).

Three sources, all pushed to the streams that asked for the code (StreamHub.publish_events):
- status transitions: a camera that stops streaming sends CSDU in the same event-loop step as
  its new bitmask; RCON/RCOF, CONN/COFF, CSAU/CSDU and VRES/VREE follow bits 20, 17, 18 and 19;
  a bridge back online reports how long it was cut off (CCLD) and its new connection (CCLC);
- periodic events of streaming cameras: thumbnails (PRTH, none while a camera's previews are
  frozen) and stream statistics (CSSU, short by the camera's loss ratio), each camera at its
  own phase of the period, so they come evenly spread; and occasional bridge boots (BBOO, or
  a process restart, ABRT), each followed by CCLD and CCLC;
- the control API, one event at a time.

Field values the reference does not describe (stream_type, ctype, reason...) are the
simulator's own choices; ids are int32 and may be negative, as the reference says.
"""

from __future__ import annotations

import random
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from exporter.simulator.resources import een_timestamp
from exporter.simulator.stream import StreamHub
from exporter.simulator.world import Bit, Device, DeviceType, World

TICK = 0.1  # seconds between periodic rounds
THUMBNAIL, STREAM_STATS = "PRTH", "CSSU"
PACKETS_PER_SECOND = 100  # what a camera's stream carries, for CSSU
STREAMING = Bit.ON | Bit.REGISTERED | Bit.STREAMING
CLOUD_IP = "52.8.0.10"
Fields = dict[str, Any]


def _int32(rng: random.Random) -> int:
    return rng.getrandbits(32) - 2**31


@dataclass(slots=True)
class Feed:
    """One device's event state: ids that carry over from one event to the next."""

    stream_id: int = 0
    video_id: int = 0
    register_id: int = 0
    preview_id: int = 0
    event_id: int = 0
    file_offset: int = 0
    total_expected: int = 0
    total_rcvd: int = 0
    offline_since: float | None = None  # bridges: when the cloud connection was lost


@dataclass(slots=True)
class _Schedule:
    """Which cameras are due in a round, for one period: each camera sits in one of
    period / TICK buckets by a hash of its ESN, and a round takes the buckets whose time came."""

    period: float = 0.0
    generation: int = -1
    position: int | None = None
    buckets: list[list[str]] = field(default_factory=list)

    def due(self, world: World, period: float, now: float) -> list[str]:
        if period <= 0:
            self.position = None
            return []
        count = max(1, round(period / TICK))
        if (period, world.generation) != (self.period, self.generation):
            self.period, self.generation = period, world.generation
            self.buckets = [[] for _ in range(count)]
            for esn, device in world.devices.items():
                if device.type is DeviceType.CAMERA:
                    self.buckets[zlib.crc32(esn.encode()) % count].append(esn)
        position = int(now / period * count)
        if self.position is None or not 0 <= position - self.position <= count:
            self.position = position - 1  # (re)starting, or the loop fell far behind
        due = [
            esn for p in range(self.position + 1, position + 1) for esn in self.buckets[p % count]
        ]
        self.position = position
        return due


class EventSource:
    def __init__(self, world: World, hub: StreamHub, seed: int) -> None:
        self.world = world
        self.hub = hub
        self.thumbnail_seconds = 0.0  # PRTH period of each streaming camera; 0 = none
        self.stream_stats_seconds = 0.0  # CSSU period; 0 = none
        self.bridge_boots_per_hour = 0.0  # across all bridges; 0 = none
        self.delivered: Counter[str] = Counter()  # events per code, counted per stream reached
        self._seed = seed
        self._rng = random.Random(f"events-{seed}")  # apart from the world's and churn's
        self._feeds: dict[str, Feed] = {}
        self._thumbnail_schedule = _Schedule()
        self._stats_schedule = _Schedule()
        self._boot_budget = 0.0
        self._last_tick: float | None = None
        # The fields §7 lists per code (CONN, COFF, CECL and COBC carry none of their own).
        self._builders: dict[str, Callable[[Device, Feed, float], Fields]] = {
            "PRTH": self._preview,
            "PRFR": partial(self._preview, thumbnail=False),
            "CSSU": self._stats,
            "CSAU": partial(self._stream, start=True),
            "CSDU": partial(self._stream, start=False),
            "VRES": partial(self._video, start=True),
            "VREE": partial(self._video, start=False),
            "VRKF": lambda d, f, n: {
                "videoid": f.video_id,
                "file_offset": f.file_offset,
                "format": 2,
            },
            "RCON": partial(self._register, start=True),
            "RCOF": partial(self._register, start=False),
            "RCHB": partial(self._register, start=False),
            "EAES": lambda d, f, n: {"videoid": f.video_id, "eventid": f.event_id},
            "EAEE": lambda d, f, n: {"eventid": f.event_id},
            "ESES": lambda d, f, n: {"videoid": f.video_id, "eventid": f.event_id},
            "ESEE": lambda d, f, n: {"eventid": f.event_id},
            "CECF": lambda d, f, n: {"uuid": d.guid, "svc_state": "ATTD"},
            "CCCF": lambda d, f, n: {"errcode": 28},  # curl: operation timed out
            "ABRT": self._aborted,
            "BBOO": lambda d, f, n: {"booted": een_timestamp(n)},
            "CCLC": partial(self._cloud, lost=False),
            "CCLD": partial(self._cloud, lost=True),
        }

    def make_lossy(self, share: float, low: float = 0.02, high: float = 0.3) -> None:
        """Give about `share` of the cameras (seeded) a stream loss ratio from low to high."""
        rng = random.Random(f"loss-{self._seed}")
        for device in self.world.devices.values():
            if device.type is DeviceType.CAMERA and rng.random() < share:
                device.loss = round(rng.uniform(low, high), 3)

    # -- publishing ---------------------------------------------------------------------------

    def emit(
        self, esn: str, code: str, fields: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], int]:
        """One event of `esn`, its fields the simulator's for the code updated by `fields`;
        returns the event and how many streams it reached."""
        body = self._body(self.world.devices[esn], code, time.time()) | (fields or {})
        return body, self._publish(esn, {code: body})

    def _publish(self, esn: str, events: dict[str, dict[str, Any]]) -> int:
        reached = self.hub.publish_events(esn, events)
        for code, streams in reached.items():
            self.delivered[code] += streams
        return max(reached.values(), default=0)

    # -- account-level device events --------------------------------------------------------

    def account_event(
        self, account_id: str, code: str, device_esn: str, values: Fields | None = None
    ) -> None:
        """A device created (AEDC), deleted (AEDD) or changed (AEDH), told on the account's
        ESN: EEN's docs list these with `cameraid` "understood as ESN ... an account, bridge,
        camera or user" and the fields cameraid, status, deviceid, source_userid,
        source_accountid (+ values for AEDH). `status` is undocumented; here 0."""
        if not self.hub.wants(account_id, code):
            return
        body: Fields = {
            "timestamp": een_timestamp(time.time()),
            "cameraid": account_id,
            "status": 0,
            "deviceid": device_esn,
            "source_userid": self.world.user.id,
            "source_accountid": account_id,
        }
        if values is not None:
            body["values"] = values
        self._publish(account_id, {code: body})

    # -- status transitions -------------------------------------------------------------------

    def on_status(self, device: Device, old: int, new: int) -> None:
        """The events a status change makes, pushed as one message (several codes at once)."""
        if not _informative(old) or not _informative(new):
            return
        now = time.time()
        codes = (
            _camera_transition(old, new)
            if device.type is DeviceType.CAMERA
            else self._bridge_transition(device, old, new, now)
        )
        wanted = [code for code in codes if self.hub.wants(device.esn, code)]
        if wanted:
            self._publish(device.esn, {code: self._body(device, code, now) for code in wanted})

    def _bridge_transition(self, device: Device, old: int, new: int, now: float) -> list[str]:
        feed = self._feed(device.esn)
        if old & Bit.REGISTERED and not new & Bit.REGISTERED:
            feed.offline_since = now  # a bridge cut off cannot say so: it reports on return
        if new & Bit.REGISTERED and not old & Bit.REGISTERED:
            return ["CCLD", "CCLC"]
        return []

    # -- periodic events ----------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """One round: thumbnails and statistics due now, and bridge boots by their rate."""
        devices = self.world.devices
        for esn in self._thumbnail_schedule.due(self.world, self.thumbnail_seconds, now):
            device = devices.get(esn)
            if device is None or device.previews_frozen or not _streams(device.status):
                continue
            if self.hub.wants(esn, THUMBNAIL):
                self._publish(esn, {THUMBNAIL: self._body(device, THUMBNAIL, now)})
        for esn in self._stats_schedule.due(self.world, self.stream_stats_seconds, now):
            device = devices.get(esn)
            if device is not None and _streams(device.status) and self.hub.wants(esn, STREAM_STATS):
                self._publish(esn, {STREAM_STATS: self._body(device, STREAM_STATS, now)})
        self._boots(now)

    def _boots(self, now: float) -> None:
        elapsed = 0.0 if self._last_tick is None else now - self._last_tick
        self._last_tick = now
        if not self.bridge_boots_per_hour:
            self._boot_budget = 0.0
            return
        self._boot_budget += self.bridge_boots_per_hour / 3600 * max(0.0, elapsed)
        while self._boot_budget >= 1:
            self._boot_budget -= 1
            bridges = [d for d in self.world.devices.values() if d.type is DeviceType.BRIDGE]
            if bridges:
                self.boot(self._rng.choice(bridges).esn, now)

    def boot(self, esn: str, now: float) -> None:
        """A bridge reboots (BBOO) or its process restarts (ABRT, one time in three), and
        reconnects to the cloud (CCLD with the seconds it was away, then CCLC)."""
        device = self.world.devices[esn]
        code = "ABRT" if self._rng.random() < 1 / 3 else "BBOO"
        feed = self._feed(esn)
        feed.offline_since = now - self._rng.uniform(20, 90)
        codes = [c for c in (code, "CCLD", "CCLC") if self.hub.wants(esn, c)]
        if codes:
            self._publish(esn, {c: self._body(device, c, now) for c in codes})

    # -- event bodies -------------------------------------------------------------------------

    def _feed(self, esn: str) -> Feed:
        feed = self._feeds.get(esn)
        if feed is None:
            rng = self._rng
            feed = self._feeds[esn] = Feed(
                stream_id=rng.randrange(1, 2**16),
                video_id=_int32(rng),
                register_id=rng.randrange(1, 2**16),
                preview_id=_int32(rng),
                event_id=_int32(rng),
            )
        return feed

    def _body(self, device: Device, code: str, now: float) -> Fields:
        """The event object: timestamp, cameraid and the fields §7 lists for the code."""
        feed = self._feed(device.esn)
        body: Fields = {"timestamp": een_timestamp(now), "cameraid": device.esn}
        build = self._builders.get(code)
        if build is not None:
            body.update(build(device, feed, now))
        return body

    def _preview(self, device: Device, feed: Feed, now: float, thumbnail: bool = True) -> Fields:
        feed.preview_id += 1
        size = self._rng.randrange(5_000, 9_000)
        feed.file_offset += size
        fields: Fields = {"previewid": feed.preview_id}
        if thumbnail:
            feed.event_id += 1
            fields["eventid"] = feed.event_id
        return fields | {"file_offset": feed.file_offset, "frame_size": size}

    def _stats(self, device: Device, feed: Feed, now: float) -> Fields:
        interval = self.stream_stats_seconds or 60.0
        expected = round(interval * PACKETS_PER_SECOND)
        received = expected - round(expected * device.loss)
        feed.total_expected += expected
        feed.total_rcvd += received
        return {
            "streamtype": "video",
            "streamformat": "h264",
            "total_expected": feed.total_expected,
            "total_rcvd": feed.total_rcvd,
            "delta_expected": expected,
            "delta_rcvd": received,
            "interval": round(interval),
            "streamid": feed.stream_id,
        }

    def _stream(self, device: Device, feed: Feed, now: float, start: bool) -> Fields:
        if start:
            feed.stream_id += 1
        return {"streamid": feed.stream_id, "stream_format": "h264", "stream_type": "video"}

    def _video(self, device: Device, feed: Feed, now: float, start: bool) -> Fields:
        if start:
            feed.video_id = _int32(self._rng)
            return {"videoid": feed.video_id, "format": 2, "status": 31}
        size = self._rng.randrange(100_000, 5_000_000)
        return {"videoid": feed.video_id, "videosize": size, "format": 2, "status": 31}

    def _register(self, device: Device, feed: Feed, now: float, start: bool) -> Fields:
        if start:
            feed.register_id += 1
        return {"registerid": feed.register_id}

    def _cloud(self, device: Device, feed: Feed, now: float, lost: bool) -> Fields:
        fields: Fields = {
            "src_ip": device.ip_address.lstrip("*").split(",")[0],
            "dest_ip": CLOUD_IP,
            "src_port": 40_000 + zlib.crc32(device.esn.encode()) % 20_000,
            "dest_port": 443,
            "ctype": "tls",
        }
        if lost:
            since = feed.offline_since
            fields["reason"] = "connection lost"
            fields["seconds"] = round(now - since, 3) if since is not None else 0
            feed.offline_since = None
        return fields

    def _aborted(self, device: Device, feed: Feed, now: float) -> Fields:
        streaming = [e for e in device.camera_esns if _streams(self.world.devices[e].status)]
        return {"aborted": len(streaming)}


# Camera bits, in the order their events are sent when they go down (the reverse when up).
_CAMERA_BITS = (
    (Bit.RECORDING, "VRES", "VREE"),
    (Bit.STREAMING, "CSAU", "CSDU"),
    (Bit.REGISTERED, "RCON", "RCOF"),
    (Bit.ON, "CONN", "COFF"),
)


def _camera_transition(old: int, new: int) -> list[str]:
    down = [off for bit, _, off in _CAMERA_BITS if old & bit and not new & bit]
    up = [on for bit, on, _ in reversed(_CAMERA_BITS) if new & bit and not old & bit]
    return down + up


def _informative(status: int) -> bool:
    return status != 0 and not status & Bit.INVALID


def _streams(status: int) -> bool:
    return status & STREAMING == STREAMING and not status & Bit.INVALID
