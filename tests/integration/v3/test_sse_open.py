"""Opening an SSE stream is bounded like every other call to EEN (issue 19, items 3 and 4):
it runs inside the login gate, so a trickled head must be cut, and a redirect must not take
the access token anywhere."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from exporter.v3 import sse
from exporter.v3.api import ApiError
from tests.integration.hostile import HostileServer, answer, response_head, trickle

TOKEN = "access-token-0123456789"


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server


def test_a_redirect_is_refused_and_the_token_goes_nowhere(hostile: HostileServer) -> None:
    with HostileServer() as elsewhere:
        location = f"{elsewhere.url}/sse/v3.0/eventSubscriptions/s1"
        hostile.on("GET", "/sse/.*", answer(307, headers=[("Location", location)]))
        with pytest.raises(ApiError) as raised:
            sse.open_stream(f"{hostile.url}/sse/v3.0/eventSubscriptions/s1", TOKEN, 5.0)
        assert elsewhere.seen == []
    host = location.split("/")[2]
    assert str(raised.value) == f"the SSE URL answered 307: redirect to {host} refused"
    assert TOKEN not in str(raised.value)


def test_a_trickled_head_is_cut_at_the_open_deadline(
    hostile: HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sse, "OPEN_DEADLINE", 1.0)
    head = response_head(200, [("Content-Type", "text/event-stream")], length=None)
    # A byte every 0.2 s: each read is well within the read timeout, the head never ends.
    hostile.on("GET", "/sse/.*", trickle(head * 20, 0.2))
    started = time.monotonic()
    with pytest.raises(ApiError, match=r"SSE head not complete after 1s"):
        sse.open_stream(f"{hostile.url}/sse/v3.0/eventSubscriptions/s1", TOKEN, 5.0)
    assert time.monotonic() - started < 3.0
