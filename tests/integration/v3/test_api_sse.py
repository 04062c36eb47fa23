"""exporter.v3's REST and SSE building blocks against the simulator (een-api-v3.md §3-5)."""

from __future__ import annotations

import ssl
import threading
from pathlib import Path
from typing import Any

import pytest
import requests

from exporter.simulator import Simulator, WorldSpec
from exporter.simulator.v3.status import connection_status
from exporter.simulator.v3.tokens import V3Settings
from exporter.simulator.world import DeviceType
from exporter.v3.api import ApiError, V3Client, api_base
from exporter.v3.sse import (
    ConnectionClosed,
    Stalled,
    events,
    open_stream,
    status_change,
)
from tests.integration.conftest import MakeSimulator
from tests.pki import Authority
from tests.support import wait_for

CLIENT = ("demo-client", "demo-secret")


def reseller_token(sim: Simulator) -> str:
    code = requests.post(f"{sim.url}/_sim/v3/code", json={}, timeout=10).json()["code"]
    answer = requests.post(
        f"{sim.url}/oauth2/token",
        auth=CLIENT,
        data={"grant_type": "authorization_code", "code": code},
        timeout=10,
    )
    return str(answer.json()["access_token"])


def truth(sim: Simulator, account_id: str) -> dict[str, str]:
    state = requests.get(f"{sim.url}/_sim/state", timeout=10).json()
    account = next(a for a in state["accounts"] if a["id"] == account_id)
    return {
        d["id"]: connection_status(DeviceType(d["type"]), d["status"]).value
        for d in account["devices"]
    }


def test_accounts_end_user_tokens_and_devices_equal_the_world(sim: Simulator) -> None:
    client = V3Client()
    base = f"{sim.url}/api/v3.0"  # EEN_URL other than EEN's: every call stays on it
    reseller = reseller_token(sim)
    accounts = client.accounts(base, reseller)
    assert accounts[0].type == "reseller"
    for account in accounts[1:]:
        token = client.end_user_token(sim.url, reseller, account.id)
        assert (token.api_hostname, token.api_port) == ("127.0.0.1", sim.port)
        devices = client.devices(base, token.value)
        assert {d.id: d.status for d in devices} == truth(sim, account.id)
        cameras = [d for d in devices if d.kind == "camera"]
        assert all(d.bridge_id for d in cameras)


def test_every_page_is_read(make_sim: MakeSimulator) -> None:
    sim = make_sim(WorldSpec(accounts=1, bridges=2, cameras=1203))
    client = V3Client()
    reseller = reseller_token(sim)
    account = client.accounts(f"{sim.url}/api/v3.0", reseller)[1]
    token = client.end_user_token(sim.url, reseller, account.id)
    devices = client.devices(f"{sim.url}/api/v3.0", token.value)
    assert len(devices) == 1205
    assert len({d.id for d in devices}) == 1205


def test_refusals_carry_status_and_retry_after(sim: Simulator) -> None:
    client = V3Client()
    base = f"{sim.url}/api/v3.0"
    with pytest.raises(ApiError) as unauthenticated:
        client.accounts(base, "not-a-token")
    assert unauthenticated.value.status == 401
    assert "not-a-token" not in str(unauthenticated.value)
    reseller = reseller_token(sim)
    requests.post(
        f"{sim.url}/_sim/faults/v3/http",
        json={"status": 429, "count": 1, "retry_after": 4},
        timeout=10,
    )
    with pytest.raises(ApiError) as limited:
        client.accounts(base, reseller)
    assert (limited.value.status, limited.value.retry_after) == (429, 4)
    with pytest.raises(ApiError) as foreign:
        client.end_user_token(sim.url, reseller, "99999999")
    assert foreign.value.status == 404


def test_api_base_from_https_base_url() -> None:
    assert api_base("api.c001.eagleeyenetworks.com", 443) == (
        "https://api.c001.eagleeyenetworks.com/api/v3.0"
    )
    assert api_base("127.0.0.1", 8443) == "https://127.0.0.1:8443/api/v3.0"


def subscription(sim: Simulator) -> tuple[str, str, str]:
    """(end-user token, camera id, sseUrl) of a status subscription to one camera."""
    client = V3Client()
    reseller = reseller_token(sim)
    account = client.accounts(f"{sim.url}/api/v3.0", reseller)[1]
    token = client.end_user_token(sim.url, reseller, account.id).value
    camera = next(d.id for d in client.devices(f"{sim.url}/api/v3.0", token) if d.kind == "camera")
    created = requests.post(
        f"{sim.url}/api/v3.0/eventSubscriptions",
        headers={"Authorization": f"Bearer {token}"},
        json={"deliveryConfig": {"type": "serverSentEvents.v1"},
              "filters": [{"actors": [f"camera:{camera}"],
                           "types": [{"id": "een.deviceCloudStatusUpdateEvent.v1"}]}]},
        timeout=10,
    ).json()  # fmt: skip
    return token, camera, str(created["deliveryConfig"]["sseUrl"])


