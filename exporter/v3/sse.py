"""Reading an event subscription's server-sent events (docs/een-api-v3.md §5.4), and the
status changes in them (§5.1). A silent stream counts as dead after a read deadline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests

from exporter.v3.api import ApiError

STATUS_EVENT = "een.deviceCloudStatusUpdateEvent.v1"
STATUS_DATA = "een.deviceCloudStatusUpdate.v1"
MAX_EVENT_BYTES = 1024 * 1024


class StreamCut(Exception):
    """The connection broke mid-stream (no clean end)."""


class StreamStalled(Exception):
    """Nothing at all (not even a keep-alive) arrived within the read deadline."""


@dataclass(frozen=True)
class StatusChange:
    actor_type: str  # "camera" or "bridge"
    actor_id: str
    status: str  # connectionStatus (§4.3)
    start: str  # the span's startTimestamp


def status_change(event: dict[str, Any]) -> StatusChange | None:
    """The device's current status, from the event that opens a span; None for anything else.

    An event whose span already ended (`endTimestamp` set) describes the past: EEN sends a
    span's end as well as its start (AS6), and only the open span is the current status.
    """
    if event.get("type") != STATUS_EVENT or event.get("endTimestamp") is not None:
        return None
    for data in event.get("data") or []:
        if isinstance(data, dict) and data.get("type") == STATUS_DATA:
            status = (data.get("newStatus") or {}).get("connectionStatus")
            actor_type, actor_id = event.get("actorType"), event.get("actorId")
            if isinstance(status, str) and isinstance(actor_id, str) and status:
                return StatusChange(
                    str(actor_type), actor_id, status, str(event.get("startTimestamp", ""))
                )
    return None


def open_stream(
    url: str, token: str, read_deadline: float, session: requests.Session | None = None
) -> requests.Response:
    """GET the sseUrl (Bearer, text/event-stream); ApiError unless it answers 200."""
    http = session or requests.Session()
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    try:
        response = http.get(url, headers=headers, stream=True, timeout=(30.0, read_deadline))
    except requests.RequestException as exc:
        raise ApiError(0, f"SSE connect failed: {type(exc).__name__}") from None
    if response.status_code != 200:
        response.close()
        raise ApiError(response.status_code, f"the SSE URL answered {response.status_code}")
    return response


def events(response: requests.Response) -> Iterator[dict[str, Any] | None]:
    """Each event's JSON; None for a keep-alive comment. Ends on a clean end of stream.

    Raises StreamCut or StreamStalled (see above). Data that is not a JSON object is skipped.
    """
    data: list[str] = []
    size = 0
    try:
        for raw in response.iter_lines():
            line = raw.decode("utf-8", errors="replace")
            if line.startswith(":"):
                yield None
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
                size += len(line)
                if size > MAX_EVENT_BYTES:
                    data, size = [], 0  # a runaway event: drop it, keep the stream
            elif not line and data:
                event = _json_object("\n".join(data))
                data, size = [], 0
                if event is not None:
                    yield event
    except requests.exceptions.ConnectionError as exc:
        if _is_read_timeout(exc):
            raise StreamStalled("no data within the read deadline") from None
        raise StreamCut(type(exc).__name__) from None
    except requests.exceptions.ChunkedEncodingError as exc:
        if _is_read_timeout(exc):
            raise StreamStalled("no data within the read deadline") from None
        raise StreamCut(type(exc).__name__) from None
    except OSError as exc:  # the socket itself failed under urllib3
        raise StreamCut(type(exc).__name__) from None


def _is_read_timeout(exc: BaseException) -> bool:
    text = repr(exc)
    return "Read timed out" in text or "ReadTimeout" in text


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
