"""The SSE reader off a socket (exporter/v3/sse.py on exporter/transport/liveness.py): events,
the transfer framing, and the liveness rule shared with v1 (issue 19, item 5): a whole event or
comment within the stall timeout, an event capped in size and never buffered past the cap."""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporter.v3 import sse
from exporter.v3.sse import (
    MAX_EVENT_BYTES,
    ConnectionClosed,
    EndOfStream,
    EventReader,
    ProtocolError,
    ReadError,
    Stalled,
)
from tests.support import fuzz

Pair = tuple[socket.socket, socket.socket]


@pytest.fixture
def pair() -> Iterator[Pair]:
    server, client = socket.socketpair()
    client.settimeout(2)
    server.settimeout(2)
    yield server, client
    server.close()
    client.close()


def chunked(body: bytes, sizes: Iterator[int] | None = None) -> bytes:
    """`body` in HTTP/1.1 chunks (of `sizes`, else one), then the last chunk."""
    out, start = [], 0
    for size in sizes or iter([len(body)]):
        piece = body[start : start + size]
        if not piece:
            break
        out.append(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        start += size
    if start < len(body):
        out.append(f"{len(body) - start:x}\r\n".encode() + body[start:] + b"\r\n")
    return b"".join(out) + b"0\r\n\r\n"


def read_all(reader: EventReader) -> tuple[list[dict[str, Any] | None], BaseException]:
    items: list[dict[str, Any] | None] = []
    while True:
        try:
            items.append(reader.read())
        except (ReadError, EndOfStream, TimeoutError) as ending:
            return items, ending


def test_events_comments_and_line_ends(pair: Pair) -> None:
    server, client = pair
    server.sendall(
        b": keepalive\n\n"
        b'data: {"a": 1}\n\n'
        b'event: x\r\nid: 7\r\ndata: {"b":\r\ndata: 2}\r\n\r\n'  # data lines join with LF
        b'data:{"c": 3}\r\rdata\n\n'  # CR alone ends a line; "data" alone is empty data
        b"data: [1, 2]\n\n"  # JSON, but not an object
        b"data: " + b"[" * 100_000 + b"\n\n"  # nested too deeply
        b"id: 8\n\n"  # an event without data
        b"\n\n\n"  # blank lines without an event: nothing
    )
    server.shutdown(socket.SHUT_WR)
    items, ending = read_all(EventReader(client))
    assert items == [None, {"a": 1}, {"b": 2}, {"c": 3}, None, None, None, None]
    assert isinstance(ending, EndOfStream)  # a body that ends with the connection


def test_a_crlf_split_between_reads_is_one_line_end(pair: Pair) -> None:
    server, client = pair
    reader = EventReader(client)
    server.sendall(b'data: {"a": 1}\r')
    client.settimeout(0.05)
    with pytest.raises(TimeoutError):
        reader.read()
    server.sendall(b"\n\r\n: keep\r")
    client.settimeout(2)
    assert reader.read() == {"a": 1}
    assert reader.read() is None
    server.sendall(b'\ndata: {"b": 2}\n\n')  # the LF completes ": keep"'s CRLF, no event
    assert reader.read() == {"b": 2}


def test_chunked_and_length_framing_end_cleanly(pair: Pair) -> None:
    server, client = pair
    body = b': hi\n\ndata: {"a": 1}\n\n'
    server.sendall(b"3;ext=1\r\n" + body[:3] + b"\r\n" + chunked(body[3:], iter([1, 5, 100])))
    items, ending = read_all(EventReader(client, chunked=True))
    assert (items, type(ending)) == ([None, {"a": 1}], EndOfStream)
    server2, client2 = socket.socketpair()
    with server2, client2:
        server2.sendall(body + b"data: after the length\n\n")
        items, ending = read_all(EventReader(client2, length=len(body)))
        assert (items, type(ending)) == ([None, {"a": 1}], EndOfStream)


@pytest.mark.parametrize(
    ("framing", "data", "reason"),
    [
        ({"chunked": True}, b"zz\r\n", "not a hexadecimal number"),
        ({"chunked": True}, b"-1\r\n", "not a hexadecimal number"),
        ({"chunked": True}, b"1" * 2000, "chunk size line of more than"),
        ({"chunked": True}, b"2\r\nabcd", "not followed by CRLF"),
    ],
)
def test_broken_chunked_framing(
    pair: Pair, framing: dict[str, Any], data: bytes, reason: str
) -> None:
    server, client = pair
    server.sendall(data)
    with pytest.raises(ProtocolError, match=reason):
        EventReader(client, **framing).read()


@pytest.mark.parametrize("framing", [{"chunked": True}, {"length": 1000}])
def test_a_cut_mid_body_is_no_clean_end(pair: Pair, framing: dict[str, Any]) -> None:
    server, client = pair
    data = b'data: {"a": 1}\n\n'
    server.sendall((f"{len(data) + 10:x}\r\n".encode() if "chunked" in framing else b"") + data)
    server.shutdown(socket.SHUT_WR)
    items, ending = read_all(EventReader(client, **framing))
    assert items == [{"a": 1}]
    assert isinstance(ending, ConnectionClosed), ending


def test_the_bytes_already_buffered_by_the_head_come_first(pair: Pair) -> None:
    server, client = pair
    server.sendall(b'{"b": 2}\n\n')
    reader = EventReader(client, buffered=b': x\n\ndata: {"a": 1}\n\ndata: ')
    assert [reader.read(), reader.read(), reader.read()] == [None, {"a": 1}, {"b": 2}]


# --- liveness: the rule v1's frames follow too ----------------------------------------------


def test_an_endless_line_is_cut_at_the_cap_without_buffering_it(pair: Pair) -> None:
    server, client = pair
    stopping = threading.Event()

    def endless() -> None:
        block = b"x" * 65536
        with contextlib.suppress(OSError):
            server.sendall(b"data: ")
            while not stopping.is_set():
                server.sendall(block)

    sender = threading.Thread(target=endless)
    sender.start()
    reader = EventReader(client, stall_timeout=60)
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(ProtocolError, match=f"event of more than {MAX_EVENT_BYTES} bytes"):
            reader.read()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        stopping.set()
        client.shutdown(socket.SHUT_RDWR)
        sender.join(5)
    assert time.monotonic() - started < 5  # not the stall timeout: at the cap
    assert peak < 3 * MAX_EVENT_BYTES  # the line was never held whole (nor copied twice over)


@pytest.mark.parametrize(
    "flood",
    [
        b"\n",  # blank lines complete no event: they count against the cap
        b"data: x\n",  # an event that never ends
        b"data: x\n: a comment inside the event keeps it alive, not small\n",
    ],
)
def test_bytes_that_complete_no_event_are_capped(pair: Pair, flood: bytes) -> None:
    server, client = pair
    repeat = 2 * MAX_EVENT_BYTES // len(flood) + 1

    def send() -> None:
        with contextlib.suppress(OSError):
            server.sendall(flood * repeat)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        items, ending = read_all(EventReader(client, stall_timeout=60))
    finally:
        client.shutdown(socket.SHUT_RDWR)
        sender.join(5)
    assert all(item is None for item in items)
    assert isinstance(ending, ProtocolError), ending


def test_bytes_that_complete_no_event_stall(pair: Pair) -> None:
    server, client = pair
    stopping = threading.Event()

    def trickle() -> None:  # one byte of an event every 20 ms: a read never times out
        for byte in b'data: {"never": "ends"}' * 100:
            if stopping.wait(0.02):
                return
            server.sendall(bytes([byte]))

    server.sendall(b'data: {"first": 1}\n\n')
    sender = threading.Thread(target=trickle)
    sender.start()
    reader = EventReader(client, stall_timeout=0.2)
    try:
        assert reader.read() == {"first": 1}
        started = reader.unit_at
        with pytest.raises(Stalled, match=r"no event for 0\.2s"):
            reader.read()
        assert time.monotonic() - started < 1.0  # not after the whole trickle (50 s)
    finally:
        stopping.set()
        sender.join(2)


def test_comments_keep_a_slow_stream_alive_and_silence_is_the_callers(pair: Pair) -> None:
    server, client = pair
    reader = EventReader(client, stall_timeout=0.2)
    for _ in range(3):
        time.sleep(0.1)
        server.sendall(b": keepalive\n")
        assert reader.read() is None
    client.settimeout(0.05)
    with pytest.raises(TimeoutError):
        reader.read()
    reader.check()  # 0.05 s of silence: alive
    time.sleep(0.2)
    with pytest.raises(Stalled):
        reader.check()


# --- fuzzing: any split, any chunking, any line ends -------------------------------------------

OBJECTS = st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=20), max_size=3)
ITEMS = st.lists(OBJECTS | st.none(), max_size=8)  # None: a comment