class Consumer:
    """Runs the SSE reader on a thread; records what it saw and how it ended."""

    def __init__(self, url: str, token: str, deadline: float) -> None:
        self.reader = open_stream(url, token, deadline)
        self.items: list[dict[str, Any] | None] = []
        self.ending: BaseException | str | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Hang up from this thread: shut the socket down (closing the response under a
        reading thread races), then wait for the reader to finish."""
        self.reader.interrupt()
        self.thread.join(5)
        self.reader.close()

    def _run(self) -> None:
        try:
            for item in events(self.reader):
                self.items.append(item)
            self.ending = "clean"
        except (ConnectionClosed, Stalled) as exc:
            self.ending = exc


@pytest.fixture
def sse_sim(make_sim: MakeSimulator) -> Simulator:
    settings = V3Settings(sse_keepalive_seconds=0.2)
    return make_sim(WorldSpec(accounts=1, bridges=1, cameras=3), v3=settings)


def test_status_events_become_status_changes(sse_sim: Simulator) -> None:
    token, camera, url = subscription(sse_sim)
    consumer = Consumer(url, token, deadline=5)
    requests.put(
        f"{sse_sim.url}/_sim/v3/devices/{camera}/status",
        json={"connectionStatus": "invalidCredentials"},
        timeout=10,
    )
    changes = wait_for(
        lambda: [c for e in consumer.items if e and (c := status_change(e))], timeout=5
    )
    assert [(c.actor_id, c.status) for c in changes] == [(camera, "invalidCredentials")]
    # Keep-alives are reported too, so that a caller can reset its deadline on them.
    wait_for(lambda: None in consumer.items, timeout=5, message="a keep-alive")
    consumer.stop()


def test_a_cut_a_stall_and_a_clean_end_are_told_apart(sse_sim: Simulator) -> None:
    token, _, url = subscription(sse_sim)
    cut = Consumer(url, token, deadline=5)
    wait_for(lambda: cut.items, timeout=5)
    requests.post(f"{sse_sim.url}/_sim/faults/v3/drop-sse", json={}, timeout=10)
    cut.thread.join(5)
    assert isinstance(cut.ending, ConnectionClosed)

    stalled = Consumer(url, token, deadline=0.8)
    wait_for(lambda: stalled.items, timeout=5)
    requests.post(f"{sse_sim.url}/_sim/faults/v3/stall-sse", json={}, timeout=10)
    stalled.thread.join(5)
    assert isinstance(stalled.ending, Stalled)
    requests.post(f"{sse_sim.url}/_sim/faults/reset", json={}, timeout=10)
    stalled.stop()
    wait_for(
        lambda: not requests.get(f"{sse_sim.url}/_sim/v3/state", timeout=10).json()["sse_streams"],
        message="the server to notice the stalled client left",
    )

    ended = Consumer(url, token, deadline=5)
    wait_for(lambda: ended.items, timeout=5)
    requests.post(f"{sse_sim.url}/_sim/faults/v3/expire-tokens", json={}, timeout=10)
    ended.thread.join(5)
    assert ended.ending == "clean"
    with pytest.raises(ApiError) as refused:
        open_stream(url, token, 5)
    assert refused.value.status == 401


def test_the_reader_reads_off_a_tls_socket(
    make_sim: MakeSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EEN serves SSE over HTTPS: the reader takes the TLS socket over from requests, and
    whatever requests' buffered file had already read of the body comes first."""
    authority = Authority(tmp_path / "pki")
    server = authority.server()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(server.cert, server.key)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(authority.cert))
    sim = make_sim(
        WorldSpec(accounts=1, bridges=1, cameras=3),
        v3=V3Settings(sse_keepalive_seconds=0.2),
        tls=context,
    )
    assert sim.url.startswith("https://")
    token, camera, url = subscription(sim)
    assert url.startswith("https://")
    consumer = Consumer(url, token, deadline=5)
    wait_for(lambda: None in consumer.items, timeout=5, message="a keep-alive")
    requests.put(
        f"{sim.url}/_sim/v3/devices/{camera}/status", json={"connectionStatus": "off"}, timeout=10
    )
    changes = wait_for(
        lambda: [c for e in consumer.items if e and (c := status_change(e))], timeout=5
    )
    assert [(c.actor_id, c.status) for c in changes] == [(camera, "off")]
    requests.post(f"{sim.url}/_sim/faults/v3/expire-tokens", json={}, timeout=10)
    consumer.thread.join(5)
    assert consumer.ending == "clean"
    consumer.stop()
