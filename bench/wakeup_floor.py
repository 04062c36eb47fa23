"""What one stream message costs the receiving process on this machine, before any exporter logic.

The exporter's ingest figure (bench/exporter_scale.py) is CPU per status update while each
update arrives alone, on one of 1,000 sockets. That cost is mostly the operating system's:
waking the thread that owns the socket and the system calls to read it. This bench measures
the same traffic pattern with minimal readers, so the exporter's figure can be compared with
what is achievable here:

- `blocking`: a thread per socket, blocking reads (the least a thread per stream can do);
- `timeout`: the same with a socket timeout, as a stream with a read deadline needs
  (Python then polls before each read);
- `epoll`: one thread reading every socket through epoll (no thread per stream);
- `floor`: `json.loads` of the message plus a dict update, in a tight loop (issue 5's floor).

Each reader parses the frame header, `json.loads` the payload and updates a dict under a
lock. A forked writer process sends one WebSocket text frame at a time to a random socket at
`--rate` per second; only the reader process's CPU (`time.process_time`) is counted.

    .venv/bin/python bench/wakeup_floor.py                 # 1,000 sockets, 200 messages/s
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable

MESSAGE = json.dumps(
    {"status_code": 200, "message": "OK", "data": {"1000abcd": {"status": 1966135}}},
    separators=(",", ":"),
).encode()
FRAME = bytes([0x81, len(MESSAGE)]) + MESSAGE  # an unmasked text frame, as a server sends
MODES = ("blocking", "timeout", "epoll")


class Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latest: dict[str, int] = {}
        self.count = 0

    def handle(self, payload: bytes) -> None:
        data = json.loads(payload)["data"]
        with self.lock:
            for esn, entity in data.items():
                self.latest[esn] = entity["status"]
            self.count += 1


def split_frames(buffer: bytearray, handle: Callable[[bytes], None]) -> None:
    while len(buffer) >= 2 and len(buffer) >= 2 + (buffer[1] & 0x7F):
        size = buffer[1] & 0x7F
        handle(bytes(buffer[2 : 2 + size]))
        del buffer[: 2 + size]


def thread_reader(sock: socket.socket, counter: Counter, timeout: float | None) -> None:
    sock.settimeout(timeout)
    buffer = bytearray()
    while True:
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            continue
        except OSError:
            return
        if not chunk:
            return
        buffer += chunk
        split_frames(buffer, counter.handle)


def epoll_reader(sockets: list[socket.socket], counter: Counter) -> None:
    poller = select.epoll()
    buffers: dict[int, tuple[socket.socket, bytearray]] = {}
    for sock in sockets:
        sock.setblocking(False)
        poller.register(sock.fileno(), select.EPOLLIN)
        buffers[sock.fileno()] = (sock, bytearray())
    while True:
        for fd, _ in poller.poll(60):
            sock, buffer = buffers[fd]
            chunk = sock.recv(4096)
            if not chunk:
                return
            buffer += chunk
            split_frames(buffer, counter.handle)


def write(peers: list[socket.socket], messages: int, rate: float) -> None:
    """In the forked child: one frame at a time to random sockets, paced at `rate`."""
    time.sleep(1.0)  # let the readers block first
    started = time.perf_counter()
    for index in range(messages):
        random.choice(peers).send(FRAME)
        delay = started + (index + 1) / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    time.sleep(2.0)


def run(mode: str, sockets_count: int, messages: int, rate: float) -> float:
    """CPU microseconds per message in the reading process."""
    pairs = [socket.socketpair() for _ in range(sockets_count)]
    child = os.fork()
    if child == 0:
        for _, reader_end in pairs:
            reader_end.close()
        write([writer_end for writer_end, _ in pairs], messages, rate)
        os._exit(0)
    for writer_end, _ in pairs:
        writer_end.close()
    readers = [reader_end for _, reader_end in pairs]
    counter = Counter()
    threading.stack_size(256 * 1024)
    if mode == "epoll":
        threading.Thread(target=epoll_reader, args=(readers, counter), daemon=True).start()
    else:
        timeout = 20.0 if mode == "timeout" else None
        for sock in readers:
            args = (sock, counter, timeout)
            threading.Thread(target=thread_reader, args=args, daemon=True).start()
    started_cpu = time.process_time()
    deadline = time.monotonic() + messages / rate + 30
    while counter.count < messages and time.monotonic() < deadline:
        time.sleep(0.05)
    cpu = time.process_time() - started_cpu
    os.waitpid(child, 0)
    for sock in readers:
        sock.close()
    return cpu / max(counter.count, 1) * 1e6


def floor(iterations: int = 200_000) -> float:
    latest: dict[str, int] = {}
    started = time.process_time()
    for _ in range(iterations):
        for esn, entity in json.loads(MESSAGE)["data"].items():
            latest[esn] = entity["status"]
    return (time.process_time() - started) / iterations * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=200.0, help="messages per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each run")
    parser.add_argument("--modes", default=",".join(MODES))
    args = parser.parse_args()
    messages = int(args.rate * args.seconds)
    print(f"{args.sockets} sockets, {args.rate:g} messages/s, {messages} messages per mode")
    print("| reader | CPU per message |")
    print("|---|---|")
    json_floor = statistics.median(floor() for _ in range(5))
    print(f"| floor: json.loads + dict update | {json_floor:.1f} µs |")
    for mode in args.modes.split(","):
        print(f"| {mode} | {run(mode, args.sockets, messages, args.rate):.1f} µs |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