@fuzz(examples=150)
@given(ITEMS, st.data())
def test_any_split_of_a_valid_stream_reads_the_same(
    items: list[dict[str, Any] | None], data: st.DataObject
) -> None:
    end = data.draw(st.sampled_from([b"\n", b"\r\n", b"\r"]), label="line end")
    lines = [
        b": keepalive" + end if item is None else b"data: " + json.dumps(item).encode() + end + end
        for item in items
    ]
    body = b"".join(lines)
    framing = data.draw(st.sampled_from(["chunked", "length", "close"]), label="framing")
    if framing == "chunked":
        sizes = data.draw(st.lists(st.integers(1, 50), max_size=20), label="chunks")
        wire = chunked(body, iter(sizes))
    else:
        wire = body
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=20), label="cuts"))
    recv_size = data.draw(st.sampled_from([1, 2, 3, 7, 64, 4096]), label="recv size")
    server, client = socket.socketpair()
    client.settimeout(5)

    def send() -> None:
        with contextlib.suppress(OSError):
            for a, b in itertools.pairwise([0, *cuts, len(wire)]):
                server.sendall(wire[a:b])
        server.shutdown(socket.SHUT_WR)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        reader = EventReader(
            client, chunked=framing == "chunked", length=len(body) if framing == "length" else None
        )
        reader._recv_size = recv_size
        got, ending = read_all(reader)
    finally:
        client.close()
        sender.join(5)
        server.close()
    assert got == items
    assert isinstance(ending, EndOfStream), ending


@fuzz(examples=150)
@given(st.binary(max_size=300), st.booleans())
def test_garbage_ends_in_a_read_error_or_a_clean_end(garbage: bytes, is_chunked: bool) -> None:
    server, client = socket.socketpair()
    client.settimeout(5)
    server.sendall(garbage)
    server.shutdown(socket.SHUT_WR)
    try:
        items, ending = read_all(EventReader(client, chunked=is_chunked))
    finally:
        client.close()
        server.close()
    assert all(item is None or isinstance(item, dict) for item in items)
    assert isinstance(ending, ReadError | EndOfStream), ending


def test_events_iterates_until_the_clean_end(pair: Pair) -> None:
    server, client = pair
    server.sendall(chunked(b': k\n\ndata: {"a": 1}\n\n'))
    assert list(sse.events(EventReader(client, chunked=True))) == [None, {"a": 1}]
