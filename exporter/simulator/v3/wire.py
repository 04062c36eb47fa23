"""What the v3 handlers share on the wire (een-api-v3.md): the ApiV3Error body (§6), the
bearer check, ISO 8601 timestamps (§5.1) and keyset pagination (§4.2)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

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

# A listing's order: a tuple compared ascending, ending in something unique (the id). Callers
# turn descending fields into ascending ones with `descending` (strings) or negation (numbers).
Key = tuple[Any, ...]
T = TypeVar("T")


def descending(text: str) -> tuple[int, ...]:
    """A key for `text` that sorts in reverse order of `text` ("ab" after "abc")."""
    return (*(-ord(c) for c in text), 1)


def paginate(
    items: list[T], params: dict[str, str], key: Callable[[T], Key], order: str = ""
) -> tuple[list[T], str, str]:
    """One page of `items` in `key` order and its next/previous page tokens ("" for none).

    Keyset pagination: a token holds the key of the page's edge, so devices added or removed
    between pages shift nothing. `order` names the sort the keys were made for; a token from
    another sort is refused.
    """
    ordered = sorted(items, key=key)
    size = _page_size(params.get("pageSize"))
    start = 0
    token = params.get("pageToken")
    if token:
        direction, anchor = _decode_token(token, order)
        keys = [key(item) for item in ordered]
        try:
            if direction == "after":
                start = next((i for i, k in enumerate(keys) if anchor < k), len(keys))
            else:
                end = next((i for i, k in enumerate(keys) if not k < anchor), len(keys))
                start = max(0, end - size)
        except TypeError:  # a forged token whose key has another shape
            raise bad_argument("pageToken is not valid") from None
    page = ordered[start : start + size]
    more = start + size < len(ordered)
    next_token = _encode_token("after", order, key(page[-1])) if page and more else ""
    prev_token = _encode_token("before", order, key(page[0])) if page and start > 0 else ""
    return page, next_token, prev_token


def _page_size(value: str | None) -> int:
    if value is None:
        return DEFAULT_PAGE_SIZE
    try:
        size = int(value)
    except ValueError:
        raise bad_argument("pageSize must be an integer") from None
    return min(max(size, 1), MAX_PAGE_SIZE)


def _encode_token(direction: str, order: str, anchor: Key) -> str:
    raw = json.dumps([direction, order, anchor], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _tuples(value: Any) -> Any:
    return tuple(_tuples(item) for item in value) if isinstance(value, list) else value


def _decode_token(token: str, order: str) -> tuple[str, Key]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        direction, token_order, anchor = json.loads(raw)
    except (ValueError, TypeError, binascii.Error):
        raise bad_argument("pageToken is not valid") from None
    if direction not in ("after", "before") or not isinstance(anchor, list):
        raise bad_argument("pageToken is not valid")
    if token_order != order:
        raise bad_argument("pageToken belongs to another sort order")
    return direction, _tuples(anchor)
