"""Renders the state store as the Prometheus text exposition format (version 0.0.4).

The body is family-major (all samples of a family together), so it is kept as one block per
(family, account), re-rendered only when that account's version changes. Each block is also
cached as its own gzip member: a gzip body may be a series of members (RFC 1952 §2.2), so a
compressed scrape is a join of cached members and only changed accounts are compressed again.

    # HELP een_camera_online 1 when the camera is registered with the EEN cloud (status bit 20).
    # TYPE een_camera_online gauge
    een_camera_online{account_id="00004206",camera_id="1000f60d"} 1
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from exporter.model import DeviceKind
from exporter.status import CameraStatus, decode_bridge, decode_camera
from exporter.store import AccountView, StateStore

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
GZIP_LEVEL = 6


@dataclass(frozen=True)
class Family:
    name: str
    type: str
    help: str

    def header(self) -> bytes:
        return f"# HELP {self.name} {self.help}\n# TYPE {self.name} {self.type}\n".encode()


FAMILIES = (
    Family("een_account_info", "gauge", "Always 1; the name label is the account's name."),
    Family(
        "een_stream_up", "gauge", "1 while the account's poll stream is connected and subscribed."
    ),
    Family("een_stream_connects_total", "counter", "Poll-stream connections made."),
    Family("een_stream_disconnects_total", "counter", "Poll-stream connections lost."),
    Family("een_stream_messages_total", "counter", "Poll-stream messages received."),
    Family(
        "een_stream_last_message_timestamp_seconds",
        "gauge",
        "When the account's poll stream last delivered a message (0 = never).",
    ),
    Family("een_camera_info", "gauge", "Always 1; labels carry the camera's name and bridge."),
    Family(
        "een_camera_online",
        "gauge",
        "1 when the camera is registered with the EEN cloud (status bit 20).",
    ),
    Family("een_camera_on", "gauge", "1 when the camera is switched on (status bit 17)."),
    Family(
        "een_camera_streaming",
        "gauge",
        "1 when the camera is streaming to its bridge (status bit 18).",
    ),
    Family("een_camera_recording", "gauge", "1 when the camera is recording (status bit 19)."),
    Family(
        "een_camera_status",
        "gauge",
        "1 for the camera's overall status as EEN shows it, 0 for the others.",
    ),
    Family(
        "een_camera_last_update_timestamp_seconds",
        "gauge",
        "When the camera's current status was first received, i.e. when it last changed.",
    ),
    Family("een_bridge_info", "gauge", "Always 1; the name label is the bridge's name."),
    Family(
        "een_bridge_online",
        "gauge",
        "1 when the bridge is registered with the EEN cloud (status bit 20).",
    ),
)
HEADERS = tuple(family.header() for family in FAMILIES)
GZIP_HEADERS = tuple(zlib.compress(header, GZIP_LEVEL, wbits=31) for header in HEADERS)
STATUSES = tuple(CameraStatus)


def escape(value: str) -> str:
    """Escape a label value for the text format."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@cache
def camera_values(bitmask: int) -> tuple[str, str, str, str, tuple[str, ...]] | None:
    """(online, on, streaming, recording, one-hot status values) for a bitmask, memoised."""
    state = decode_camera(bitmask)
    if state is None:
        return None
    flags = (state.online, state.on, state.streaming, state.recording)
    online, on, streaming, recording = ("1" if flag else "0" for flag in flags)
    return (
        online,
        on,
        streaming,
        recording,
        tuple("1" if s is state.status else "0" for s in STATUSES),
    )


def render_account(view: AccountView) -> list[bytes]:
    """One block of samples per family, in FAMILIES order."""
    blocks: list[list[str]] = [[] for _ in FAMILIES]
    account = f'account_id="{escape(view.id)}"'
    blocks[0].append(f'een_account_info{{{account},name="{escape(view.name)}"}} 1\n')
    blocks[1].append(f"een_stream_up{{{account}}} {int(view.stream_up)}\n")
    blocks[2].append(f"een_stream_connects_total{{{account}}} {view.connects}\n")
    blocks[3].append(f"een_stream_disconnects_total{{{account}}} {view.disconnects}\n")
    blocks[4].append(f"een_stream_messages_total{{{account}}} {view.messages}\n")
    blocks[5].append(
        f"een_stream_last_message_timestamp_seconds{{{account}}} {view.last_message_at:.3f}\n"
    )
    for esn, kind, name, bridge_id, status, updated_at in sorted(view.devices):
        if kind is DeviceKind.CAMERA:
            _camera_lines(blocks, account, esn, name, bridge_id, status, updated_at)
        else:
            _bridge_lines(blocks, account, esn, name, status)
    return ["".join(lines).encode() for lines in blocks]


