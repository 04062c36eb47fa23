"""Bounded HTTP serving: timeouts for TLS handshakes, request heads, idle keep-alive connections
and unread responses; a cap on connections (the idle or slowest make room, else 503) and on the
request head (431); a fixed thread count."""

from __future__ import annotations

import re
import socket
import statistics
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from exporter.exposition.render import Exposition
from exporter.simulator import Simulator
from exporter.state.store import StateStore
from exporter.web.endpoints import WebServer
from exporter.web.server import DEFAULT_LIMITS, HttpServer, Limits, Peer
from tests.integration.exporter.test_http_server import ExporterProcess
from tests.support import wait_for

HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
FAST = Limits(workers=2, request_timeout=0.4, idle_timeout=0.4, write_timeout=0.4)


@pytest.fixture
def serve() -> Iterator[Callable[..., WebServer]]:
    servers: list[WebServer] = []

    def start(limits: Limits = DEFAULT_LIMITS, body: bytes = b"") -> WebServer:
        store = StateStore()
        server = WebServer("127.0.0.1", 0, store, Exposition(store, lambda: body), limits=limits)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


def connect(server: WebServer) -> socket.socket:
    return socket.create_connection(server.address, timeout=5)


def response(client: socket.socket) -> bytes:
    """One response with a Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(65536)
        assert chunk, f"closed mid-response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += client.recv(65536)
    return head + b"\r\n\r\n" + body


def seconds_until_closed(client: socket.socket) -> float:
    began = time.monotonic()
    assert client.recv(1) == b""
    return time.monotonic() - began


def test_an_idle_keep_alive_connection_is_closed(serve: Callable[..., WebServer]) -> None:
    server = serve(FAST)
    with connect(server) as client:
        client.sendall(HEALTHZ)
        assert response(client).endswith(b"\r\n\r\nok\n")
        assert 0.2 < seconds_until_closed(client) < 3


@pytest.mark.parametrize("sent", [b"", b"GET /healthz HTTP/1.1\r\nHost:"])
def test_a_request_head_must_arrive_in_time(serve: Callable[..., WebServer], sent: bytes) -> None:
    server = serve(FAST)
    with connect(server) as client:
        client.sendall(sent)
        assert 0.2 < seconds_until_closed(client) < 3
    wait_for(lambda: server.open_connections() == 0, message="the connection forgotten")


def test_a_response_the_client_does_not_read_is_abandoned(serve: Callable[..., WebServer]) -> None:
    server = serve(FAST, body=b"#" * 32_000_000)
    with socket.socket() as client:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.connect(server.address)
        client.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\n\r\n")
        wait_for(lambda: server.open_connections() == 0, message="the unread response dropped")


def test_a_request_head_over_the_limit_is_answered_431(serve: Callable[..., WebServer]) -> None:
    server = serve()  # the default limits
    padding = b"X-Padding: " + b"a" * DEFAULT_LIMITS.max_header_bytes + b"\r\n"
    with connect(server) as client:
        client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + padding + b"\r\n")
        answer = response(client)
        assert answer.startswith(b"HTTP/1.1 431 "), answer
        assert seconds_until_closed(client) < 3
    below = b"X-Padding: " + b"a" * (DEFAULT_LIMITS.max_header_bytes // 2) + b"\r\n"
    with connect(server) as client:
        client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + below + b"\r\n")
        assert response(client).startswith(b"HTTP/1.1 200 ")


def test_pipelined_requests_are_answered_in_order(serve: Callable[..., WebServer]) -> None:
    server = serve()
    with connect(server) as client:
        client.sendall(HEALTHZ + b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n" + HEALTHZ)
        answers = b""
        while answers.count(b"HTTP/1.1 ") < 3 or not answers.endswith(b"ok\n"):
            chunk = client.recv(65536)
            assert chunk, answers
            answers += chunk
    statuses = re.findall(rb"HTTP/1\.1 \d+ [A-Za-z ]+", answers)
    assert statuses == [b"HTTP/1.1 200 OK", b"HTTP/1.1 404 Not Found", b"HTTP/1.1 200 OK"]


def test_at_the_connection_limit_the_longest_idle_makes_room(
    serve: Callable[..., WebServer],
) -> None:
    server = serve(Limits(max_connections=8))
    idle = [connect(server) for _ in range(8)]
    wait_for(lambda: server.open_connections() == 8, message="8 connections open")
    try:
        with connect(server) as client:
            client.sendall(HEALTHZ)
            assert response(client).startswith(b"HTTP/1.1 200 ")
        assert seconds_until_closed(idle[0]) < 3  # the oldest was closed for it
    finally:
        for connection in idle:
            connection.close()


def test_at_the_connection_limit_the_slowest_request_head_makes_room(
    serve: Callable[..., WebServer],
) -> None:
    """Issue 19 item 10: 1,100 slow connections from one client made 51 of 60 scrapes fail
    (503, or a reset over TLS): a connection sending its head slowly could not be closed for a
    newcomer. Now the one whose head has been arriving the longest makes room."""
    server = serve(Limits(max_connections=8))
    slow = [connect(server) for _ in range(8)]
    try:
        for connection in slow:  # each has sent part of a request: none is idle
            connection.sendall(b"GET /healthz HTTP/1.1\r\n")
            time.sleep(0.01)  # in this order
        wait_for(lambda: server.open_connections() == 8, message="8 connections open")
        with connect(server) as client:
            client.sendall(HEALTHZ)
            assert response(client).startswith(b"HTTP/1.1 200 ")
        assert seconds_until_closed(slow[0]) < 3  # the slowest was closed for it
        for connection in slow[1:]:  # the others are served once their requests are complete
            connection.sendall(b"Host: x\r\n\r\n")
            assert response(connection).startswith(b"HTTP/1.1 200 ")
    finally:
        for connection in slow:
            connection.close()


def test_at_the_connection_limit_with_every_request_at_a_worker_new_ones_get_503() -> None:
    release = threading.Event()

    def respond(head: bytes, peer: Peer) -> tuple[list[bytes], bool]:
        release.wait(10)
        return [b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"], False

    server = HttpServer("127.0.0.1", 0, respond, Limits(workers=1, max_connections=8))
    server.start()
    busy = [socket.create_connection(server.address, timeout=5) for _ in range(8)]
    try:
        for connection in busy:
            connection.sendall(HEALTHZ)
        wait_for(lambda: server.open_connections() == 8, message="8 connections open")
        with socket.create_connection(server.address, timeout=5) as client:
            began = time.monotonic()
            answer = client.recv(65536)
            assert answer.startswith(b"HTTP/1.1 503 "), answer
            assert time.monotonic() - began < 1
        release.set()
        for connection in busy:
            assert response(connection).startswith(b"HTTP/1.1 200 ")
    finally:
        release.set()
        for connection in busy:
            connection.close()
        server.stop()


class _Parts(list[bytes]):
    """A response's parts that a weak reference can follow."""


