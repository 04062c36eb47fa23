"""What the v3 handlers share on the wire (een-api-v3.md): the ApiV3Error body (§6), the
bearer check, ISO 8601 timestamps (§5.1) and keyset pagination (§4.2)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from exporter.simulator.http import Request, Response
from exporter.simulator.v3.tokens import AccessToken, TokenStore

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500  # OAS range 1-500; outside values are clamped, not refused (§4.2)

_STATUS_NAMES = {
    400: "invalidArgument",
    401: "unauthenticated",
    403: "permissionDenied",
    404: "notFound",
    405: "methodNotSupported",
    409: "conflict",
    429: "tooManyRequests",
    500: "internal",
    503: "unavailable",
}


class ApiError(Exception):
    """A v3 API error, answered with the ApiV3Error body (§6)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


def error_response(status: int, reason: str, message: str, path: str) -> Response:
    body = {
        "code": status,
        "status": _STATUS_NAMES.get(status, "unknown"),
        "message": message,
        "details": [
            {
                "type": "errorInfo",
                "reason": reason,
                "domain": "apiv3",
                "metadata": {"path": path},
            }
        ],
    }
    return Response.json(body, status)


def iso_timestamp(moment: float) -> str:
    """ISO 8601 UTC with milliseconds and `+00:00`, as EEN writes and wants them (§5.1)."""
    stamp = datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("Z", "+00:00")


def bad_argument(message: str) -> ApiError:
    return ApiError(400, "wrongArgumentValue", message)


def bearer(request: Request, tokens: TokenStore) -> AccessToken:
    """The live access token of the Authorization header, or 401."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    token = tokens.access(value.strip()) if scheme.lower() == "bearer" else None
    if token is None:
        raise ApiError(
            401,
            "unauthenticated",
            "The client caller does not have a valid authentication credential",
        )
    return token


# -- pagination -----------------------------------------------------------------------------------

Key = tuple[str, str]
T = TypeVar("T")
_SORTS = {"+name": False, "-name": True}


def paginate(
    items: list[T], params: dict[str, str], key: Callable[[T], Key]
) -> tuple[list[T], str, str]:
    """One page of `items` and its next/previous page tokens ("" when there is none).

    Keyset pagination on (name, id): devices added or removed between pages shift nothing.
    """
    sort = params.get("sort", "+name")
    if sort not in _SORTS:
        raise bad_argument('sort: only "+name" and "-name" are simulated')
    descending = _SORTS[sort]
    ordered = sorted(items, key=key, reverse=descending)
    size = _page_size(params.get("pageSize"))

    def before(a: Key, b: Key) -> bool:  # a comes before b in this order
        return a > b if descending else a < b

    start = 0
    token = params.get("pageToken")
    if token:
        direction, anchor = _decode_token(token)
        keys = [key(item) for item in ordered]
        if direction == "after":
            start = next((i for i, k in enumerate(keys) if before(anchor, k)), len(keys))
        else:
            end = next((i for i, k in enumerate(keys) if not before(k, anchor)), len(keys))
            start = max(0, end - size)
    page = ordered[start : start + size]
    more = start + size < len(ordered)
    next_token = _encode_token("after", key(page[-1])) if page and more else ""
    prev_token = _encode_token("before", key(page[0])) if page and start > 0 else ""
    return page, next_token, prev_token


def _page_size(value: str | None) -> int:
    if value is None:
        return DEFAULT_PAGE_SIZE
    try:
        size = int(value)
    except ValueError:
        raise bad_argument("pageSize must be an integer") from None
    return min(max(size, 1), MAX_PAGE_SIZE)


def _encode_token(direction: str, anchor: Key) -> str:
    raw = json.dumps([direction, *anchor], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str) -> tuple[str, Key]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        direction, name, device_id = json.loads(raw)
    except (ValueError, TypeError, binascii.Error):
        raise bad_argument("pageToken is not valid") from None
    if direction not in ("after", "before") or not isinstance(name, str):
        raise bad_argument("pageToken is not valid")
    return direction, (name, str(device_id))
