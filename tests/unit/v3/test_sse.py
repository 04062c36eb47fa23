"""Status changes in v3 events: only an open span is the current status (een-api-v3.md §5.1)."""

from __future__ import annotations

from typing import Any

import pytest

from exporter.v3.sse import StatusChange, status_change


def event(end: str | None = None, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "e1",
        "type": "een.deviceCloudStatusUpdateEvent.v1",
        "startTimestamp": "2026-01-01T00:00:00.000+00:00",
        "endTimestamp": end,
        "actorType": "camera",
        "actorId": "100d4c41",
        "data": [
            {"type": "een.deviceCloudStatusUpdate.v1", "newStatus": {"connectionStatus": "off"}}
        ],
    }
    return {**base, **overrides}


def test_an_open_span_is_the_current_status() -> None:
    assert status_change(event()) == StatusChange(
        "camera", "100d4c41", "off", "2026-01-01T00:00:00.000+00:00"
    )


@pytest.mark.parametrize(
    "other",
    [
        event(end="2026-01-01T00:01:00.000+00:00"),  # a span that ended: the past
        event(type="een.motionDetectionEvent.v1"),
        event(data=[]),
        event(data=[{"type": "een.deviceCloudStatusUpdate.v1", "newStatus": {}}]),
        event(data=["not an object"]),
        event(actorId=None),
    ],
)
def test_anything_else_is_no_status(other: dict[str, Any]) -> None:
    assert status_change(other) is None
