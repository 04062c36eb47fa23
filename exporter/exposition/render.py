"""Renders the state store as the Prometheus text exposition format (version 0.0.4).

The body is family-major (all samples of a family together), so it is kept as one block per
(family, account): the account's own blocks are re-rendered when its health changes, its
device blocks only when a device changed, its event blocks only when an event was counted
(thumbnails arrive every few seconds; they must not re-render every status line). Each block
is also cached compressed, as a piece of one gzip stream (see gzipstream), so a compressed
scrape is a join of cached pieces and only
blocks whose bytes changed are compressed again.

    # HELP een_camera_online 1 when the camera is registered with the EEN cloud (status bit 20).
    # TYPE een_camera_online gauge
    een_camera_online{account_id="00004206",camera_id="1000f60d"} 1
"""

from __future__ import annotations

import codecs
import enum
import re
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache

from exporter.exposition import gzipstream
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
from exporter.state.store import AccountView, DeviceRow, EventRow, StateStore, Versions

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
ACCOUNT_BLOCKS = _blocks_from(ACCOUNT)
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


def render_account(view: AccountView) -> list[bytes]:
    """The account's own blocks (info and stream health): ACCOUNT_BLOCKS."""
    account = f'account_id="{escape(view.id)}"'
    lines = [""] * len(FAMILIES)
    lines[ACCOUNT_INFO] = f'een_account_info{{{account},name="{escape(view.name)}"}} 1\n'
    lines[STREAM_UP] = f"een_stream_up{{{account}}} {int(view.stream_up)}\n"
    lines[STREAM_CONNECTS] = f"een_stream_connects_total{{{account}}} {view.connects}\n"
    lines[STREAM_DISCONNECTS] = f"een_stream_disconnects_total{{{account}}} {view.disconnects}\n"
    lines[STREAM_MESSAGES] = f"een_stream_messages_total{{{account}}} {view.messages}\n"
    lines[LAST_MESSAGE] = (
        f"een_stream_last_message_timestamp_seconds{{{account}}} "
        f"{sample_value(view.last_message_at)}\n"
    )
    return [utf8(lines[index]) for index in ACCOUNT_BLOCKS]


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


def render_events(
    account_id: str, rows: tuple[EventRow, ...], selection: EventSelection
) -> list[bytes]:
    """The account's event blocks (EVENT_BLOCKS), devices in id order."""
    blocks: list[list[str]] = [[] for _ in FAMILIES]
    account = f'account_id="{escape(account_id)}"'
    stats = STREAM_STATS in selection.camera
    bridge_blocks = [BRIDGE_EVENTS[code] for code in selection.bridge]
    for esn, kind, counts, last_ms, expected, received, disconnect in sorted(rows):
        if kind is DeviceKind.CAMERA:
            labels = f'{account},camera_id="{escape(esn)}"'
            for code, count, at in zip(selection.camera, counts, last_ms, strict=True):
                blocks[CAMERA_EVENTS].append(
                    f'een_camera_events_total{{{labels},event="{code}"}} {count}\n'
                )
                blocks[LAST_EVENT].append(
                    f'een_camera_last_event_timestamp_seconds{{{labels},event="{code}"}} '
                    f"{at // 1000}.{at % 1000:03d}\n"
                )
            if stats:
                blocks[PACKETS_EXPECTED].append(
                    f"een_camera_stream_packets_expected_total{{{labels}}} {expected}\n"
                )
                blocks[PACKETS_RECEIVED].append(
                    f"een_camera_stream_packets_received_total{{{labels}}} {received}\n"
                )
            continue
        labels = f'{account},bridge_id="{escape(esn)}"'
        for index, count in zip(bridge_blocks, counts, strict=True):
            blocks[index].append(f"{FAMILIES[index].name}{{{labels}}} {count}\n")
        if disconnect is not None:
            blocks[DISCONNECT_DURATION].append(
                f"een_bridge_last_cloud_disconnect_duration_seconds{{{labels}}} "
                f"{sample_value(disconnect)}\n"
            )
    return [utf8("".join(blocks[index])) for index in EVENT_BLOCKS]


