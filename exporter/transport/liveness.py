"""The streams' liveness rule, for v1's WebSocket and v3's server-sent events alike.

A stream is alive while whole units arrive: a WebSocket message or control frame, an SSE
event or comment. Bytes that trickle in without completing one do not count, so a server that
sends a byte now and then, an endless line or a unit that never ends cannot hold a stream up.
A unit has a size cap, and one larger is a protocol error that ends the attempt: it is never
buffered past the cap.

UnitReader reads the socket in large chunks into a buffer; a subclass parses its units out of
the buffer and calls `completed()` for each. Timeouts are the socket's: `_fill` raises
TimeoutError when nothing arrives in time, and the caller, woken, runs its own timers and
`check()`s liveness. Time is read once per receive, not per unit: a unit is stamped with the
arrival of the bytes that completed it.
"""

from __future__ import annotations

import math
import socket
import time

RECV_SIZE = 4096


class ReadError(Exception):
    """The stream cannot be read any further; the message says why."""


class ConnectionClosed(ReadError):
    """The server closed the TCP connection."""


class ProtocolError(ReadError):
    """The server sent something that is not a valid stream of units."""


class Stalled(ReadError):
    """No whole unit for too long, though bytes may still trickle in."""

    def __init__(self, timeout: float, unit: str = "message") -> None:
        super().__init__(f"no {unit} for {timeout:g}s (stalled connection)")


class UnitReader:
    """A socket read in chunks, and when its last whole unit completed (`unit_at`)."""

    def __init__(
        self,
        sock: socket.socket,
        stall_timeout: float = math.inf,
        *,
        unit: str = "message",
        max_unit: int,
        recv_size: int = RECV_SIZE,
        buffered: bytes = b"",
    ) -> None:
        self._sock = sock
        self._buffer = bytearray(buffered)  # CPython deletes from a bytearray's front in O(1)
        self._stall_timeout = stall_timeout
        self._unit = unit
        self._max_unit = max_unit
        self._recv_size = recv_size
        self._received_at = time.monotonic()
        self.unit_at = self._received_at  # when the last whole unit completed

    def check(self, now: float | None = None) -> None:
        """Raise Stalled when no whole unit completed for the stall timeout (on a socket
        timeout, when no byte arrived either)."""
        if (time.monotonic() if now is None else now) - self.unit_at >= self._stall_timeout:
            raise Stalled(self._stall_timeout, self._unit)

    def completed(self) -> None:
        """A whole unit has just been parsed out of the buffer."""
        self.unit_at = self._received_at

    def limit(self, size: int, what: str | None = None) -> None:
        """A ProtocolError if a unit (or a part of it, `what`) is larger than the cap."""
        if size > self._max_unit:
            raise ProtocolError(f"{what or self._unit} of more than {self._max_unit} bytes")

    def _fill(self) -> None:
        """Receive the next chunk into the buffer; Stalled first when the bytes received so
        far completed no unit for the stall timeout."""
        if self._received_at - self.unit_at >= self._stall_timeout:
            raise Stalled(self._stall_timeout, self._unit)
        chunk = self._sock.recv(self._recv_size)
        if not chunk:
            raise ConnectionClosed("connection closed by the server")
        self._received_at = time.monotonic()
        self._buffer += chunk
