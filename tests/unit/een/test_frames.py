import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporter.een import frames
from exporter.een.frames import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    ConnectionClosed,
    FrameReader,
    ProtocolError,
    ReadError,
    Stalled,
)
from tests.support import fuzz


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
        # Found by the fuzz test below (RFC 6455 §5.2, §5.5); each was returned as a frame.
        (b"\x8b\x00", "reserved opcode 0xb"),
        (frame(0x3, b"x"), "reserved opcode 0x3"),
        (frame(PING, b"p", fin=False), "control frame fragmented"),
        (frame(PING, b"p" * 126), "longer than 125 bytes"),
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


# --- fuzzing: random splits, fragments, limits and garbage, over a real socketpair -----------

CONTROL = st.sampled_from([PING, PONG, CLOSE])
DATA = st.sampled_from([TEXT, BINARY])
SMALL = st.binary(max_size=125)
# Long payloads are cheap to build from a length; they exercise the 16- and 64-bit lengths.
PAYLOAD = SMALL | st.builds(bytes.__mul__, st.sampled_from([b"a", b"\0"]), st.integers(126, 66_000))


@dataclass(frozen=True)
class Frame:
    opcode: int
    payload: bytes
    fin: bool = True

    def encode(self) -> bytes:
        return frame(self.opcode, self.payload, self.fin)


@st.composite
def frame_sequences(draw: st.DrawFn) -> list[Frame]:
    """A valid sequence: control frames, and messages in 1-4 fragments with controls between."""
    frames: list[Frame] = []
    for _ in range(draw(st.integers(1, 6))):
        if draw(st.booleans()):
            frames.append(Frame(draw(CONTROL), draw(SMALL)))
            continue
        opcode = draw(DATA)
        pieces = draw(st.lists(PAYLOAD, min_size=1, max_size=4))
        for index, piece in enumerate(pieces):
            if index and draw(st.booleans()):
                frames.append(Frame(draw(CONTROL), draw(SMALL)))
            fin = index == len(pieces) - 1
            frames.append(Frame(CONTINUATION if index else opcode, piece, fin))
    return frames


def expected_reads(frames: list[Frame], limit: int) -> tuple[list[tuple[int, bytes]], bool]:
    """What the reader must return for `frames` with MAX_MESSAGE = `limit`; True: then an error."""
    reads: list[tuple[int, bytes]] = []
    message: list[Frame] = []
    for item in frames:
        if len(item.payload) > limit:
            return reads, True
        if item.opcode >= CLOSE:
            reads.append((item.opcode, item.payload))
            continue
        message.append(item)
        if sum(len(piece.payload) for piece in message) > limit and not (
            item.fin and len(message) == 1
        ):
            return reads, True
        if item.fin:
            reads.append((message[0].opcode, b"".join(piece.payload for piece in message)))
            message = []
    return reads, False


def read_all(
    data: bytes, cuts: list[int], recv_size: int
) -> tuple[list[tuple[int, bytes]], Exception]:
    """Send `data` in pieces cut at `cuts`, then close; read until the reader raises."""
    server, client = socket.socketpair()
    client.settimeout(5)
    pieces = [data[a:b] for a, b in itertools.pairwise([0, *sorted(cuts), len(data)])]
    if len(data) > 4096:  # a long payload read byte by byte tells nothing new, slowly
        recv_size = max(recv_size, 1024)

    def send() -> None:
        with contextlib.suppress(OSError):  # the reader gave up (a protocol error) and closed
            for piece in pieces:
                server.sendall(piece)
        server.shutdown(socket.SHUT_WR)

    sender = threading.Thread(target=send, name="fuzz-sender")
    sender.start()
    reads: list[tuple[int, bytes]] = []
    try:
        with mock.patch.object(frames, "RECV_SIZE", recv_size):
            reader = FrameReader(client)
            while True:
                try:
                    reads.append(reader.read())
                except ReadError as error:
                    return reads, error
    finally:
        client.close()
        sender.join(5)
        server.close()


@fuzz(examples=150)
@given(frame_sequences(), st.data())
def test_any_split_of_a_valid_sequence_reads_the_same(
    frames_: list[Frame], data: st.DataObject
) -> None:
    encoded = b"".join(item.encode() for item in frames_)
    cuts = data.draw(st.lists(st.integers(0, len(encoded)), max_size=20), label="cuts")
    recv_size = data.draw(st.sampled_from([1, 2, 3, 7, 64, 4096]), label="recv size")
    limit = data.draw(st.sampled_from([frames.MAX_MESSAGE, 0, 125, 300, 66_000]), label="limit")
    with mock.patch.object(frames, "MAX_MESSAGE", limit):
        reads, error = read_all(encoded, cuts, recv_size)
    wanted, too_large = expected_reads(frames_, limit)
    assert reads == wanted
    assert isinstance(error, ProtocolError if too_large else ConnectionClosed), error


def valid_read(read: tuple[int, bytes]) -> bool:
    """RFC 6455 §5.5: a message, or a control frame of at most 125 bytes."""
    opcode, payload = read
    return opcode in (TEXT, BINARY) or (opcode in (CLOSE, PING, PONG) and len(payload) <= 125)


@fuzz(examples=200)
@given(
    st.lists(
        frame_sequences().map(lambda f: b"".join(i.encode() for i in f)) | st.binary(max_size=40),
        max_size=4,
    ),
    st.data(),
)
def test_garbage_ends_in_a_read_error_and_nothing_else(
    parts: list[bytes], data: st.DataObject
) -> None:
    garbage = bytearray(b"".join(parts))
    for _ in range(data.draw(st.integers(0, 3), label="flips")):
        if garbage:
            garbage[data.draw(st.integers(0, len(garbage) - 1))] ^= data.draw(st.integers(1, 255))
    reads, error = read_all(bytes(garbage), [], data.draw(st.sampled_from([1, 5, 4096])))
    assert all(valid_read(read) for read in reads), reads
    assert isinstance(error, ReadError)
