"""The HTTP server writes a response of many small parts (/metrics: a block per account and
family) a socket's worth at a time, losing and repeating nothing across partial sends."""

from __future__ import annotations

import selectors
import socket
from collections import deque

from exporter.web.server import PARTS_PER_SEND, _advance, _send_some


def test_many_small_parts_arrive_whole_through_partial_sends() -> None:
    parts = [b"line %d\n" % i * (i % 7 + 1) for i in range(3 * PARTS_PER_SEND)]
    parts.insert(100, b"x" * 600_000)  # larger than one send
    writer, reader = socket.socketpair()
    writer.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # force partial sends
    writer.setblocking(False)
    reader.settimeout(10)
    out: deque[bytes | memoryview] = deque(parts)
    received = bytearray()
    calls = 0
    with writer, reader, selectors.DefaultSelector() as selector:
        selector.register(writer, selectors.EVENT_WRITE)
        while out:
            assert selector.select(timeout=10), "the socket never became writable"
            try:
                sent = _send_some(writer, out)
            except BlockingIOError:
                continue
            calls += 1
            _advance(out, sent)
            received += reader.recv(1 << 20)
        writer.shutdown(socket.SHUT_WR)
        while chunk := reader.recv(1 << 20):
            received += chunk
    assert bytes(received) == b"".join(parts)
    assert calls < len(parts) / 4, "many parts per system call"


def test_advance_drops_whole_parts_and_cuts_the_next() -> None:
    out: deque[bytes | memoryview] = deque([b"abc", b"de", b"fgh"])
    _advance(out, 4)
    assert [bytes(view) for view in out] == [b"e", b"fgh"]
    _advance(out, 4)
    assert not out