@dataclass(slots=True)
class _Rendered:
    """One account's blocks, and their gzip pieces (compressed lazily, on a gzip scrape)."""

    versions: Versions
    blocks: list[bytes]
    deflated: list[bytes | None]

    def update(self, view: AccountView, selection: EventSelection) -> None:
        self._set(ACCOUNT_BLOCKS, render_account(view))
        if view.devices is not None:
            self._set(DEVICE_BLOCKS, render_devices(view.id, view.devices))
        if view.events is not None:
            self._set(EVENT_BLOCKS, render_events(view.id, view.events, selection))
        self.versions = view.versions

    def _set(self, indices: tuple[int, ...], blocks: list[bytes]) -> None:
        for index, block in zip(indices, blocks, strict=True):
            if block != self.blocks[index]:  # unchanged bytes keep their compressed piece
                self.blocks[index] = block
                self.deflated[index] = None

    def piece(self, index: int) -> bytes:
        deflated = self.deflated[index]
        if deflated is None:
            deflated = self.deflated[index] = gzipstream.piece(self.blocks[index])
        return deflated


@dataclass(frozen=True, slots=True)
class _GzipMain:
    """The gzip header and every piece but the last, with the CRC-32 and length of their text."""

    body: bytes
    crc: int
    size: int


class Exposition:
    """The /metrics body: cached store-derived part plus the (small) self-metrics registry."""

    def __init__(self, store: StateStore, self_metrics: Callable[[], bytes]) -> None:
        self._store = store
        self._self_metrics = self_metrics
        self._lock = threading.Lock()  # one render at a time; concurrent scrapes share the cache
        self._accounts: dict[str, _Rendered] = {}
        self._order: list[str] = []
        self._body: bytes | None = None
        self._gzip_main: _GzipMain | None = None

    def render(self, gzip: bool) -> list[bytes]:
        """The body as parts to write in order (together one gzip stream when `gzip`)."""
        extra = self._self_metrics()
        with self._lock:
            self._refresh()
            if not gzip:
                return [self._main(), extra]
            main = self._gzipped_main()
        crc = zlib.crc32(extra, main.crc)
        tail = gzipstream.last_piece(extra) + gzipstream.trailer(crc, main.size + len(extra))
        return [main.body, tail]

    def _refresh(self) -> None:
        known = {account_id: r.versions for account_id, r in self._accounts.items()}
        selection = self._store.events
        order, changed = self._store.views(known)
        if not changed and order == self._order:
            return
        for view in changed:
            rendered = self._accounts.get(view.id)
            if rendered is None:
                blank = len(FAMILIES)
                rendered = self._accounts[view.id] = _Rendered(
                    (-1, -1, -1), [b""] * blank, [None] * blank
                )
            rendered.update(view, selection)
        for account_id in self._accounts.keys() - set(order):
            del self._accounts[account_id]
        self._order = order
        self._body = self._gzip_main = None

    def _main(self) -> bytes:
        if self._body is None:
            rendered = [self._accounts[account_id] for account_id in self._order]
            parts: list[bytes] = []
            for index, header in enumerate(HEADERS):
                parts.append(header)
                parts.extend(r.blocks[index] for r in rendered)
            self._body = b"".join(parts)
        return self._body

    def _gzipped_main(self) -> _GzipMain:
        # The CRC is computed over the text again rather than combined from cached per-block
        # CRCs: zlib.crc32 reads a 3 kB block in about 2 µs, a crc32_combine written in
        # Python takes about 80 µs per block (docs/performance.md).
        if self._gzip_main is None:
            rendered = [self._accounts[account_id] for account_id in self._order]
            parts = [gzipstream.HEADER]
            crc = size = 0
            for index, header in enumerate(HEADERS):
                parts.append(DEFLATED_HEADERS[index])
                crc = zlib.crc32(header, crc)
                size += len(header)
                for r in rendered:
                    block = r.blocks[index]
                    parts.append(r.piece(index))
                    crc = zlib.crc32(block, crc)
                    size += len(block)
            self._gzip_main = _GzipMain(b"".join(parts), crc, size)
        return self._gzip_main
