"""A minimal HTTP/1.1 server side: read one request, write one response.

Just what the EEN v1 surface needs: request line, headers, Content-Length bodies, keep-alive,
JSON, form-urlencoded and multipart/form-data bodies, cookies, query strings split on `&` and `;`.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import email.utils
import http
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar
from urllib.parse import unquote, unquote_plus, urlsplit

MAX_HEAD_BYTES = 256 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024
SERVER_NAME = "openresty"  # what the real cloud's front end calls itself


class HttpError(Exception):
    """A request the server answers with `status` and then closes the connection."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def split_query(query: str) -> dict[str, str]:
    """Parse a query string; EEN accepts `;` as well as `&` between pairs. First value wins."""
    params: dict[str, str] = {}
    for pair in re.split(r"[&;]", query):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        params.setdefault(unquote_plus(name), unquote_plus(value))
    return params


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]  # lower-case names
    raw_head: bytes
    peer_host: str
    body: bytes = b""

    @cached_property
    def path(self) -> str:
        return unquote(urlsplit(self.target).path)

    @cached_property
    def query(self) -> dict[str, str]:
        return split_query(urlsplit(self.target).query)

    @cached_property
    def cookies(self) -> dict[str, str]:
        # A plain split: SimpleCookie silently stops at the first cookie it dislikes.
        cookies: dict[str, str] = {}
        for pair in self.headers.get("cookie", "").split(";"):
            name, equals, value = pair.strip().partition("=")
            if equals and name:
                cookies.setdefault(name, value.strip().strip('"'))
        return cookies

    @property
    def keep_alive(self) -> bool:
        tokens = {token.strip().lower() for token in self.headers.get("connection", "").split(",")}
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens

    @property
    def is_websocket(self) -> bool:
        return self.headers.get("upgrade", "").lower() == "websocket"

    @property
    def media_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @cached_property
    def form(self) -> dict[str, str]:
        """Form body fields, url-encoded or multipart (empty for other bodies).

        Raises HttpError(400) on a malformed multipart body.
        """
        if not self._is_form:
            return {}
        if self.media_type == MULTIPART:
            return multipart_fields(self.headers["content-type"], self.body)
        return split_query(self.body.decode("utf-8", errors="replace"))

    @cached_property
    def json_body(self) -> dict[str, Any]:
        """JSON object body (empty for other bodies). Raises HttpError(400) on bad JSON."""
        if self._is_form or not self.body.strip():
            return {}
        try:
            value = json.loads(self.body)
        except ValueError:
            raise HttpError(400, "request body is not valid JSON") from None
        if not isinstance(value, dict):
            raise HttpError(400, "JSON request must be a JSON object")
        return value

    @property
    def _is_form(self) -> bool:
        if self.media_type == "application/json":
            return False
        if self.media_type == MULTIPART:
            return bool(self.body)
        # Sniff otherwise: `curl -d '{...}'` declares a form but sends JSON.
        return not self.body.lstrip().startswith(b"{")

    def fields(self) -> dict[str, Any]:
        """Parameters from the query string, overridden by form or JSON body fields."""
        return {**self.query, **self.form, **self.json_body}

    def session_key(self) -> str | None:
        """The session key; `A` in query > `A` in form > `A` in body > cookie (een-api.md §1.6)."""
        for source in (self.query, self._body_or_empty("form"), self._body_or_empty("json_body")):
            value = source.get("A")
            if isinstance(value, str) and value:
                return value
        # Under either name the real cloud has used for it (een-api.md §1.5).
        return self.cookies.get("auth_key") or self.cookies.get("videobank_sessionid") or None

    def _body_or_empty(self, name: str) -> dict[str, Any]:
        # A malformed body is the handler's 400 to give (with its message), not the key's.
        try:
            fields: dict[str, Any] = getattr(self, name)
        except HttpError:
            return {}
        return fields


MULTIPART = "multipart/form-data"
_MULTIPART_PARSER = email.parser.BytesParser(policy=email.policy.HTTP)


