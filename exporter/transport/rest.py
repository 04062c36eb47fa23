"""One REST exchange with EEN, bounded the same way for API v1 and v3.

Everything EEN sends is untrusted, and each bound below is one a hostile or broken server
once got around:
- connect and read timeouts, and a deadline for the whole call, from connecting to the
  answer's last byte: requests bounds each read only, so a server trickling its answer a
  byte at a time held a call (and the login gate around it) for ever. deadlines.WATCHDOG
  cuts the socket of a call past its deadline;
- redirects are never followed: requests would send the body (a password, a refresh token,
  an authorization code) and the credentials again, to wherever `Location` points. The
  refusal names the target's host and port only: the rest of a Location may hold anything;
- at most `max_answer` bytes are accepted after decompression, read with read1 so that a
  compression bomb is stopped at the limit, not after it went off;
- JSON nested too deeply is a malformed answer, not a RecursionError (decode_json).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3

from exporter.transport import jsontext
from exporter.transport.deadlines import WATCHDOG, adapter

CHUNK = 64 * 1024  # most bytes one read returns, after decompression


@dataclass(frozen=True)
class RestLimits:
    connect_timeout: float = 10.0
    read_timeout: float = 30.0  # a large account's device list takes a while to start
    deadline: float = 60.0  # for the whole call, headers and body
    # After decompression. A v1 device-list row is about 330 bytes (een-api.md §3.1), so this
    # leaves room for 10,000 devices at five times that.
    max_answer: int = 16 * 1024 * 1024


class Failure(enum.Enum):
    NETWORK = "network"  # refused, reset, timed out, …
    LATE = "late"  # the whole-call deadline passed
    TOO_LARGE = "too large"
    REDIRECT = "redirect"  # refused, never followed
    UNSENDABLE = "unsendable"  # a header http.client cannot encode (latin-1)
    NOT_JSON = "not json"
    TOO_DEEP = "too deep"  # JSON nested deeper than the parser goes


class TransportError(Exception):
    """An exchange that gave no usable answer. `reason` holds no secret: it names at most a
    host and port, never a path, header or body."""

    def __init__(self, failure: Failure, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.failure = failure
        self.reason = reason
        self.status = status  # the HTTP status of a refused redirect


@dataclass(frozen=True)
class Reply:
    """An answer that was not a redirect, its body read (within the limits)."""

    status: int
    reason: str  # the status line's text, as the server sent it
    headers: Mapping[str, str]  # case-insensitive names
    body: bytes = field(repr=False)  # b"" for a refusal that was not read
    set_cookies: tuple[str, ...] = field(default=(), repr=False)

    @property
    def status_line(self) -> str:
        return f"HTTP {self.status} {self.reason}".strip()


def session() -> requests.Session:
    """A requests session whose calls the watchdog can cut, without a cookie jar (a caller
    that needs a cookie sends it by hand, to the host it came from)."""
    client = requests.Session()
    client.mount("http://", adapter())
    client.mount("https://", adapter())
    client.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return client


def exchange(
    http: requests.Session,
    method: str,
    url: str,
    limits: RestLimits,
    *,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    json: object = None,
    data: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    read_refusals: bool = True,
) -> Reply:
    """One call within `limits`; TransportError when it gave no usable answer.

    A 4xx or 5xx answer is a Reply too (its status is the caller's business); its body is
    read only with `read_refusals`, for callers that show the server's reason.
    """
    with WATCHDOG.limit(limits.deadline) as call:
        try:
            response = http.request(
                method,
                url,
                headers=headers,
                params=params,
                json=json,
                data=data,
                auth=auth,
                timeout=(limits.connect_timeout, limits.read_timeout),
                allow_redirects=False,
                stream=True,
            )
        except requests.RequestException as exc:
            raise _network_error(exc, call.cut, limits) from None
        except UnicodeEncodeError:
            # http.client sends headers as latin-1: a credential with other characters.
            raise TransportError(
                Failure.UNSENDABLE, "a header has characters that cannot be sent"
            ) from None
        with response:
            status = response.status_code
            if 300 <= status < 400:
                raise _redirect(response)
            body = b""
            if status < 300 or read_refusals:
                try:
                    body = _read(response.raw, limits.max_answer)
                except (urllib3.exceptions.HTTPError, OSError) as exc:
                    raise _network_error(exc, call.cut, limits) from None
            return Reply(
                status,
                response.reason or "",
                response.headers,
                body,
                tuple(response.raw.headers.getlist("Set-Cookie")),
            )


def decode_json(content: bytes) -> object:
    """The JSON document in `content`; TransportError for what is not JSON, and for JSON
    nested too deeply (the parser's recursion limit is the nesting limit)."""
    try:
        return jsontext.loads(content)
    except ValueError:
        raise TransportError(Failure.NOT_JSON, "answer is not JSON") from None
    except RecursionError:
        raise TransportError(Failure.TOO_DEEP, "answer is JSON nested too deeply") from None


def _read(raw: urllib3.BaseHTTPResponse, limit: int) -> bytes:
    """The whole body, decoded, or TransportError once it outgrows `limit`.

    read1 returns what one network read brought, decompressed at most CHUNK at a time, so a
    compression bomb is stopped at the limit, not after it went off.
    """
    body = bytearray()
    while chunk := raw.read1(CHUNK, decode_content=True):
        body += chunk
        if len(body) > limit:
            raise TransportError(Failure.TOO_LARGE, f"answer larger than {limit} bytes")
    return bytes(body)


def _redirect(response: requests.Response) -> TransportError:
    status = response.status_code
    line = f"HTTP {status} {response.reason or ''}".strip()
    target = host(response.headers.get("Location", ""))
    return TransportError(Failure.REDIRECT, f"{line}: redirect to {target} refused", status)


def _network_error(exc: BaseException, late: bool, limits: RestLimits) -> TransportError:
    if late:  # the watchdog cut the connection: whatever broke, time ran out first
        return TransportError(Failure.LATE, f"answer not complete after {limits.deadline:g}s")
    return TransportError(Failure.NETWORK, describe_network_error(exc))


def host(url: str) -> str:
    """Where a URL points, host and port only: the rest may hold anything."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "an invalid location"
    if not parts.hostname:
        return "the same host"
    return f"{parts.hostname}:{port}" if port else parts.hostname


def describe_network_error(exc: BaseException) -> str:
    """A short reason for a network failure, e.g. 'connection refused' or 'timed out'."""
    if isinstance(exc, requests.Timeout | urllib3.exceptions.TimeoutError | TimeoutError):
        return "timed out"
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower()
        cause = cause.__cause__ or cause.__context__
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "Connection reset"):
        if marker in text:
            return marker.lower()
    return f"network error ({type(exc).__name__})"
