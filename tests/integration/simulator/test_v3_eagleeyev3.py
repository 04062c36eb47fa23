"""EEN's own PyPI client for API v3, EagleEyev3 (0.0.25), against the simulator with only its
hosts changed: its URLs name EEN's auth and API hosts and the `httpsBaseUrl` hostname without
the port, so every request to https://auth.eagleeyenetworks.com, https://api.eagleeyenetworks.com
or https://<httpsBaseUrl hostname> goes to the simulator's address instead, as DNS and a port
forward would do. Nothing else of the client is touched.

What runs: login (token, clientSettings, users/self?include=timeZone), the accounts listing, a
reseller's switch into an end-user account, the camera and bridge listings and a camera's
status history. Skipped when EagleEyev3 is not installed (`pip install EagleEyev3==0.0.25`).
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from exporter.simulator import Simulator, WorldSpec
from tests.integration.conftest import MakeSimulator
from tests.integration.simulator import v3client

eagleeyev3 = pytest.importorskip("EagleEyev3")

EEN_HOSTS = ("https://auth.eagleeyenetworks.com", "https://api.eagleeyenetworks.com")


@pytest.fixture
def sim(make_sim: MakeSimulator) -> Simulator:
    simulator = make_sim(WorldSpec(accounts=2, bridges=1, cameras=3, seed=9))
    state = requests.get(f"{simulator.url}/_sim/state", timeout=10).json()
    for account in state["accounts"][1:]:  # a direct-to-cloud camera in each end-user account
        requests.post(
            f"{simulator.url}/_sim/devices",
            json={"account_id": account["id"], "type": "camera", "name": "Direct Camera"},
            timeout=10,
        ).raise_for_status()
    return simulator


@pytest.fixture
def rerouted(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Send EEN's hosts (and the port-less httpsBaseUrl host) to the simulator; the URLs
    asked for, as the client built them."""
    asked: list[str] = []
    original = requests.sessions.Session.request
    prefixes = (*EEN_HOSTS, "https://127.0.0.1")

    def request(self: requests.Session, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        asked.append(url)
        for prefix in prefixes:
            if url.startswith(prefix + "/"):
                url = sim.url + url[len(prefix) :]
                break
        return original(self, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.sessions.Session, "request", request)
    return asked


def client(sim: Simulator) -> Any:
    een = eagleeyev3.EagleEyev3(
        {
            "client_id": v3client.CLIENT[0],
            "client_secret": v3client.CLIENT[1],
            "server_protocol": "http",
            "server_host": "127.0.0.1",
            "server_port": "3333",
            "server_path": "login_callback",
        }
    )
    een.redirect_uri = "http://127.0.0.1:3333/login_callback"
    return een


def test_login_accounts_switch_cameras_bridges_and_history(
    sim: Simulator, rerouted: list[str]
) -> None:
    een = client(sim)
    login = een.login_tokens(code=v3client.code(sim, redirect_uri=None))
    assert login["success"], login
    assert een.user_base_url == "127.0.0.1"  # the hostname; the port is dropped by the client
    assert een.current_user["accountId"]
    assert een.user_tz_obj is not None

    een.get_list_of_accounts()
    types = {account["type"] for account in een.accounts}
    assert types == {"reseller", "endUserAccount"}

    end_user = next(a for a in een.accounts if a["type"] == "endUserAccount")
    switched = een.login_from_reseller(target_account_id=end_user["id"])
    assert switched["success"], switched
    assert een.current_user["accountId"] == end_user["id"]

    cameras = een.get_list_of_cameras()
    assert cameras["success"], cameras
    assert len(een.cameras) == 4
    assert any(camera.bridge_id is None for camera in een.cameras)  # the direct camera
    bridges = een.get_list_of_bridges()
    assert bridges["success"], bridges
    assert len(een.bridges) == 1

    camera = een.cameras[0]
    for status in ("off", "online", "off"):  # two closed status spans
        requests.put(
            f"{sim.url}/_sim/v3/devices/{camera.id}/status",
            json={"connectionStatus": status},
            timeout=10,
        ).raise_for_status()
    history = camera.get_list_of_events(
        start_timestamp=een.time_before(hours=1), end_timestamp=een.time_now()
    )
    assert history["success"], history
    # endTimestamp__lte=now: the closed spans only, newest first.
    closed = [e["data"][0]["newStatus"]["connectionStatus"] for e in camera.events["status"]]
    assert closed[:2] == ["online", "off"]
    assert all(url.startswith(("https://", "http://")) for url in rerouted)
