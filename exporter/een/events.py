"""Poll-stream events (een-api.md §7): reading one event, and choosing the codes to subscribe
to (the codes themselves are exporter.state.eventcodes').

An event arrives as `{"<esn>": {"event": {"<4CC>": {"timestamp": "YYYYMMDDhhmmss.xxx",
"cameraid": ..., ...}}}}`. Only the fields the exporter turns into metrics are checked; an
event whose timestamp or counted fields are unusable is refused (BadEvent) on its own.

>>> parse_event("1000f60d", "PRTH", {"timestamp": "20240229235959.999", "cameraid": "1000f60d"})
Event(device_id='1000f60d', code='PRTH', at_ms=1709251199999, expected=0, received=0, seconds=0.0)
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from datetime import date
from functools import lru_cache

from exporter.state.eventcodes import BRIDGE_CODES, CAMERA_CODES, CLOUD_DISCONNECT, STREAM_STATS
from exporter.state.eventcodes import CODES as CODES  # re-exported: EEN_EVENTS' choices
from exporter.state.eventcodes import DEFAULT as DEFAULT  # and its default
from exporter.state.model import Event, EventSelection

# Counts and durations must be exact in a float64 sample.
MAX_COUNT = 2**53
# EEN's timestamps are UTC, from its cloud and the bridges. One more than a day ahead of this
# machine's clock (a day covers any time-zone mix-up and ordinary clock skew) comes from a
# broken clock or a hostile endpoint, and is refused: taken, a year-9999 event would be the
# camera's last event, and `time() - een_camera_last_event_timestamp_seconds` negative, until
# the next one. Earlier times are taken back to 1970: a bridge sends events late after an
# outage.
MAX_AHEAD_MS = 86_400_000
_EPOCH = date(1970, 1, 1).toordinal()


class BadEvent(ValueError):
    """An event the exporter cannot use; the message says why."""


def select(codes: Iterable[str], cssu_series: bool = False) -> EventSelection:
    """Split known codes into the camera and the bridge ones, keeping their order. CSSU has
    per-code series (een_camera_events_total, ..._last_event_timestamp_seconds) only with
    `cssu_series`: its packet counters say as much, and they are 100,000 series at 50,000
    cameras."""
    chosen = tuple(dict.fromkeys(codes))
    camera = tuple(code for code in chosen if code in CAMERA_CODES)
    return EventSelection(
        camera,
        tuple(code for code in chosen if code in BRIDGE_CODES),
        () if cssu_series or STREAM_STATS not in camera else (STREAM_STATS,),
    )


def parse_event(esn: str, code: str, body: object) -> Event:
    """One event object of `esn` as an Event; raises BadEvent."""
    if not isinstance(body, dict):
        raise BadEvent("not an object")
    at_ms = parse_timestamp(body.get("timestamp"))
    if code == STREAM_STATS:
        expected = _count(body, "delta_expected")
        return Event(esn, code, at_ms, expected, _count(body, "delta_rcvd"))
    if code == CLOUD_DISCONNECT:
        return Event(esn, code, at_ms, seconds=_seconds(body, "seconds"))
    return Event(esn, code, at_ms)


def parse_timestamp(value: object, now: float | None = None) -> int:
    """EEN's `YYYYMMDDhhmmss.xxx` (UTC) as Unix milliseconds, exactly; raises BadEvent, also
    for a time more than a day after `now` (Unix seconds; default: this machine's clock).

    >>> parse_timestamp("19700101000000.001"), parse_timestamp("20161128063213.516")
    (1, 1480314733516)
    """
    if not isinstance(value, str) or len(value) != 18 or value[14] != ".":
        raise BadEvent(f"timestamp {_shown(value)} is not YYYYMMDDhhmmss.xxx")
    seconds = value[12:14]
    millis = value[15:]
    if not (seconds.isdecimal() and millis.isdecimal() and value.isascii()):
        raise BadEvent(f"timestamp {_shown(value)} is not YYYYMMDDhhmmss.xxx")
    if seconds > "59":
        raise BadEvent(f"timestamp {value} has no such time of day")
    try:
        minute = _minute(value[:12])
    except ValueError as exc:
        raise BadEvent(f"timestamp {value} {exc}") from None
    at_ms = minute + int(seconds) * 1000 + int(millis)
    if at_ms > (time.time() if now is None else now) * 1000 + MAX_AHEAD_MS:
        raise BadEvent(f"timestamp {value} is more than a day ahead of this machine's clock")
    return at_ms


@lru_cache(maxsize=64)
def _minute(yyyymmddhhmm: str) -> int:
    """The start of a minute in Unix ms (a stream's events share a handful of minutes);
    ValueError says what is wrong with it."""
    if not yyyymmddhhmm.isdecimal():
        raise ValueError("is not YYYYMMDDhhmmss.xxx")
    hours, minutes = int(yyyymmddhhmm[8:10]), int(yyyymmddhhmm[10:])
    if hours > 23 or minutes > 59:
        raise ValueError("has no such time of day")
    year = int(yyyymmddhhmm[:4])
    try:
        if year < 1970:
            raise ValueError
        day = date(year, int(yyyymmddhhmm[4:6]), int(yyyymmddhhmm[6:8])).toordinal() - _EPOCH
    except ValueError:
        raise ValueError("has no such date") from None
    return ((day * 24 + hours) * 60 + minutes) * 60_000


def _count(body: dict[str, object], name: str) -> int:
    value = body.get(name)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT:
        return value
    raise BadEvent(f"{name} {_shown(value)} is not a count from 0 to 2^53")


def _seconds(body: dict[str, object], name: str) -> float:
    value = body.get(name)
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value <= MAX_COUNT
    ):
        return float(value)
    raise BadEvent(f"{name} {_shown(value)} is not a number of seconds from 0 to 2^53")


def _shown(value: object, limit: int = 40) -> str:
    """A value for a log line, cut short."""
    if value is None:
        return "missing"
    if isinstance(value, list | dict):
        return "an array" if isinstance(value, list) else "an object"
    text = repr(value[:limit] if isinstance(value, str) else value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
