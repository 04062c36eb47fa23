"""The poll-stream URL: an account id from EEN goes into its path percent-encoded, and what
websocket-client sends of it reads back as the same id on the simulator (issue 19 item 15:
ids went into the path unencoded, so `a/b?c#d` asked for `/api/v2/Device/a/b` with a query
and a fragment)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websocket._url import parse_url

from exporter.een.api import Credentials, EenSession
from exporter.simulator.http import Request
from exporter.simulator.server import stream_account
from exporter.state.selfmetrics import SelfMetrics
from tests.support import fuzz


@pytest.fixture(scope="module")
def session() -> EenSession:
    credentials = Credentials("https://c001.eagleeyenetworks.com", "user@example.com", "pw")
    return EenSession(credentials, SelfMetrics(), None)  # type: ignore[arg-type]  # no login here


def sent_path(url: str) -> str:
    """The request target websocket-client sends for `url`."""
    _, _, resource, _ = parse_url(url)
    return str(resource)


@pytest.mark.parametrize(
    ("account_id", "url"),
    [
        ("00004206", "wss://c001.eagleeyenetworks.com/api/v2/Device/00004206/Events"),
        ("a/b?c#d", "wss://c001.eagleeyenetworks.com/api/v2/Device/a%2Fb%3Fc%23d/Events"),
        ("../x", "wss://c001.eagleeyenetworks.com/api/v2/Device/..%2Fx/Events"),
        ("50% off", "wss://c001.eagleeyenetworks.com/api/v2/Device/50%25%20off/Events"),
    ],
)
def test_the_account_id_is_percent_encoded_in_the_stream_url(
    session: EenSession, account_id: str, url: str
) -> None:
    assert session.stream_url(account_id) == url
    request = Request("GET", sent_path(url), "HTTP/1.1", {}, b"", "127.0.0.1")
    assert stream_account(request) == account_id


# What the exporter accepts as an id: printable text of at most 256 characters (rows.ID_LIMIT).
ACCOUNT_IDS = st.text(min_size=1, max_size=256).filter(str.isprintable)


@fuzz(examples=200)
@given(ACCOUNT_IDS)
def test_any_account_id_round_trips_through_the_stream_url(account_id: str) -> None:
    credentials = Credentials("http://127.0.0.1:9000", "user@example.com", "pw")
    url = EenSession(credentials, SelfMetrics(), None).stream_url(account_id)  # type: ignore[arg-type]
    path = sent_path(url)
    assert path.startswith("/api/v2/Device/")
    assert path.endswith("/Events")
    assert path.count("/") == 5
    assert "?" not in path
    assert "#" not in path
    assert stream_account(Request("GET", path, "HTTP/1.1", {}, b"", "127.0.0.1")) == account_id
