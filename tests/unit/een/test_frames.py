import socket
import threading
import time
from collections.abc import Iterator

import pytest

from exporter.een.frames import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    TEXT,
    ConnectionClosed,
    FrameReader,
    ProtocolError,
    Stalled,
)


def frame(opcode: int, payload: bytes, fin: bool = True, mask: bool = False) -> bytes:
    first = (0x80 if fin else 0) | opcode
    size = len(payload)
    flag = 0x80 if mask else 0
    if size < 126:
        header = bytes([first, flag | size])
    elif size < 1 << 16:
        header = bytes([first, flag | 126]) + size.to_bytes(2, "big")
    else:
        header = bytes([first, flag | 127]) + size.to_bytes(8, "big")
    return header + (b"\0\0\0\0" if mask else b"") + payload


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    server, client = socket.socketpair()
    client.settimeout(2)
    server.settimeout(2)
    yield server, client
    server.close()
    client.close()


def test_messages_of_every_length_encoding(pair: tuple[socket.socket, socket.socket]) -> None:
    server, client = pair
    payloads = [b"", b"x" * 125, b"y" * 126, b"z" * 70000]  # the last spans many reads
    sender = threading.Thread(
        target=server.sendall, args=(b"".join(frame(TEXT, p) for p in payloads),)
    )
    sender.start()
    reader = FrameReader(client)
    received = [reader.read() for _ in payloads]
    sender.join(2)
    assert received == [(TEXT, p) for p in payloads]


def test_a_frame_split_across_reads(pair: tuple[socket.socket, socket.socket]) -> None:
    server, client = pair
    data = frame(BINARY, b"hello") + frame(TEXT, b"world")
    reader = FrameReader(client)
    server.sendall(data[:1])
    client.settimeout(0.05)
    with pytest.raises(TimeoutError):
        reader.read()  # half a header: nothing yet, and nothing lost
    client.settimeout(2)
    server.sendall(data[1:])
    assert reader.read() == (BINARY, b"hello")
    assert reader.read() == (TEXT, b"world")


def test_fragments_are_reassembled_around_control_frames(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    server, client = pair
    server.sendall(
        frame(TEXT, b"one ", fin=False)
        + frame(PING, b"p")
        + frame(CONTINUATION, b"two ", fin=False)
        + frame(CONTINUATION, b"three")
    )
    reader = FrameReader(client)
    assert reader.read() == (PING, b"p")
    assert reader.read() == (TEXT, b"one two three")


def test_close_frame_and_end_of_stream(pair: tuple[socket.socket, socket.socket]) -> None:
    server, client = pair
    server.sendall(frame(CLOSE, (1008).to_bytes(2, "big") + b"auth lost"))
    server.shutdown(socket.SHUT_WR)
    reader = FrameReader(client)
    assert reader.read() == (CLOSE, b"\x03\xf0auth lost")
    with pytest.raises(ConnectionClosed):
        reader.read()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (frame(TEXT, b"x", mask=True), "masked"),
        (frame(TEXT, b"a", fin=False) + frame(TEXT, b"b"), "inside a fragmented"),
        (frame(CONTINUATION, b"tail"), "without a message"),
    ],
)
def test_protocol_errors(
    pair: tuple[socket.socket, socket.socket], data: bytes, reason: str
) -> None:
    server, client = pair
    server.sendall(data)
    with pytest.raises(ProtocolError, match=reason):
        FrameReader(client).read()


def test_bytes_that_complete_no_frame_stall(pair: tuple[socket.socket, socket.socket]) -> None:
    server, client = pair
    stopping = threading.Event()

    def trickle() -> None:  # one byte of a frame every 20 ms: a read never times out
        for byte in frame(TEXT, b"x" * 1000):
            if stopping.wait(0.02):
                return
            server.sendall(bytes([byte]))

    server.sendall(frame(TEXT, b"first"))
    sender = threading.Thread(target=trickle)
    sender.start()
    reader = FrameReader(client, stall_timeout=0.2)
    try:
        assert reader.read() == (TEXT, b"first")
        started = reader.frame_at
        with pytest.raises(Stalled, match=r"no message for 0\.2s"):
            reader.read()
        assert time.monotonic() - started < 1.0  # not after the whole trickle (20 s)
    finally:
        stopping.set()
        sender.join(2)


def test_control_frames_and_messages_keep_a_slow_stream_alive(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    server, client = pair
    reader = FrameReader(client, stall_timeout=0.2)
    for _ in range(3):  # each arrives well within the stall timeout of the one before
        server.sendall(frame(PING, b""))
        assert reader.read() == (PING, b"")
    client.settimeout(0.05)
    with pytest.raises(TimeoutError):
        reader.read()  # silence is the caller's to judge, by frame_at
    assert time.monotonic() - reader.frame_at >= 0.05
