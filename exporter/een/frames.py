"""Reading the poll stream's frames straight off the socket (RFC 6455 §5).

websocket-client opens the connection and sends every frame; reading is done here because
the library fetches each frame's header and payload with separate system calls and builds
several objects per frame, which at a thousand streams is most of the exporter's ingest CPU.
Frames from a server are never masked.
"""

from __future__ import annotations

import math
import socket

from exporter.transport.liveness import (
    ConnectionClosed,
    ProtocolError,
    ReadError,
    Stalled,
    UnitReader,
)

__all__ = ["ConnectionClosed", "FrameReader", "ProtocolError", "ReadError", "Stalled"]

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
RECV_SIZE = 4096
MAX_MESSAGE = 64 * 1024 * 1024  # a snapshot of a very large account is still far below this
MAX_CONTROL = 125


class FrameReader(UnitReader):
    """Returns whole messages and control frames from a socket, reading it in large chunks.

    Liveness is the streams' shared rule (exporter.transport.liveness), a message or control
    frame being the unit: `read` raises TimeoutError when nothing arrives in time, and can be
    called again afterwards (a partly received frame stays buffered). Bytes that keep
    trickling in never time out, so `read` raises Stalled when they complete no message or
    control frame for `stall_timeout` seconds; the caller `check`s on TimeoutError.
    """

    def __init__(self, sock: socket.socket, stall_timeout: float = math.inf) -> None:
        super().__init__(
            sock, stall_timeout, unit="message", max_unit=MAX_MESSAGE, recv_size=RECV_SIZE
        )
        self._fragments: list[bytes] = []
        self._fragmented_opcode = TEXT
        self._fragmented_size = 0

    @property
    def frame_at(self) -> float:
        """When the last message or control frame completed."""
        return self.unit_at

    def read(self) -> tuple[int, bytes]:
        """The next message (TEXT/BINARY, reassembled) or control frame: (opcode, payload)."""
        while True:
            frame = self._next_frame()
            if frame is None:
                self._fill()
                continue
            fin, opcode, payload = frame
            if opcode >= CLOSE:
                _check_control(fin, opcode, payload)
                self.unit_at = self._received_at
                return opcode, payload
            if opcode != CONTINUATION:
                if opcode > BINARY:
                    raise ProtocolError(f"reserved opcode {opcode:#x}")
                if self._fragments:
                    raise ProtocolError("a new message started inside a fragmented one")
                if fin:
                    self.unit_at = self._received_at
                    return opcode, payload
                self._fragmented_opcode = opcode
            elif not self._fragments:
                raise ProtocolError("continuation frame without a message")
            self._fragments.append(payload)
            self._fragmented_size += len(payload)
            if self._fragmented_size > self._max_unit:
                self.limit(self._fragmented_size, "message")
            if fin:
                message = b"".join(self._fragments)
                self._fragments, self._fragmented_size = [], 0
                self.unit_at = self._received_at
                return self._fragmented_opcode, message

    def _next_frame(self) -> tuple[bool, int, bytes] | None:
        buffer = self._buffer
        if len(buffer) < 2:
            return None
        first, second = buffer[0], buffer[1]
        if second & 0x80:
            raise ProtocolError("masked frame from the server")
        length, start = second & 0x7F, 2
        if length == 126:
            if len(buffer) < 4:
                return None
            length, start = int.from_bytes(buffer[2:4], "big"), 4
        elif length == 127:
            if len(buffer) < 10:
                return None
            length, start = int.from_bytes(buffer[2:10], "big"), 10
        if length > self._max_unit:
            self.limit(length, "frame")
        end = start + length
        if len(buffer) < end:
            return None
        payload = bytes(buffer[start:end])
        del buffer[:end]
        return bool(first & 0x80), first & 0x0F, payload


def _check_control(fin: bool, opcode: int, payload: bytes) -> None:
    """RFC 6455 §5.5: a control frame is known, whole, and at most 125 bytes long."""
    if opcode > PONG:
        raise ProtocolError(f"reserved opcode {opcode:#x}")
    if not fin or len(payload) > MAX_CONTROL:
        raise ProtocolError(f"control frame fragmented or longer than {MAX_CONTROL} bytes")
