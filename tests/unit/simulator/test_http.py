"""Request parsing of the simulator's HTTP front end."""

from __future__ import annotations

import asyncio

import pytest

from exporter.simulator.http import (
    MAX_HEAD_BYTES,
    HttpError,
    Request,
    Response,
    parse_head,
    read_request,
    split_query,
)
from exporter.simulator.server import is_loopback


def request(head: str, body: bytes = b"") -> Request:
    parsed = parse_head(head.replace("\n", "\r\n").encode() + b"\r\n\r\n", "127.0.0.1")
    parsed.body = body
    return parsed


def test_query_splits_on_ampersand_and_semicolon() -> None:
    assert split_query("id=x;timestamp=y&A=c001~z") == {"id": "x", "timestamp": "y", "A": "c001~z"}
    assert split_query("a=1&a=2&b=%20+&&flag") == {"a": "1", "b": "  ", "flag": ""}


def test_headers_and_cookies() -> None:
    parsed = request(
        "GET /g/device/list?t=camera HTTP/1.1\nHost: x\nCookie: a=1; auth_key=c001~ab\n"
        'cookie: other="q"\nX-Empty:'
    )
    assert parsed.path == "/g/device/list"
    assert parsed.query == {"t": "camera"}
    assert parsed.cookies == {"a": "1", "auth_key": "c001~ab", "other": "q"}
    assert parsed.headers["x-empty"] == ""
    assert parsed.session_key() == "c001~ab"


def test_session_key_precedence() -> None:
    form = "Content-Type: application/x-www-form-urlencoded"
    head = f"POST /g/x?A=query HTTP/1.1\nCookie: auth_key=cookie\n{form}"
    assert request(head, b"A=form").session_key() == "query"
    head = f"POST /g/x HTTP/1.1\nCookie: auth_key=cookie\n{form}"
    assert request(head, b"A=form").session_key() == "form"
    head = "POST /g/x HTTP/1.1\nCookie: auth_key=cookie\nContent-Type: application/json"
    assert request(head, b'{"A": "json"}').session_key() == "json"
    assert request(head, b"{bad json").session_key() == "cookie"
    assert request("GET /g/x HTTP/1.1").session_key() is None


def test_fields_come_from_json_or_form() -> None:
    json_head = "POST /x?k=q HTTP/1.1\nContent-Type: application/json; charset=utf-8"
    assert request(json_head, b'{"k": 1}').fields() == {"k": 1}
    assert request("POST /x HTTP/1.1", b"k=v&n=2").fields() == {"k": "v", "n": "2"}
    assert request("POST /x HTTP/1.1", b'{"k": "sniffed"}').fields() == {"k": "sniffed"}
    with pytest.raises(HttpError) as bad:
        request(json_head, b"[1]").fields()
    assert bad.value.status == 400


def test_keep_alive_rules() -> None:
    assert request("GET / HTTP/1.1").keep_alive
    assert not request("GET / HTTP/1.1\nConnection: Close").keep_alive
    assert not request("GET / HTTP/1.0").keep_alive
    assert request("GET / HTTP/1.0\nConnection: keep-alive").keep_alive
    assert request("GET / HTTP/1.1\nUpgrade: WebSocket").is_websocket


def test_response_serialization() -> None:
    response = Response.json({"a": 1}, 201)
    response.headers.append(("Set-Cookie", "k=v"))
    head, _, body = response.serialize(keep_alive=False).partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 201 Created"
    assert "Content-Length: 7" in lines
    assert "Connection: close" in lines
    assert "Set-Cookie: k=v" in lines
    assert body == b'{"a":1}'
    assert Response.error(463).serialize(True).startswith(b"HTTP/1.1 463 Unknown")


def read(data: bytes, written: list[bytes] | None = None) -> Request | None:
    async def run() -> Request | None:
        reader = asyncio.StreamReader(limit=MAX_HEAD_BYTES)
        reader.feed_data(data)
        reader.feed_eof()
        return await read_request(reader, "::1", (written if written is not None else []).append)

    return asyncio.run(run())


def test_read_request() -> None:
    parsed = read(b"POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcdef")
    assert parsed is not None
    assert parsed.body == b"abc"
    assert read(b"") is None
    written: list[bytes] = []
    read(b"POST /a HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx", written)
    assert written == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    for data, status in (
        (b"GET / HTTP/1.1\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", 413),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * MAX_HEAD_BYTES + b"\r\n\r\n", 431),
    ):
        with pytest.raises(HttpError) as refused:
            read(data)
        assert refused.value.status == status


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.9.9.9", True), ("::1", True), ("10.0.0.1", False),
     ("192.168.1.5", False), ("", False), ("not-an-ip", False)],
)  # fmt: skip
def test_control_api_peers(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_json_sent_as_a_form_is_still_json() -> None:
    form = "POST /x HTTP/1.1\nContent-Type: application/x-www-form-urlencoded"
    assert request(form, b'{"status": 503}').fields() == {"status": 503}
    assert request(form, b"status=503").fields() == {"status": "503"}