def multipart_fields(content_type: str, body: bytes) -> dict[str, str]:
    """The fields of a multipart/form-data body (RFC 7578), first value wins; a file part's
    content is its value (what `curl -F name=@file` sends).

    The standard library's MIME parser does the work: it records what it had to guess at as
    defects, and any defect makes the body malformed (HttpError 400).
    """
    if "\r" in content_type or "\n" in content_type:
        raise HttpError(400, "malformed multipart/form-data body")
    message = _MULTIPART_PARSER.parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    if not message.is_multipart() or message.defects:
        raise HttpError(400, "malformed multipart/form-data body")
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        valid = part.get_content_disposition() == "form-data" and isinstance(name, str)
        if not valid or not isinstance(payload, bytes) or part.defects:
            raise HttpError(400, "malformed multipart/form-data part")
        charset = part.get_content_charset() or "utf-8"
        try:
            value = payload.decode(charset, errors="replace")
        except LookupError:
            raise HttpError(400, f"unknown charset in a multipart part: {charset}") from None
        fields.setdefault(str(name), value)
    return fields


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, payload: object, status: int = 200) -> Response:
        body = json.dumps(payload, separators=(",", ":")).encode()
        return cls(status, body, "application/json")

    @classmethod
    def error(cls, status: int, message: str | None = None) -> Response:
        text = message or _reason(status)
        return cls.json({"status_code": status, "message": text}, status)

    def serialize(self, keep_alive: bool) -> bytes:
        lines = [
            f"HTTP/1.1 {self.status} {_reason(self.status)}",
            f"Server: {SERVER_NAME}",
            f"Date: {email.utils.formatdate(usegmt=True)}",
            f"Content-Length: {len(self.body)}",
            f"Connection: {'keep-alive' if keep_alive else 'close'}",
        ]
        if self.content_type:
            lines.append(f"Content-Type: {self.content_type}")
        lines.extend(f"{name}: {value}" for name, value in self.headers)
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


async def read_request(
    reader: asyncio.StreamReader, peer_host: str, write: Callable[[bytes], object] | None = None
) -> Request | None:
    """Read one request; None when the client closed the connection between requests.

    `write` sends interim responses (100 Continue) before the body is read.
    """
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise HttpError(400, "incomplete request head") from None
    except asyncio.LimitOverrunError:
        raise HttpError(431, "request head too large") from None
    request = parse_head(head, peer_host)
    if "transfer-encoding" in request.headers:
        raise HttpError(501, "chunked request bodies are not supported; send Content-Length")
    length = _content_length(request.headers.get("content-length", "0"))
    expects_continue = request.headers.get("expect", "").lower() == "100-continue"
    if length and expects_continue and write is not None:
        write(b"HTTP/1.1 100 Continue\r\n\r\n")  # curl waits for this before big bodies
    if length:
        try:
            request.body = await reader.readexactly(length)
        except asyncio.IncompleteReadError:
            raise HttpError(400, "request body shorter than Content-Length") from None
    return request


def parse_head(head: bytes, peer_host: str) -> Request:
    try:
        text = head.decode("latin-1")
        request_line, *header_lines = text.split("\r\n")
        method, target, version = request_line.split(" ")
    except ValueError:
        raise HttpError(400, "malformed request line") from None
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        raise HttpError(505, f"unsupported protocol {version}")
    headers: dict[str, str] = {}
    for line in header_lines:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise HttpError(400, "malformed header line")
        key = name.lower()
        value = value.strip()
        if key in headers:
            separator = "; " if key == "cookie" else ", "
            value = headers[key] + separator + value
        headers[key] = value
    return Request(method, target, version, headers, head, peer_host)


def _content_length(value: str) -> int:
    if not value.isdigit():
        raise HttpError(400, "bad Content-Length")
    length = int(value)
    if length > MAX_BODY_BYTES:
        raise HttpError(413, "request body too large")
    return length


Context = TypeVar("Context")
Route = tuple[str, re.Pattern[str], Callable[[Request, Context, dict[str, str]], Response]]


def dispatch(request: Request, routes: list[Route[Context]], context: Context) -> Response:
    """Answer with the first route matching the path and method; 404 or 405 (with Allow) if none."""
    allowed = []
    for method, pattern, handler in routes:
        match = pattern.fullmatch(request.path.rstrip("/"))
        if match is None:
            continue
        if method == request.method:
            try:
                return handler(request, context, match.groupdict())
            except HttpError as exc:
                return Response.error(exc.status, exc.message)
        allowed.append(method)
    if not allowed:
        return Response.error(404, "no such control endpoint")
    response = Response.error(405)
    response.headers.append(("Allow", ", ".join(allowed)))
    return response