def test_a_sent_response_is_not_kept_by_its_worker() -> None:
    """A worker kept its last response (its locals) until its next job: with four workers,
    four /metrics bodies. The event blocks of each render are new objects, so at 1,000 x 50
    each old body held its own 9 MB of them (+34 MB of peak RSS after four identity scrapes)."""
    sent: list[weakref.ref[_Parts]] = []

    def respond(head: bytes, peer: Peer) -> tuple[list[bytes], bool]:
        parts = _Parts([b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", b"ok\n"])
        sent.append(weakref.ref(parts))
        return parts, False

    server = HttpServer("127.0.0.1", 0, respond, Limits(workers=2))
    server.start()
    try:
        with socket.create_connection(server.address, timeout=5) as client:
            for _ in range(3):
                client.sendall(HEALTHZ)
                assert response(client).startswith(b"HTTP/1.1 200 ")
                wait_for(lambda: sent[-1]() is None, timeout=2, message="the response let go")
    finally:
        server.stop()


def test_a_new_connection_has_a_deadline_from_connecting_that_bytes_do_not_extend(
    serve: Callable[..., WebServer],
) -> None:
    """Issue 19 item 10: a new connection's first byte restarted its deadline, so a slow
    client held it for up to twice the request timeout."""
    server = serve(Limits(request_timeout=0.8))
    with connect(server) as client:
        began = time.monotonic()
        time.sleep(0.5)
        client.sendall(b"GET /healthz HTTP/1.1\r\n")  # late: no new deadline for it
        assert client.recv(1) == b""
        assert 0.7 < time.monotonic() - began < 1.1


def serving_threads() -> Counter[str]:
    return Counter(t.name for t in threading.enumerate() if t.name.startswith("een-http"))


def test_slow_clients_hold_no_worker(serve: Callable[..., WebServer]) -> None:
    others = serving_threads()  # servers of session-wide fixtures
    server = serve(Limits(workers=1))
    slow = [connect(server) for _ in range(50)]
    try:
        for connection in slow:
            connection.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Drip: ")
        began = time.monotonic()
        assert requests.get(f"http://127.0.0.1:{server.address[1]}/healthz", timeout=5).ok
        assert time.monotonic() - began < 1
        # 1 + workers, however many connections:
        assert serving_threads() - others == Counter(["een-http", "een-http-worker-0"])
    finally:
        for connection in slow:
            connection.close()


def threads(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:")))


def test_a_thousand_idle_connections_cost_no_thread_and_slow_no_scrape(sim: Simulator) -> None:
    """400 idle connections used to give the process 407 threads, closed by nothing."""
    exporter = ExporterProcess(sim.url)
    try:
        exporter.wait_ready()
        url = exporter.url + "/metrics"
        before = threads(exporter.popen.pid)
        idle = [socket.create_connection(("127.0.0.1", exporter.port)) for _ in range(1000)]
        try:
            latencies = []
            for _ in range(10):
                began = time.monotonic()
                response = requests.get(url, timeout=10)
                latencies.append(time.monotonic() - began)
                assert response.status_code == 200
            during = threads(exporter.popen.pid)
            still_open = sum(1 for connection in idle if _open(connection))
        finally:
            for connection in idle:
                connection.close()
    finally:
        exporter.stop()
    print(
        f"\n1,000 idle connections: threads {before} -> {during}; scrape latency "
        f"median {statistics.median(latencies) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
    )
    assert still_open == 1000, "the idle connections were all still held during the scrapes"
    assert during <= before + 1, f"threads grew from {before} to {during}"
    assert max(latencies) < 1.0


def _open(connection: socket.socket) -> bool:
    """Still open and idle from the server's side: nothing to read (no 503), no end of stream."""
    connection.setblocking(False)
    try:
        connection.recv(1)
    except BlockingIOError:
        return True
    finally:
        connection.setblocking(True)
    return False


def test_many_requests_on_one_connection_keep_the_server_small(
    serve: Callable[..., WebServer],
) -> None:
    server = serve()
    with connect(server) as client:
        for _ in range(500):
            client.sendall(HEALTHZ)
            assert response(client).endswith(b"ok\n")
    assert len(server._server._deadlines) <= 4 * server.open_connections() + 64
