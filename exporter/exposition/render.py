"""Renders the state store as the Prometheus text exposition format (version 0.0.4).

The body is family-major (all samples of a family together), so it is kept as blocks per
(family, account): the account's own blocks are re-rendered when its health changes, its
device blocks only when a device changed, and its event blocks one slice of 64 devices at a
time, only where an event was counted (stream statistics come every minute from every
streaming camera: they must not re-render the status lines, nor the account's other
cameras). Each block is also cached compressed, as a piece of one gzip stream (see
gzipstream), so a compressed scrape is a join of cached pieces and only blocks whose bytes
changed are compressed again.

    # HELP een_camera_online 1 when the camera is registered with the EEN cloud (status bit 20).
    # TYPE een_camera_online gauge
    een_camera_online{account_id="00004206",camera_id="1000f60d"} 1
"""

from __future__ import annotations

import codecs
import enum
import gc
import operator
import re
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

from exporter.exposition import gzipstream
from exporter.state.counters import SLICE, Device, EventsCopy
from exporter.state.eventcodes import (
    BRIDGE_BOOT,
    BRIDGE_RESTART,
    CLOUD_CONNECT,
    CLOUD_DISCONNECT,
    STREAM_STATS,
)
from exporter.state.model import DeviceKind, EventSelection, Status
from exporter.state.status import (
    CONNECTED,
    CONNECTION_STATUSES,
    CameraStatus,
    decode_bridge,
    decode_camera,
    decoded_bits,
)
from exporter.state.store import AccountsCopy, DeviceRow, StateStore

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _replace_unencodable(error: UnicodeError) -> tuple[bytes, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    # Bytes: CPython's UTF-8 encoder takes only ASCII text back from an error handler.
    return "\ufffd".encode() * (error.end - error.start), error.end


# Text from EEN may hold lone surrogates ("\ud800" is valid JSON) that UTF-8 cannot encode:
# they become U+FFFD instead of failing the whole page.
codecs.register_error("een-replace", _replace_unencodable)


def utf8(text: str) -> bytes:
    """`text` as UTF-8 for an HTTP body; never fails (unencodable code points become U+FFFD).

    >>> utf8("cam\\ud800")
    b'cam\\xef\\xbf\\xbd'
    """
    return text.encode("utf-8", "een-replace")


class Source(enum.Enum):
    """What an account's block of a family is rendered from, and so when it is rendered again:
    each has its own version in the store."""

    ACCOUNT = "account"  # the account's name and stream health
    DEVICES = "devices"  # its devices and their statuses
    EVENTS = "events"  # its devices' event counts


@dataclass(frozen=True)
class Family:
    name: str
    type: str
    help: str
    source: Source

    def header(self) -> bytes:
        return f"# HELP {self.name} {self.help}\n# TYPE {self.name} {self.type}\n".encode()


ACCOUNT, DEVICES, EVENTS = Source.ACCOUNT, Source.DEVICES, Source.EVENTS
# The families in the order of the body. The renderer finds each by its name (BLOCK).
FAMILIES = (
    Family("een_account_info", "gauge", "Always 1; the name label is the account's name.", ACCOUNT),
    Family(
        "een_stream_up",
        "gauge",
        "1 while the account's poll stream is connected and subscribed.",
        ACCOUNT,
    ),
    Family("een_stream_connects_total", "counter", "Poll-stream connections made.", ACCOUNT),
    Family("een_stream_disconnects_total", "counter", "Poll-stream connections lost.", ACCOUNT),
    Family("een_stream_messages_total", "counter", "Poll-stream messages received.", ACCOUNT),
    Family(
        "een_stream_last_message_timestamp_seconds",
        "gauge",
        "When the account's poll stream last delivered a message (0 = never).",
        ACCOUNT,
    ),
    Family(
        "een_camera_info", "gauge", "Always 1; labels carry the camera's name and bridge.", DEVICES
    ),
    Family(
        "een_camera_online",
        "gauge",
        "1 when the camera is registered with the EEN cloud (v1: status bit 20; v3: "
        "connectionStatus online).",
        DEVICES,
    ),
    Family("een_camera_on", "gauge", "1 when the camera is switched on (status bit 17).", DEVICES),
    Family(
        "een_camera_streaming",
        "gauge",
        "1 when the camera is streaming to its bridge (status bit 18).",
        DEVICES,
    ),
    Family(
        "een_camera_recording", "gauge", "1 when the camera is recording (status bit 19).", DEVICES
    ),
    Family(
        "een_camera_status",
        "gauge",
        "1 for the camera's overall status as EEN shows it (v1: from the status bitmask; v3: "
        "the connectionStatus), 0 for the others.",
        DEVICES,
    ),
    Family(
        "een_camera_last_update_timestamp_seconds",
        "gauge",
        "When the camera's current status was first received, i.e. when it last changed.",
        DEVICES,
    ),
    Family("een_bridge_info", "gauge", "Always 1; the name label is the bridge's name.", DEVICES),
    Family(
        "een_bridge_online",
        "gauge",
        "1 when the bridge is registered with the EEN cloud (v1: status bit 20; v3: "
        "connectionStatus online).",
        DEVICES,
    ),
    Family(
        "een_camera_events_total",
        "counter",
        "Poll-stream events of the camera, per subscribed four-letter code (EEN_EVENTS).",
        EVENTS,
    ),
    Family(
        "een_camera_last_event_timestamp_seconds",
        "gauge",
        "EEN's timestamp of the camera's last event of that code (0 = none since start).",
        EVENTS,
    ),
    Family(
        "een_camera_stream_packets_expected_total",
        "counter",
        f"Packets the bridge expected from the camera's stream ({STREAM_STATS} delta_expected, "
        "summed).",
        EVENTS,
    ),
    Family(
        "een_camera_stream_packets_received_total",
        "counter",
        f"Packets the bridge received from the camera's stream ({STREAM_STATS} delta_rcvd, "
        "summed).",
        EVENTS,
    ),
    Family("een_bridge_boots_total", "counter", f"Bridge boots ({BRIDGE_BOOT} events).", EVENTS),
    Family(
        "een_bridge_restarts_total",
        "counter",
        f"Bridge process restarts ({BRIDGE_RESTART} events).",
        EVENTS,
    ),
    Family(
        "een_bridge_cloud_connects_total",
        "counter",
        f"Bridge connections to the cloud ({CLOUD_CONNECT}).",
        EVENTS,
    ),
    Family(
        "een_bridge_cloud_disconnects_total",
        "counter",
        f"Bridge cloud connections lost ({CLOUD_DISCONNECT} events).",
        EVENTS,
    ),
    Family(
        "een_bridge_last_cloud_disconnect_duration_seconds",
        "gauge",
        "How long the bridge's last lost cloud connection was down (the last "
        f"{CLOUD_DISCONNECT}'s seconds).",
        EVENTS,
    ),
)
HEADERS = tuple(family.header() for family in FAMILIES)
DEFLATED_HEADERS = tuple(gzipstream.piece(header) for header in HEADERS)
# A family's block (its index in FAMILIES, HEADERS and every account's blocks), by name.
BLOCK = {family.name: index for index, family in enumerate(FAMILIES)}


def _blocks_from(source: Source) -> tuple[int, ...]:
    return tuple(index for index, family in enumerate(FAMILIES) if family.source is source)


# The blocks each render function returns, in FAMILIES order.
DEVICE_BLOCKS = _blocks_from(DEVICES)
EVENT_BLOCKS = _blocks_from(EVENTS)
STATUSES = tuple(CameraStatus)


LABEL_LIMIT = 256  # code points in a label value, "…" included: at most 1,024 bytes of UTF-8
# Controls (C0, DEL, C1), the line and paragraph separators, and lone surrogates: every code
# point that str.splitlines() or another line-oriented reader may take as a line break (\r \v \f
# \x1c-\x1e \x85 \u2028 \u2029), and those UTF-8 cannot encode. "\n" is not among them: the
# text format escapes it.
_UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def escape(value: str) -> str:
    """A label value from outside (a name, an id), for the text format.

    Unsafe code points (_UNSAFE) become U+FFFD; a value longer than LABEL_LIMIT keeps its
    first LABEL_LIMIT - 1 code points and ends in "…". Then \\, " and newline are escaped.

    >>> escape('Dock "B"\\r\\n'), escape("x" * 300)[-3:], len(escape("x" * 300))
    ('Dock \\\\"B\\\\"\ufffd\\\\n', 'xx…', 256)
    """
    if not value.isprintable() or len(value) > LABEL_LIMIT:  # rare: the common case is cheap
        value = _UNSAFE.sub("\ufffd", value)
        if len(value) > LABEL_LIMIT:
            value = value[: LABEL_LIMIT - 1] + "…"
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


# repr's spelling of the values that are not finite, and the text format's.
_NOT_FINITE = {"inf": "+Inf", "-inf": "-Inf", "nan": "NaN"}


def sample_value(value: float) -> str:
    """A float sample exactly: the shortest text that reads back as the same float64 (repr,
    as prometheus_client writes it), with +Inf, -Inf and NaN spelled as text format 0.0.4 does.

    `{:g}` kept 6 significant digits: a 2^53 s duration came out as 9.0072e+15.

    >>> sample_value(2.0**53), sample_value(0.1), sample_value(float("-inf")), sample_value(7)
    ('9007199254740992.0', '0.1', '-Inf', '7')
    """
    text = repr(value)
    return _NOT_FINITE.get(text, text)


LABELS = "\x00"  # where a camera's labels go in the memoised status lines


@cache
def camera_values(bits: int) -> tuple[str, str, str, str, str] | None:
    """(online, on, streaming, recording, the five een_camera_status lines) for decoded_bits.

    Memoised, on the few bits decoding reads: at most 128 entries however many distinct
    bitmasks the stream sends. The status lines hold LABELS for the labels.
    """
    state = decode_camera(bits)
    if state is None:
        return None
    flags = (state.online, state.on, state.streaming, state.recording)
    online, on, streaming, recording = ("1" if flag else "0" for flag in flags)
    status_lines = "".join(
        f'een_camera_status{{{LABELS},status="{s.value}"}} {int(s is state.status)}\n'
        for s in STATUSES
    )
    return online, on, streaming, recording, status_lines


@lru_cache(maxsize=len(CONNECTION_STATUSES) + 2)
def connection_values(status: str) -> tuple[str, str]:
    """(online, the seven een_camera_status lines) for a v3 connectionStatus.

    An undocumented value (EEN may add some) is 0 in every documented line, not a new label
    value from outside. Memoised, boundedly: the v3 stream stores every undocumented value as
    one (status.UNDOCUMENTED), but the store takes any string.
    """
    status_lines = "".join(
        f'een_camera_status{{{LABELS},status="{value}"}} {int(value == status)}\n'
        for value in CONNECTION_STATUSES
    )
    return str(int(status == CONNECTED)), status_lines


# Where the renderer puts each family's lines: the family's block, found by its name.
ACCOUNT_INFO = BLOCK["een_account_info"]
STREAM_UP = BLOCK["een_stream_up"]
STREAM_CONNECTS = BLOCK["een_stream_connects_total"]
STREAM_DISCONNECTS = BLOCK["een_stream_disconnects_total"]
STREAM_MESSAGES = BLOCK["een_stream_messages_total"]
LAST_MESSAGE = BLOCK["een_stream_last_message_timestamp_seconds"]
CAMERA_INFO = BLOCK["een_camera_info"]
CAMERA_ONLINE = BLOCK["een_camera_online"]
CAMERA_ON = BLOCK["een_camera_on"]
CAMERA_STREAMING = BLOCK["een_camera_streaming"]
CAMERA_RECORDING = BLOCK["een_camera_recording"]
CAMERA_STATUS = BLOCK["een_camera_status"]
LAST_UPDATE = BLOCK["een_camera_last_update_timestamp_seconds"]
BRIDGE_INFO = BLOCK["een_bridge_info"]
BRIDGE_ONLINE = BLOCK["een_bridge_online"]
CAMERA_EVENTS = BLOCK["een_camera_events_total"]
LAST_EVENT = BLOCK["een_camera_last_event_timestamp_seconds"]
PACKETS_EXPECTED = BLOCK["een_camera_stream_packets_expected_total"]
PACKETS_RECEIVED = BLOCK["een_camera_stream_packets_received_total"]
# Where each bridge code is counted.
BRIDGE_EVENTS = {
    BRIDGE_BOOT: BLOCK["een_bridge_boots_total"],
    BRIDGE_RESTART: BLOCK["een_bridge_restarts_total"],
    CLOUD_CONNECT: BLOCK["een_bridge_cloud_connects_total"],
    CLOUD_DISCONNECT: BLOCK["een_bridge_cloud_disconnects_total"],
}
DISCONNECT_DURATION = BLOCK["een_bridge_last_cloud_disconnect_duration_seconds"]


# The account families, a line per account, are rendered a family at a time over every
# account: each scrape brings new message counts for nearly all of them, and one `%` of a
# template per family costs less than a block per account. The family of each number of the
# store's StreamHealth, in its order.
HEALTH_FAMILIES = (STREAM_UP, STREAM_CONNECTS, STREAM_DISCONNECTS, STREAM_MESSAGES, LAST_MESSAGE)


def render_account_info(accounts: Sequence[tuple[str, str]]) -> bytes:
    """een_account_info's lines for (id, name) of each account."""
    return utf8(
        "".join(
            f'een_account_info{{account_id="{escape(account_id)}",name="{escape(name)}"}} 1\n'
            for account_id, name in accounts
        )
    )


def health_template(index: int, account_ids: Sequence[str]) -> bytes:
    """One account family's lines for these accounts, "%d" for each number; "%a" for the last
    message's time, a float from time.time() (or 0.0), always finite: its repr, what %a
    writes, is then sample_value's text.

    >>> health_template(STREAM_UP, ["a%"]) % (True,)
    b'een_stream_up{account_id="a%"} 1\\n'
    >>> health_template(LAST_MESSAGE, ["a"]) % (1700000000.25,)
    b'een_stream_last_message_timestamp_seconds{account_id="a"} 1700000000.25\\n'
    """
    number = b"%a" if index == LAST_MESSAGE else b"%d"
    name = FAMILIES[index].name
    return b"".join(
        utf8(f'{name}{{account_id="{escape(account_id)}"}} ').replace(b"%", b"%%") + number + b"\n"
        for account_id in account_ids
    )


def render_devices(account_id: str, devices: tuple[DeviceRow, ...]) -> list[bytes]:
    """The account's device blocks (DEVICE_BLOCKS), devices in id order."""
    blocks: list[list[str]] = [[] for _ in FAMILIES]
    account = f'account_id="{escape(account_id)}"'
    for esn, kind, name, bridge_id, status, updated_at in sorted(devices):
        if kind is DeviceKind.CAMERA:
            _camera_lines(blocks, account, esn, name, bridge_id, status, updated_at)
        else:
            _bridge_lines(blocks, account, esn, name, status)
    return [utf8("".join(blocks[index])) for index in DEVICE_BLOCKS]


def _camera_lines(
    blocks: list[list[str]],
    account: str,
    esn: str,
    name: str,
    bridge_id: str,
    status: Status,
    updated_at: float,
) -> None:
    labels = f'{account},camera_id="{escape(esn)}"'
    blocks[CAMERA_INFO].append(
        f'een_camera_info{{{labels},name="{escape(name)}",bridge_id="{escape(bridge_id)}"}} 1\n'
    )
    if isinstance(status, str):  # v3 has no on, streaming or recording flag: those stay absent
        if status:
            online_value, lines = connection_values(status)
            blocks[CAMERA_ONLINE].append(f"een_camera_online{{{labels}}} {online_value}\n")
            blocks[CAMERA_STATUS].append(lines.replace(LABELS, labels))
            blocks[LAST_UPDATE].append(
                f"een_camera_last_update_timestamp_seconds{{{labels}}} {sample_value(updated_at)}\n"
            )
        return
    values = camera_values(decoded_bits(status))
    if values is None:
        return
    online, on, streaming, recording, status_lines = values
    blocks[CAMERA_ONLINE].append(f"een_camera_online{{{labels}}} {online}\n")
    blocks[CAMERA_ON].append(f"een_camera_on{{{labels}}} {on}\n")
    blocks[CAMERA_STREAMING].append(f"een_camera_streaming{{{labels}}} {streaming}\n")
    blocks[CAMERA_RECORDING].append(f"een_camera_recording{{{labels}}} {recording}\n")
    blocks[CAMERA_STATUS].append(status_lines.replace(LABELS, labels))
    blocks[LAST_UPDATE].append(
        f"een_camera_last_update_timestamp_seconds{{{labels}}} {sample_value(updated_at)}\n"
    )


def _bridge_lines(
    blocks: list[list[str]], account: str, esn: str, name: str, status: Status
) -> None:
    labels = f'{account},bridge_id="{escape(esn)}"'
    blocks[BRIDGE_INFO].append(f'een_bridge_info{{{labels},name="{escape(name)}"}} 1\n')
    if isinstance(status, str):
        online: bool | None = status == CONNECTED if status else None
    else:
        online = decode_bridge(status)
    if online is not None:
        blocks[BRIDGE_ONLINE].append(f"een_bridge_online{{{labels}}} {int(online)}\n")


# The event families: each line is a device's labels and one number, in the flat lists of its
# kind's EventTable (state.counters). A slice of devices' lines of a family is laid out once,
# when the devices change, and then rendered from the table's list in one go.

CAMERA, BRIDGE = DeviceKind.CAMERA, DeviceKind.BRIDGE
# An event family's position in EVENT_BLOCKS.
EVENT_POSITION = {index: position for position, index in enumerate(EVENT_BLOCKS)}
EVENT_KIND = tuple(
    BRIDGE if FAMILIES[index].name.startswith("een_bridge_") else CAMERA for index in EVENT_BLOCKS
)
# The event families of each kind (their indices in FAMILIES).
KIND_FAMILIES = {
    kind: tuple(index for index, of in zip(EVENT_BLOCKS, EVENT_KIND, strict=True) if of is kind)
    for kind in (CAMERA, BRIDGE)
}


class Value(enum.Enum):
    """How a family's number is taken from the EventTable and written."""

    COUNT = "counts"  # counts[row * codes + code], an integer
    EXPECTED = "expected"  # expected[row], an integer
    RECEIVED = "received"  # received[row], an integer
    LAST_MS = "last_ms"  # last_ms[row * codes + code], Unix ms written as seconds
    DISCONNECT = "disconnect"  # disconnect[row], a float; no line while None


INTEGERS = frozenset({Value.COUNT, Value.EXPECTED, Value.RECEIVED})
PER_CODE = frozenset({Value.COUNT, Value.LAST_MS})
# The EventTable list each event family's numbers come from.
FAMILY_LIST = {
    CAMERA_EVENTS: Value.COUNT.value,
    LAST_EVENT: Value.LAST_MS.value,
    PACKETS_EXPECTED: Value.EXPECTED.value,
    PACKETS_RECEIVED: Value.RECEIVED.value,
    **dict.fromkeys(BRIDGE_EVENTS.values(), Value.COUNT.value),
    DISCONNECT_DURATION: Value.DISCONNECT.value,
}


def device_series(
    account: str, esn: str, kind: DeviceKind, selection: EventSelection
) -> Iterator[tuple[int, str, Value, int]]:
    """(family index, line up to its number, where the number is, the code's index there) of
    each event series the device may have. Which it has is the store's to say: the series
    whose list its EventTable keeps (EventTable.rendered).

    `account` is the account's label text (account_id="...").
    """
    if kind is CAMERA:
        labels = f'{account},camera_id="{escape(esn)}"'
        for i, code in _shown(selection):  # each family keeps the codes' order
            per_code = f'{labels},event="{code}"'
            yield CAMERA_EVENTS, f"een_camera_events_total{{{per_code}}} ", Value.COUNT, i
            yield (
                LAST_EVENT,
                f"een_camera_last_event_timestamp_seconds{{{per_code}}} ",
                Value.LAST_MS,
                i,
            )
        yield (
            PACKETS_EXPECTED,
            f"een_camera_stream_packets_expected_total{{{labels}}} ",
            Value.EXPECTED,
            0,
        )
        yield (
            PACKETS_RECEIVED,
            f"een_camera_stream_packets_received_total{{{labels}}} ",
            Value.RECEIVED,
            0,
        )
        return
    labels = f'{account},bridge_id="{escape(esn)}"'
    for i, code in enumerate(selection.bridge):
        index = BRIDGE_EVENTS[code]
        yield index, f"{FAMILIES[index].name}{{{labels}}} ", Value.COUNT, i
    yield (
        DISCONNECT_DURATION,
        f"een_bridge_last_cloud_disconnect_duration_seconds{{{labels}}} ",
        Value.DISCONNECT,
        0,
    )


@lru_cache(maxsize=4)
def _shown(selection: EventSelection) -> tuple[tuple[int, str], ...]:
    return selection.shown()


def line_text(value: Value, line: bytes) -> bytes:
    """A line as a SliceLayout holds it: integers' as their part of the `%` template, the
    others' up to the number.

    >>> line_text(Value.COUNT, b'a{x="5%"} '), line_text(Value.LAST_MS, b'a{x="5%"} ')
    (b'a{x="5%%"} %d\\n', b'a{x="5%"} ')
    """
    return line.replace(b"%", b"%%") + b"%d\n" if value in INTEGERS else line


@dataclass(frozen=True, slots=True)
class SliceLayout:
    """One family's lines for one slice of an EventTable's devices, laid out once.

    The slice's numbers are a window of the EventTable list `value` names: `stride` numbers per
    row (the kind's codes, or 1) for `rows` rows. The lines' numbers are evenly spaced in it
    unless the slice has holes (a device's one number, or its count of one code): `first`,
    `stop` and `step` then slice them straight from the list; otherwise `pick` takes them from
    the window, in the lines' order. Integers render with one `%` of `template` (each line's
    labels, with "%d" for its number): formatting a slice of 64 lines is one call, not 64. The
    other numbers (timestamps, durations) go line by line.

    >>> layout = SliceLayout.of(Value.COUNT, [(b'a{x="5%"} ', 1), (b'a{x="6"} ', 3)], 2, 2)
    >>> layout.render([0, 0, 7, 9, 8, 1], start=1)
    b'a{x="5%"} 9\\na{x="6"} 1\\n'
    """

    value: Value
    stride: int
    rows: int
    template: bytes  # integers: every line, "%d" for its number, "%" doubled elsewhere
    prefixes: tuple[bytes, ...]  # the others: each line up to its number
    first: int  # evenly spaced: the numbers' slice of the window; step 0: use pick
    stop: int
    step: int
    pick: Callable[[list[Any]], tuple[Any, ...]]
    indices: tuple[int, ...]  # not evenly spaced: the numbers' indices in the window

    @classmethod
    def of(
        cls, value: Value, lines: Sequence[tuple[bytes, int]], stride: int, rows: int
    ) -> SliceLayout:
        """The layout of these lines: (line up to its number, the number's index in the
        window)."""
        texts = [(line_text(value, line), at) for line, at in lines]
        return cls.of_texts(value, texts, stride, rows)

    @classmethod
    def of_texts(
        cls, value: Value, texts: Sequence[tuple[bytes, int]], stride: int, rows: int
    ) -> SliceLayout:
        """The layout of lines as texts() gives them (see line_text)."""
        indices = [index for _, index in texts]
        first, stop, step = _evenly_spaced(indices)
        # Not evenly spaced: at least two indices, so itemgetter gives a tuple.
        pick = operator.itemgetter(*indices) if not step else tuple
        spread = () if step else tuple(indices)
        if value in INTEGERS:
            template = b"".join(text for text, _ in texts)
            return cls(value, stride, rows, template, (), first, stop, step, pick, spread)
        prefixes = tuple(text for text, _ in texts)
        return cls(value, stride, rows, b"", prefixes, first, stop, step, pick, spread)

    def texts(self) -> list[tuple[bytes, int]]:
        """Its lines, for of_texts(): (line_text, the number's index in the window).

        >>> layout = SliceLayout.of(Value.COUNT, [(b'a{x="5%"} ', 1), (b'a{x="6"} ', 3)], 2, 2)
        >>> layout.texts()
        [(b'a{x="5%%"} %d\\n', 1), (b'a{x="6"} %d\\n', 3)]
        >>> SliceLayout.of_texts(Value.COUNT, layout.texts(), 2, 2) == layout
        True
        """
        indices = range(self.first, self.stop, self.step) if self.step else self.indices
        if not self.template:
            return list(zip(self.prefixes, indices, strict=True))
        # A line per newline: a label value has none of its own (escape writes it as \\n).
        lines = [line + b"\n" for line in self.template.split(b"\n")[:-1]]
        return list(zip(lines, indices, strict=True))

    def render(self, numbers: list[Any], start: int) -> bytes:
        """The slice's lines, its first device at row `start` of `numbers`."""
        base = start * self.stride
        if self.step:
            picked = tuple(numbers[base + self.first : base + self.stop : self.step])
        else:
            picked = self.pick(numbers[base : base + self.rows * self.stride])
        if self.template:
            lines: bytes = self.template % picked
            return lines
        if self.value is Value.LAST_MS:
            return b"".join(
                b"%s%d.%03d\n" % (prefix, *divmod(ms, 1000))
                for prefix, ms in zip(self.prefixes, picked, strict=True)
            )
        return b"".join(
            prefix + sample_value(seconds).encode() + b"\n"
            for prefix, seconds in zip(self.prefixes, picked, strict=True)
            if seconds is not None
        )


def _evenly_spaced(indices: Sequence[int]) -> tuple[int, int, int]:
    """(first, stop, step) of the slice giving exactly `indices`; step 0 when none does.

    >>> _evenly_spaced([1, 3, 5]), _evenly_spaced([4]), _evenly_spaced([4, 1])
    ((1, 6, 2), (4, 5, 1), (0, 0, 0))
    """
    first, count = indices[0], len(indices)
    step = indices[1] - first if count > 1 else 1
    if step > 0 and list(indices) == list(range(first, first + step * count, step)):
        return first, first + step * (count - 1) + 1, step
    return 0, 0, 0


_at = operator.itemgetter(1)  # a line's number's index: the order of a slice's lines


def lay_out_slice(
    devices: Sequence[Device | None],
    kind: DeviceKind,
    selection: EventSelection,
    rendered: Collection[str],
    before: tuple[Sequence[Device | None], dict[int, SliceLayout | None]] | None = None,
) -> dict[int, SliceLayout]:
    """The layout of each event family (by index) the slice's devices have lines of (a
    device per position of the slice; None: a hole, no lines).

    `before`: the slice's devices and layouts as last laid out. A device still at its position
    keeps its lines from there; only the others are laid out (their labels escaped): a slice
    whose devices move away, or that devices join at its end, costs its new devices.
    """
    if not rendered:  # no event series at all (EEN_EVENTS=none, API v3)
        return {}
    codes = len(selection.for_kind(kind))
    lines: dict[int, list[tuple[bytes, int]]] = {}
    values: dict[int, Value] = {}
    kept: set[int] = set()
    if before is not None:
        old, layouts = before
        kept = {row for row, device in enumerate(old[: len(devices)]) if device == devices[row]}
        for index, layout in layouts.items():
            if layout is not None:
                stride = layout.stride
                lines[index] = [line for line in layout.texts() if line[1] // stride in kept]
                values[index] = layout.value
    accounts: dict[str, str] = {}
    for row, device in enumerate(devices):
        if device is None or row in kept:
            continue
        account_id, esn = device
        account = accounts.get(account_id)
        if account is None:
            account = accounts[account_id] = f'account_id="{escape(account_id)}"'
        for index, prefix, value, code in device_series(account, esn, kind, selection):
            if value.value not in rendered:  # the store keeps no list
                continue
            at = row * codes + code if value in PER_CODE else row
            lines.setdefault(index, []).append((line_text(value, utf8(prefix)), at))
            values[index] = value
    rows = len(devices)
    return {
        index: SliceLayout.of_texts(
            value, sorted(lines[index], key=_at), codes if value in PER_CODE else 1, rows
        )
        for index, value in values.items()
        if lines[index]
    }


@dataclass(slots=True)
class _EventFamilies:
    """The event families of one kind of device: per family, a block per slice of the kind's
    EventTable, in the body's order, rendered from its list when a counter of the slice
    changed, each with the stamp of the refresh that last changed its bytes (for
    gzipstream.Chunks). An event renders again its slice's lines only."""

    families: tuple[int, ...]  # their indices in FAMILIES
    epoch: int = -1  # the EventTable's epoch and stamp rendered
    stamp: int = -1
    devices: list[tuple[Device | None, ...]] = field(default_factory=list)  # per slice: laid out
    layouts: dict[int, list[SliceLayout | None]] = field(default_factory=dict)  # per family
    blocks: dict[int, list[bytes]] = field(default_factory=dict)  # per family: per slice
    stamps: dict[int, list[int]] = field(default_factory=dict)

    def update(
        self, copy: EventsCopy, kind: DeviceKind, selection: EventSelection, stamp: int
    ) -> tuple[set[int], bool]:
        """Take what changed: the families whose bytes changed, and whether the slices were
        renumbered (not only added at the end)."""
        renumbered = copy.epoch != self.epoch
        self._resize(-(-copy.size // SLICE), renumbered, stamp)
        self.epoch, self.stamp = copy.epoch, copy.stamp
        for number, devices in copy.laid_out.items():
            before = None
            if not renumbered:
                previous = {index: self.layouts[index][number] for index in self.families}
                before = self.devices[number], previous
            laid = lay_out_slice(devices, kind, selection, copy.lists.keys(), before)
            self.devices[number] = devices
            for index in self.families:
                self.layouts[index][number] = laid.get(index)
        dirty = set(self.families) if renumbered else set()
        for index in self.families:
            numbers = copy.lists.get(FAMILY_LIST[index])
            if numbers is None:  # the store keeps no list: no lines
                continue
            layouts, blocks, stamps = self.layouts[index], self.blocks[index], self.stamps[index]
            for number in copy.changed:
                layout = layouts[number]
                block = layout.render(numbers, number * SLICE) if layout else b""
                if block != blocks[number]:  # unchanged bytes keep their compressed chunk
                    blocks[number] = block
                    stamps[number] = stamp
                    dirty.add(index)
        return dirty, renumbered

    def _resize(self, slices: int, anew: bool, stamp: int) -> None:
        """Room for `slices` slices: new ones added at the end (all of them `anew`)."""
        if anew:
            self.devices = []
        self.devices.extend([()] * (slices - len(self.devices)))
        for index in self.families:
            if anew:
                self.layouts[index], self.blocks[index], self.stamps[index] = [], [], []
            added = slices - len(self.blocks[index])
            self.layouts[index].extend([None] * added)
            self.blocks[index].extend([b""] * added)
            self.stamps[index].extend([stamp] * added)


@dataclass(slots=True)
class _Devices:
    """One account's device blocks (one per device family), each with the stamp of the refresh
    that last changed its bytes (for gzipstream.Chunks)."""

    version: int  # the store's devices version they were rendered from
    blocks: list[bytes]  # per family in FAMILIES (only the device families' used)
    stamps: list[int]

    def update(
        self, account_id: str, version: int, devices: tuple[DeviceRow, ...], stamp: int
    ) -> set[int]:
        """Render the devices again; the families whose bytes changed."""
        dirty = set()
        blocks = render_devices(account_id, devices)
        for index, block in zip(DEVICE_BLOCKS, blocks, strict=True):
            if block != self.blocks[index]:  # unchanged bytes keep their compressed chunk
                self.blocks[index] = block
                self.stamps[index] = stamp
                dirty.add(index)
        self.version = version
        return dirty


# A part of the identity answer at most this long is joined with its small neighbours: each
# part costs the HTTP server some Python (about a microsecond), and the bridge event families
# are a block of two lines per account. Larger blocks are written as they are, not copied.
SMALL_PART = 1024


def coalesce(blocks: list[bytes]) -> list[bytes]:
    """The blocks as parts to write, empty ones dropped and runs of small ones joined.

    >>> [len(part) for part in coalesce([b"a", b"", b"b", b"x" * 2000, b"c"])]
    [2, 2000, 1]
    """
    parts: list[bytes] = []
    run: list[bytes] = []
    for block in blocks:
        if len(block) > SMALL_PART:
            if run:
                parts.append(b"".join(run))
                run = []
            parts.append(block)
        elif block:
            run.append(block)
    if run:
        parts.append(b"".join(run))
    return parts


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the block (a render: under Exposition's lock,
    so one at a time; nothing else in the exporter switches it).

    A render allocates thousands of short-lived containers (account views, copies of the
    counters). A collection during it would promote them to the older generations, and every
    few dozen scrapes those promotions set off a full collection of the exporter's long-lived
    objects (250,000 at 1,000 x 50): 100-200 ms, inside the scrape that tripped it. With the
    collector off they are freed by reference counting before any collection sees them.
    Nothing a render makes holds a reference cycle.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@dataclass(frozen=True, slots=True)
class _Deflated:
    """One family's text as gzip pieces, joined (its chunks: hundreds of parts that each cost
    the HTTP server's send loop some Python), with its CRC-32 and length."""

    pieces: bytes
    crc: int
    size: int


class Exposition:
    """The /metrics body: cached store-derived part plus the (small) self-metrics registry.

    The body is cached per family, as text and as gzip pieces: a scrape joins again only the
    families whose bytes changed, and compresses again only the chunks of their changed blocks
    (gzipstream.Chunks; the CRC of the whole is combined from the chunks').
    """

    def __init__(self, store: StateStore, self_metrics: Callable[[], bytes]) -> None:
        self._store = store
        self._self_metrics = self_metrics
        self._lock = threading.Lock()  # one render at a time; concurrent scrapes share the cache
        # Renders run on one thread, whichever HTTP worker asks, and their large buffers (slice
        # texts, chunks, pieces: above pymalloc's 512 bytes, so malloc's) come from one malloc
        # arena. Run by the four workers, each worker's arena kept a render's worth of freed
        # memory: 1,000 x 50 with the default events peaked 40 MB higher.
        self._renderer = ThreadPoolExecutor(1, thread_name_prefix="een-render")
        # What the body was rendered from: the accounts (their names and stream health in
        # columns, a tuple per HEALTH_FAMILIES number), their devices, the event tables.
        self._accounts = AccountsCopy([], [], [], {})
        self._columns: list[tuple[Any, ...]] = [()] * len(HEALTH_FAMILIES)
        self._devices: dict[str, _Devices] = {}
        self._events = {kind: _EventFamilies(KIND_FAMILIES[kind]) for kind in KIND_FAMILIES}
        self._health_templates: dict[int, bytes] = {}  # health_template, for the accounts
        # Per family: its header and every block, in order (references to the blocks, not a
        # joined copy: the body's text is held once, in the blocks).
        self._parts: list[list[bytes] | None] = [None] * len(FAMILIES)
        self._deflated: list[_Deflated | None] = [None] * len(FAMILIES)
        self._pieces = gzipstream.Pieces()
        # Per device and event family: its blocks' chunks; the layout they were drawn for,
        # changed whenever which blocks the family has changes; the stamp of each refresh.
        self._chunks = [gzipstream.Chunks(self._pieces) for _ in FAMILIES]
        self._layouts = [0] * len(FAMILIES)
        self._stamp = 0
        self._version = -1  # the store's version last copied
        # The gzip header and families' pieces, their CRC and length: kept while nothing changes.
        self._gzip_main: tuple[list[bytes], int, int] | None = None

    def render(self, gzip: bool) -> list[bytes]:
        """The body as parts to write in order (together one gzip stream when `gzip`)."""
        extra = self._self_metrics()
        main: Any  # gzip: (pieces, CRC, length); identity: parts
        with self._lock, collector_paused():
            version = self._store.version()
            cached = self._gzip_main is not None if gzip else None not in self._parts
            main = None
            if not cached or version != self._version:  # else nothing changed: copy nothing
                main = self._copy_and_render(gzip, cached)
                self._version = version
            if main is None:  # nothing to render: the cached answer, from the asking thread
                main = self._gzip_main if gzip else self._main()
        if not gzip:
            return [*main, extra]
        parts, crc, size = main
        crc = gzipstream.crc32(extra, crc)
        tail = gzipstream.last_piece(extra) + gzipstream.trailer(crc, size + len(extra))
        return [*parts, tail]

    def _copy_and_render(self, gzip: bool, cached: bool) -> Any:
        """Copy what changed from the store; render it on the render thread, if anything did
        or nothing is cached (None: neither)."""
        accounts = self._store.accounts(
            {account_id: devices.version for account_id, devices in self._devices.items()}
        )
        events = {
            kind: self._store.event_changes(kind, families.epoch, families.stamp)
            for kind, families in self._events.items()
        }
        changed = self._changed(accounts) or any(events.values())
        if cached and not changed:
            return None
        return self._renderer.submit(self._render, gzip, accounts, events, changed).result()

    def close(self) -> None:
        """Let the render thread end (after a render in progress)."""
        self._renderer.shutdown(wait=False)

    def _changed(self, accounts: AccountsCopy) -> bool:
        """Whether `accounts` differs from what the body was rendered from."""
        before = self._accounts
        return bool(
            accounts.devices
            or accounts.health != before.health
            or accounts.ids != before.ids
            or accounts.names != before.names
        )

    def _render(
        self,
        gzip: bool,
        accounts: AccountsCopy,
        events: dict[DeviceKind, EventsCopy | None],
        changed: bool,
    ) -> Any:
        """On the render thread: take the changes (if `changed`), then _main(), or
        _gzipped_main() when `gzip`."""
        if changed:
            self._refresh(accounts, events)
        return self._gzipped_main() if gzip else self._main()

    def _refresh(self, accounts: AccountsCopy, events: dict[DeviceKind, EventsCopy | None]) -> None:
        self._stamp += 1
        dirty = self._refresh_accounts(accounts)
        for kind, copy in events.items():
            if copy is None:
                continue
            families = self._events[kind]
            # Let each replaced slice go as it is replaced (a scrape being written keeps its
            # own references), not hold the old and the new text of every slice at once.
            for index in families.families:
                self._parts[index] = None
            changed, renumbered = families.update(copy, kind, self._store.events, self._stamp)
            if renumbered:  # which blocks there are changed: new chunks
                for index in families.families:
                    self._layouts[index] += 1
            dirty |= changed
        for index in dirty:
            self._parts[index] = self._deflated[index] = None
        if dirty:
            self._gzip_main = None

    def _refresh_accounts(self, accounts: AccountsCopy) -> set[int]:
        """Take the accounts' changes; the families whose bytes changed."""
        before = self._accounts
        dirty: set[int] = set()
        if accounts.names != before.names:
            dirty.add(ACCOUNT_INFO)
        if accounts.health != before.health:
            columns = list(zip(*accounts.health, strict=True)) or [()] * len(HEALTH_FAMILIES)
            for index, new, old in zip(HEALTH_FAMILIES, columns, self._columns, strict=True):
                if new != old:
                    dirty.add(index)
            self._columns = columns
        for account_id, (version, rows) in accounts.devices.items():
            devices = self._devices.get(account_id)
            if devices is None:
                blank = len(FAMILIES)
                devices = self._devices[account_id] = _Devices(
                    -1, [b""] * blank, [self._stamp] * blank
                )
            dirty |= devices.update(account_id, version, rows, self._stamp)
        if accounts.ids != before.ids:
            for account_id in self._devices.keys() - set(accounts.ids):
                del self._devices[account_id]
            dirty.update(range(len(FAMILIES)))
            self._health_templates.clear()
            self._layouts = [layout + 1 for layout in self._layouts]
        self._accounts = accounts
        return dirty

    def _main(self) -> list[bytes]:
        """The body's text as parts: the families' headers and blocks, none joined (the HTTP
        server writes many parts in one system call)."""
        cached = self._parts
        body: list[bytes] = []
        for index, header in enumerate(HEADERS):
            parts = cached[index]
            if parts is None:
                if FAMILIES[index].source is ACCOUNT:
                    parts = [header, self._account_family(index)]
                else:
                    parts = [header, *coalesce(self._family(index))]
                cached[index] = parts
            body.extend(parts)
        return body

    def _gzipped_main(self) -> tuple[list[bytes], int, int]:
        """The gzip header and every piece but the last, with the CRC-32 and length of their
        text."""
        if self._gzip_main is not None:
            return self._gzip_main
        cached = self._deflated
        parts = [gzipstream.HEADER]
        crc = size = 0
        for index, header in enumerate(HEADERS):
            family = cached[index]
            if family is None:
                family = cached[index] = self._deflate(index, header)
            parts.append(family.pieces)
            crc = gzipstream.crc32_combine(crc, family.crc, family.size)
            size += family.size
        self._gzip_main = parts, crc, size
        return self._gzip_main

    def _family(self, index: int) -> list[bytes]:
        """A device or event family's blocks, in order."""
        if FAMILIES[index].source is EVENTS:
            return self._events[EVENT_KIND[EVENT_POSITION[index]]].blocks[index]
        return [self._devices[account_id].blocks[index] for account_id in self._accounts.ids]

    def _family_stamps(self, index: int) -> list[int]:
        """The stamps of _family(index)."""
        if FAMILIES[index].source is EVENTS:
            return self._events[EVENT_KIND[EVENT_POSITION[index]]].stamps[index]
        return [self._devices[account_id].stamps[index] for account_id in self._accounts.ids]

    def _account_family(self, index: int) -> bytes:
        """An account family's lines, every account's."""
        accounts = self._accounts
        if index == ACCOUNT_INFO:
            return render_account_info(list(zip(accounts.ids, accounts.names, strict=True)))
        template = self._health_templates.get(index)
        if template is None:
            template = self._health_templates[index] = health_template(index, accounts.ids)
        block: bytes = template % self._columns[HEALTH_FAMILIES.index(index)]
        return block

    def _deflate(self, index: int, header: bytes) -> _Deflated:
        if FAMILIES[index].source is ACCOUNT:
            # A line per account, and every account's changes with each message: one piece
            # (of the text an identity scrape already rendered, if one did).
            text = b"".join(self._parts[index] or [header, self._account_family(index)])
            return _Deflated(self._pieces.piece(text), gzipstream.crc32(text), len(text))
        pieces, crc, size = self._chunks[index].deflate(
            self._family(index), self._family_stamps(index), self._layouts[index], self._stamp
        )
        crc = gzipstream.crc32_combine(gzipstream.crc32(header), crc, size)
        pieces.insert(0, DEFLATED_HEADERS[index])
        return _Deflated(b"".join(pieces), crc, size + len(header))
