"""Request parsing of the simulator's HTTP front end."""

from __future__ import annotations

import asyncio

import pytest
import urllib3
from hypothesis import given
from hypothesis import strategies as st

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
from tests.support import fuzz


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


# -- multipart/form-data (what PHP's curl sends for an array, and `curl -F`) ---------------------

MULTIPART_HEAD = (
    "POST /g/aaa/authenticate HTTP/1.1\nContent-Type: multipart/form-data; boundary=XyZ"
)


def multipart(*parts: bytes, close: bytes = b"--XyZ--\r\n") -> bytes:
    return b"".join(b"--XyZ\r\n" + part + b"\r\n" for part in parts) + close


def field(name: str, value: bytes, extra: str = "") -> bytes:
    return f'Content-Disposition: form-data; name="{name}"{extra}\r\n\r\n'.encode() + value


def test_multipart_fields() -> None:
    body = multipart(
        field("username", "dëmo@example.com".encode()),
        field("password", b"two\r\nlines"),
        field("password", b"second value loses"),
        field("file", b"content", '; filename="a.txt"\r\nContent-Type: text/plain'),
    )
    assert request(MULTIPART_HEAD, body).fields() == {
        "username": "dëmo@example.com",
        "password": "two\r\nlines",
        "file": "content",
    }


def test_multipart_as_urllib3_encodes_it() -> None:
    body, content_type = urllib3.encode_multipart_formdata({"token": "abc", "A": "c001~key"})
    head = f"POST /g/aaa/authorize?x=1 HTTP/1.1\nContent-Type: {content_type}"
    parsed = request(head, body)
    assert parsed.fields() == {"x": "1", "token": "abc", "A": "c001~key"}
    assert parsed.session_key() == "c001~key"  # the A parameter in the POST data


@pytest.mark.parametrize(
    ("head", "body"),
    [
        ("POST /x HTTP/1.1\nContent-Type: multipart/form-data", multipart(field("a", b"1"))),
        (MULTIPART_HEAD.replace("XyZ", "other"), multipart(field("a", b"1"))),
        (MULTIPART_HEAD, b"not multipart at all"),
        (MULTIPART_HEAD, multipart(field("a", b"1"), close=b"")),
        (MULTIPART_HEAD, multipart(b"Content-Disposition: form-data\r\n\r\nno name")),
        (MULTIPART_HEAD, multipart(b"Content-Disposition: attachment; name=a\r\n\r\n1")),
        (MULTIPART_HEAD, multipart(b"Content-Type: text/plain\r\n\r\nno disposition")),
        (MULTIPART_HEAD, multipart(field("a", b"!!!", "\r\nContent-Transfer-Encoding: base64"))),
        (MULTIPART_HEAD, multipart(field("a", b"1", "\r\nContent-Type: text/plain; charset=nope"))),
    ],
    ids=[
        "no-boundary", "wrong-boundary", "garbage", "unclosed", "no-name", "not-form-data",
        "no-disposition", "bad-base64", "unknown-charset",
    ],
)  # fmt: skip
def test_a_malformed_multipart_body_is_a_400(head: str, body: bytes) -> None:
    parsed = request(head, body)
    with pytest.raises(HttpError) as bad:
        parsed.fields()
    assert bad.value.status == 400
    assert parsed.session_key() is None  # the handler gives the 400; the key lookup does not


@fuzz(200)
@given(st.binary(max_size=300), st.sampled_from(["XyZ", "", "a b", '"q"']))
def test_any_multipart_body_parses_or_is_a_400(body: bytes, boundary: str) -> None:
    head = f"POST /x HTTP/1.1\nContent-Type: multipart/form-data; boundary={boundary}"
    fields: dict[str, object] = {}
    status = 200
    try:
        fields = request(head, b"--XyZ\r\n" + body).fields()
    except HttpError as exc:
        status = exc.status
    assert status in (200, 400)
    assert all(isinstance(value, str) for value in fields.values())