def _camera_lines(
    blocks: list[list[str]],
    account: str,
    esn: str,
    name: str,
    bridge_id: str,
    status: int,
    updated_at: float,
) -> None:
    labels = f'{account},camera_id="{escape(esn)}"'
    blocks[6].append(
        f'een_camera_info{{{labels},name="{escape(name)}",bridge_id="{escape(bridge_id)}"}} 1\n'
    )
    values = camera_values(status)
    if values is None:
        return
    online, on, streaming, recording, one_hot = values
    blocks[7].append(f"een_camera_online{{{labels}}} {online}\n")
    blocks[8].append(f"een_camera_on{{{labels}}} {on}\n")
    blocks[9].append(f"een_camera_streaming{{{labels}}} {streaming}\n")
    blocks[10].append(f"een_camera_recording{{{labels}}} {recording}\n")
    blocks[11].extend(
        f'een_camera_status{{{labels},status="{s.value}"}} {v}\n'
        for s, v in zip(STATUSES, one_hot, strict=True)
    )
    blocks[12].append(f"een_camera_last_update_timestamp_seconds{{{labels}}} {updated_at:.3f}\n")


def _bridge_lines(blocks: list[list[str]], account: str, esn: str, name: str, status: int) -> None:
    labels = f'{account},bridge_id="{escape(esn)}"'
    blocks[13].append(f'een_bridge_info{{{labels},name="{escape(name)}"}} 1\n')
    online = decode_bridge(status)
    if online is not None:
        blocks[14].append(f"een_bridge_online{{{labels}}} {int(online)}\n")


@dataclass(slots=True)
class _Rendered:
    version: int
    blocks: list[bytes]
    gzipped: list[bytes] | None = None  # compressed lazily, on the first gzip scrape


class Exposition:
    """The /metrics body: cached store-derived part plus the (small) self-metrics registry."""

    def __init__(self, store: StateStore, self_metrics: Callable[[], bytes]) -> None:
        self._store = store
        self._self_metrics = self_metrics
        self._lock = threading.Lock()  # one render at a time; concurrent scrapes share the cache
        self._accounts: dict[str, _Rendered] = {}
        self._order: list[str] = []
        self._body: bytes | None = None
        self._gzip_body: bytes | None = None

    def render(self, gzip: bool) -> list[bytes]:
        """The body as parts to write in order (gzip members when `gzip`)."""
        extra = self._self_metrics()
        with self._lock:
            self._refresh()
            main = self._gzipped_main() if gzip else self._main()
        if gzip:
            return [main, zlib.compress(extra, GZIP_LEVEL, wbits=31)]
        return [main, extra]

    def _refresh(self) -> None:
        known = {account_id: r.version for account_id, r in self._accounts.items()}
        order, changed = self._store.views(known)
        if not changed and order == self._order:
            return
        for view in changed:
            self._accounts[view.id] = _Rendered(view.version, render_account(view))
        for account_id in self._accounts.keys() - set(order):
            del self._accounts[account_id]
        self._order = order
        self._body = self._gzip_body = None

    def _main(self) -> bytes:
        if self._body is None:
            rendered = [self._accounts[account_id] for account_id in self._order]
            parts: list[bytes] = []
            for index, header in enumerate(HEADERS):
                parts.append(header)
                parts.extend(r.blocks[index] for r in rendered)
            self._body = b"".join(parts)
        return self._body

    def _gzipped_main(self) -> bytes:
        if self._gzip_body is None:
            rendered = [self._accounts[account_id] for account_id in self._order]
            for r in rendered:
                if r.gzipped is None:
                    r.gzipped = [
                        zlib.compress(block, GZIP_LEVEL, wbits=31) if block else b""
                        for block in r.blocks
                    ]
            parts: list[bytes] = []
            for index, header in enumerate(GZIP_HEADERS):
                parts.append(header)
                parts.extend(r.gzipped[index] for r in rendered if r.gzipped)
            self._gzip_body = b"".join(parts)
        return self._gzip_body
