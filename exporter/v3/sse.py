"""Reading an event subscription's server-sent events (docs/een-api-v3.md §5.4), and the
status changes in them (§5.1).

requests opens the stream (TLS, the pool, the handshake's status and headers); the body is then
read here, straight off the socket in chunks, by the streams' shared liveness rule
(exporter.transport.liveness): the unit is an event or a comment (EEN's keep-alive), bytes that
complete none for the stream timeout are a stall, and an event larger than MAX_EVENT_BYTES is
a protocol error that ends the attempt, never buffered past that. requests' own line reader
would buffer an endless line whole, and counts any byte as a sign of life.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests

from exporter.transport import rest
from exporter.transport.deadlines import WATCHDOG
from exporter.transport.liveness import (
    RECV_SIZE,
    ConnectionClosed,
    ProtocolError,
    ReadError,
    Stalled,
    UnitReader,
)
from exporter.v3.api import ApiError

__all__ = [
    "ConnectionClosed",
    "EndOfStream",
    "EventReader",
    "ProtocolError",
    "ReadError",
    "Stalled",
    "StatusChange",
    "events",
    "open_stream",
    "status_change",
]

STATUS_EVENT = "een.deviceCloudStatusUpdateEvent.v1"
STATUS_DATA = "een.deviceCloudStatusUpdate.v1"
# An event, or the bytes between two whole units: a status event is about 500 bytes.
MAX_EVENT_BYTES = 1024 * 1024
# For the stream's opening: connecting, TLS, and the status line and headers.
OPEN_DEADLINE = 30.0
MAX_CHUNK_LINE = 1024  # a chunk's size line, extensions included
LINE_END = re.compile(rb"\r\n|\r|\n")
_NOTHING: Any = object()  # no whole unit in the buffer yet


class EndOfStream(Exception):
    """The server ended the stream cleanly (the last chunk, or the end of its length)."""


@dataclass(frozen=True)
class StatusChange:
    actor_type: str  # "camera" or "bridge"
    actor_id: str
    status: str  # connectionStatus (§4.3)
    start: str  # the span's startTimestamp


def status_change(event: dict[str, Any]) -> StatusChange | None:
    """The device's current status, from the event that opens a span; None for anything else.

    An event whose span already ended (`endTimestamp` set) describes the past: EEN sends a
    span's end as well as its start (AS6), and only the open span is the current status.
    """
    if event.get("type") != STATUS_EVENT or event.get("endTimestamp") is not None:
        return None
    for data in event.get("data") or []:
        if isinstance(data, dict) and data.get("type") == STATUS_DATA:
            status = (data.get("newStatus") or {}).get("connectionStatus")
            actor_type, actor_id = event.get("actorType"), event.get("actorId")
            if isinstance(status, str) and isinstance(actor_id, str) and status:
                return StatusChange(
                    str(actor_type), actor_id, status, str(event.get("startTimestamp", ""))
                )
    return None


def open_stream(
    url: str,
    token: str,
    stall_timeout: float,
    session: requests.Session | None = None,
    poll: float | None = None,
) -> EventReader:
    """GET the sseUrl (Bearer, text/event-stream); ApiError unless it answers 200.

    The reader's `read` raises TimeoutError after `poll` seconds without a byte (default: the
    stall timeout), so that its caller can run timers on a silent stream.
    """
    http = session or rest.session()
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "text/event-stream",
        "Accept-Encoding": "identity",  # read off the socket: nothing to decompress
    }
    # The opening runs inside the login gate: a server that trickles its head must not hold a
    # slot for ever (OPEN_DEADLINE, by the watchdog), and a redirect is not followed with the
    # token (the refusal names the target's host only).
    with WATCHDOG.limit(OPEN_DEADLINE) as call:
        try:
            response = http.get(
                url,
                headers=headers,
                stream=True,
                timeout=(rest.RestLimits.connect_timeout, stall_timeout),
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            if call.cut:
                raise ApiError(0, f"SSE head not complete after {OPEN_DEADLINE:g}s") from None
            raise ApiError(0, f"SSE connect failed: {type(exc).__name__}") from None
    if response.status_code != 200:
        response.close()
        if response.is_redirect:
            target = rest.host(response.headers.get("Location", ""))
            message = f"the SSE URL answered {response.status_code}: redirect to {target} refused"
            raise ApiError(response.status_code, message)
        raise ApiError(response.status_code, f"the SSE URL answered {response.status_code}")
    try:
        return EventReader.of(response, stall_timeout, stall_timeout if poll is None else poll)
    except BaseException:
        response.close()
        raise


class EventReader(UnitReader):
    """The events of an SSE response, read off its socket: `read` returns the next event's
    JSON object, or None for a comment (a keep-alive) or an event without one.

    Raises TimeoutError when no byte arrived for the socket's timeout (the caller `check`s
    liveness then, and may call `read` again: nothing is lost), Stalled when bytes arrive but
    complete no event or comment for the stall timeout, ProtocolError for an event (or bytes
    between two units) over MAX_EVENT_BYTES or broken chunked framing, ConnectionClosed when
    the connection ends or breaks mid-stream, and EndOfStream at a clean end.
    """

    def __init__(
        self,
        sock: socket.socket,
        stall_timeout: float = math.inf,
        *,
        chunked: bool = False,
        length: int | None = None,
        buffered: bytes = b"",
        response: requests.Response | None = None,
    ) -> None:
        super().__init__(
            sock,
            stall_timeout,
            unit="event",
            max_unit=MAX_EVENT_BYTES,
            recv_size=RECV_SIZE,
            buffered=buffered,
        )
        self.response = response
        self._chunked = chunked
        # Body bytes left: of the Content-Length, or of the current chunk (-1: its size line
        # next, -2: the CRLF after its data); None: until the server closes.
        self._left: int | None = -1 if chunked else length
        self._ended = length == 0
        self._body = bytearray()  # body bytes not parsed into lines yet
        self._scan = 0  # where the next line end is looked for in _body
        self._after_cr = False  # the last line ended with CR: a LF next belongs to it
        self._data: list[bytes] = []  # the current event's data lines
        self._fields = False  # whether the current event has a field yet
        self._pending = 0  # bytes consumed since the last event (or comment outside one)

    @classmethod
    def of(cls, response: requests.Response, stall_timeout: float, poll: float) -> EventReader:
        """The reader of a streamed requests response whose head has been read."""
        if response.headers.get("Content-Encoding", "identity").lower() not in ("", "identity"):
            raise ProtocolError("SSE answer compressed though identity was asked for")
        http_response = response.raw._fp  # http.client's, which read the head
        buffered_file = getattr(http_response, "fp", None)
        if http_response is None or buffered_file is None:  # closed by http.client: no body
            raise ConnectionClosed("the SSE answer has no body")
        sock = buffered_file.raw._sock
        # The head was read through a buffered file, which may hold the body's first bytes.
        buffered = b""
        try:
            sock.settimeout(0.0)  # what it holds, without waiting (TLS: SSLWantReadError if none)
            with contextlib.suppress(OSError):  # nothing held; a real error shows on the next recv
                buffered = buffered_file.read1(1 << 20) or b""
            sock.settimeout(poll)
        except OSError as exc:  # the socket is gone already
            raise ConnectionClosed(
                f"connection lost: {exc.strerror or type(exc).__name__}"
            ) from None
        return cls(
            sock,
            stall_timeout,
            chunked=bool(http_response.chunked),
            length=http_response.length,
            buffered=buffered,
            response=response,
        )

    def close(self) -> None:
        if self.response is not None:
            self.response.close()

    def interrupt(self) -> None:
        """Wake a thread blocked in `read` (from another thread): shut the socket down."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)

    def read(self) -> dict[str, Any] | None:
        while True:
            item = self._next_unit()
            if item is not _NOTHING:
                return item  # type: ignore[no-any-return]
            if self._ended:
                raise EndOfStream
            if self._pending + len(self._body) > MAX_EVENT_BYTES:
                self.limit(self._pending + len(self._body))
            if not self._decode():
                self._receive()

    def _receive(self) -> None:
        try:
            self._fill()
        except ConnectionClosed:
            if self._left is not None:
                raise ConnectionClosed("connection closed mid-stream") from None
            self._ended = True  # a body that ends with the connection
        except TimeoutError:
            raise
        except OSError as exc:
            raise ConnectionClosed(
                f"connection lost: {exc.strerror or type(exc).__name__}"
            ) from None

    # --- the transfer framing (RFC 9112 §6, §7.1) ---------------------------------------------

    def _decode(self) -> bool:
        """Move what the socket's bytes hold of the body into _body; whether anything moved
        or the body ended."""
        raw, progress = self._buffer, False
        while raw and not self._ended:
            left = self._left
            if left is None or left > 0:
                size = len(raw) if left is None else min(left, len(raw))
                self._body += raw[:size]
                del raw[:size]
                if left is not None:
                    self._left = left - size
                    if self._left == 0:
                        self._left = -2 if self._chunked else 0
                        self._ended = not self._chunked
                progress = True
            elif left == -2:  # the CRLF after a chunk's data
                if raw[:2] == b"\r\n":
                    del raw[:2]
                elif raw[:1] == b"\n":
                    del raw[:1]
                elif raw[:1] == b"\r" and len(raw) == 1:
                    return progress
                else:
                    raise ProtocolError("chunk data not followed by CRLF")
                self._left = -1
            else:  # a chunk's size line
                end = raw.find(b"\n", 0, MAX_CHUNK_LINE + 1)
                if end < 0:
                    if len(raw) > MAX_CHUNK_LINE:
                        raise ProtocolError(f"chunk size line of more than {MAX_CHUNK_LINE} bytes")
                    return progress
                size_text = bytes(raw[:end]).split(b";", 1)[0].strip()
                del raw[: end + 1]
                if (
                    not size_text
                    or len(size_text) > 16
                    or size_text.strip(b"0123456789abcdefABCDEF")
                ):
                    raise ProtocolError("chunk size is not a hexadecimal number")
                self._left = int(size_text, 16)
                if self._left == 0:  # the last chunk: trailers do not matter
                    self._ended = progress = True
        return progress

    # --- the event stream (HTML Living Standard, server-sent events §9.2.6) -------------------

    def _next_unit(self) -> Any:
        """The next event's object or None (a comment, an event without one); _NOTHING when
        the body holds no whole unit."""
        body = self._body
        while True:
            if self._after_cr and body:
                self._after_cr = False
                if body[0] == 0x0A:
                    del body[:1]
                    self._pending += 1
            match = LINE_END.search(body, self._scan)
            if match is None:
                self._scan = len(body)
                return _NOTHING
            start, end = match.span()
            line = bytes(body[:start])
            # A CR that ends the buffer may be the first half of a CRLF.
            self._after_cr = end == len(body) and end - start == 1 and body[start] == 0x0D
            del body[:end]
            self._scan = 0
            self._pending += end
            item = self._line(line)
            if item is not _NOTHING:
                return item

    def _line(self, line: bytes) -> Any:
        if not line:  # dispatch
            if not self._fields:
                return _NOTHING
            data, self._data, self._fields, self._pending = self._data, [], False, 0
            self.completed()
            return _json_object(b"\n".join(data)) if data else None
        if line[0] == 0x3A:  # ":" a comment: a keep-alive
            self.completed()
            if not self._fields:
                self._pending = 0
            return None
        name, _, value = line.partition(b":")
        self._fields = True
        if name == b"data":
            self._data.append(value[1:] if value[:1] == b" " else value)
        return _NOTHING


def events(reader: EventReader) -> Iterator[dict[str, Any] | None]:
    """What `reader.read` returns, until a clean end; silence is judged by the stall timeout.

    Raises what `read` raises but TimeoutError and EndOfStream.
    """
    while True:
        try:
            item = reader.read()
        except TimeoutError:
            reader.check()
            continue
        except EndOfStream:
            return
        yield item


def _json_object(text: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deeply
        return None
    return value if isinstance(value, dict) else None
