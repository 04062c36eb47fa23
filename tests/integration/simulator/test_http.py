"""The simulator's own HTTP/1.1 front end, spoken to over a raw socket."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from exporter.simulator import Simulator

TIMEOUT = 10.0


@pytest.fixture
def conn(sim: Simulator) -> Iterator[socket.socket]:
    address = urlsplit(sim.url)
    assert address.hostname is not None
    assert address.port is not None
    with socket.create_connection((address.hostname, address.port), timeout=TIMEOUT) as sock:
        yield sock


def read_response(sock: socket.socket) -> tuple[str, dict[str, str], bytes]:
    """Status line, headers (lower-case names) and body of the next response."""
    with sock.makefile("rb", buffering=0) as stream:  # unbuffered: leaves the next response
        status = stream.readline().decode("latin-1").strip()
        assert status, "connection closed before a response"
        headers = {}
        while line := stream.readline().decode("latin-1").strip():
            name, _, value = line.partition(":")
            headers[name.lower()] = value.strip()
        body = stream.read(int(headers["content-length"]))
    return status, headers, body


def is_closed(sock: socket.socket) -> bool:
    return sock.recv(1) == b""


def test_keep_alive_serves_several_requests(conn: socket.socket) -> None:
    for _ in range(3):
        conn.sendall(b"GET /g/aaa/isauth HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, body = read_response(conn)
        assert status == "HTTP/1.1 401 Unauthorized"
        assert headers["connection"] == "keep-alive"
        assert headers["content-type"] == "application/json"
        assert b'"status_code":401' in body


def test_pipelined_requests_are_answered_in_order(conn: socket.socket) -> None:
    conn.sendall(
        b"GET /g/aaa/isauth HTTP/1.1\r\nHost: x\r\n\r\nGET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert read_response(conn)[0].endswith("401 Unauthorized")
    assert read_response(conn)[0].endswith("404 Not Found")


def test_connection_close_is_honoured(conn: socket.socket) -> None:
    conn.sendall(b"GET /g/aaa/isauth HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert read_response(conn)[1]["connection"] == "close"
    assert is_closed(conn)


def test_http_1_0_closes_by_default(conn: socket.socket) -> None:
    conn.sendall(b"GET /g/aaa/isauth HTTP/1.0\r\n\r\n")
    assert read_response(conn)[0].startswith("HTTP/1.1 401")
    assert is_closed(conn)


def test_a_form_body_with_content_length(conn: socket.socket) -> None:
    body = b"username=demo%40example.com&password=demo"
    conn.sendall(
        b"POST /g/aaa/authenticate HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    status, _, response = read_response(conn)
    assert status == "HTTP/1.1 200 OK"
    assert response.startswith(b'{"token":')


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"NONSENSE\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", 400),
        (b"POST /g/aaa/authenticate HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400),
        (b"POST /g/aaa/authenticate HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
    ],
)
def test_malformed_requests_get_one_error_and_a_close(
    conn: socket.socket, request_bytes: bytes, status: int
) -> None:
    conn.sendall(request_bytes)
    line, headers, _ = read_response(conn)
    assert line.split()[1] == str(status)
    assert headers["connection"] == "close"
    assert is_closed(conn)
