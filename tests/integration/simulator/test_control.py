"""The control API under /_sim/: state and world changes."""

from __future__ import annotations

import re

import pytest
import requests

from exporter.simulator import Simulator, WorldSpec
from exporter.simulator.client import SimulatorControl, SimulatorControlError
from exporter.simulator.world import DEALER_NAME
from tests.integration.conftest import MakeSimulator
from tests.integration.simulator.een import BRIDGE, CAMERA, TIMEOUT, get, login, sub_accounts


def listed(sim: Simulator, http: requests.Session) -> dict[str, list[object]]:
    return {row[1]: row for row in get(sim, http, "/g/device/list").json()}


def test_state_shape(sim_control: SimulatorControl) -> None:
    state = sim_control.state()
    dealer, *customers = state["accounts"]
    assert dealer["name"] == DEALER_NAME
    assert dealer["devices"] == []
    assert len(customers) == 3
    for account in customers:
        assert set(account) == {"id", "name", "streams", "devices"}
        assert account["streams"] == 0
        assert len(account["devices"]) == 12
        for device in account["devices"]:
            camera = {"loss", "previews_frozen"} if device["type"] == CAMERA else set()
            assert set(device) == {"id", "name", "type", "bridge_id", "status", *camera}
            assert (device["bridge_id"] is None) == (device["type"] == BRIDGE)
    assert state["user"]["owner_account_id"] == dealer["id"]


def test_set_status_validation(sim_control: SimulatorControl) -> None:
    with pytest.raises(SimulatorControlError) as unknown:
        sim_control.set_status("10ffffff", 1)
    assert unknown.value.status == 404
    esn = sub_accounts(sim_control.state())[0]["devices"][0]["id"]
    for bad in ("1", -1, None, True):
        response = requests.put(
            f"{sim_control.url}/_sim/devices/{esn}/status", json={"status": bad}, timeout=TIMEOUT
        )
        assert response.status_code == 400, bad
    sim_control.set_status(esn, 0x120001)
    device = next(d for d in sub_accounts(sim_control.state())[0]["devices"] if d["id"] == esn)
    assert device["status"] == 0x120001


def test_add_rename_and_delete_devices(sim: Simulator, sim_control: SimulatorControl) -> None:
    account = sub_accounts(sim_control.state())[0]
    http = login(sim, account["id"])
    bridge = sim_control.add_device(account["id"], BRIDGE, "Annex Bridge 2")
    camera = sim_control.add_device(
        account["id"], CAMERA, "Gate Camera", bridge_id=bridge, status=1441847
    )
    assert re.fullmatch(r"[0-9a-f]{8}", camera)
    rows = listed(sim, http)
    assert rows[camera][2:5] == ["Gate Camera", CAMERA, [[bridge, "ATTD"]]]
    assert rows[camera][10] == 1441847
    assert rows[bridge][4] == [[camera, "ATTD"]]
    assert rows[bridge][10] == 1179649  # a healthy bridge by default
    loose = sim_control.add_device(account["id"], CAMERA, "Loose Camera")
    assert listed(sim, http)[loose][4] == []
    assert listed(sim, http)[loose][10] == 1966135  # online and recording by default

    sim_control.rename_device(camera, "Gate Camera (moved)")
    assert listed(sim, http)[camera][2] == "Gate Camera (moved)"
    sim_control.delete_device(bridge)
    rows = listed(sim, http)
    assert bridge not in rows
    assert rows[camera][4] == []
    sim_control.delete_device(camera)
    assert camera not in listed(sim, http)
    with pytest.raises(SimulatorControlError) as gone:
        sim_control.delete_device(camera)
    assert gone.value.status == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"account_id": None, "type": CAMERA, "name": "x"}, 400),
        ({"account_id": "99999999", "type": CAMERA, "name": "x"}, 404),
        ({"type": "doorbell", "name": "x"}, 400),
        ({"type": CAMERA, "name": ""}, 400),
        ({"type": CAMERA, "name": "x", "bridge_id": "10ffffff"}, 400),
        ({"type": BRIDGE, "name": "x", "status": "on"}, 400),
    ],
)
def test_add_device_errors(
    sim_control: SimulatorControl, body: dict[str, object], status: int
) -> None:
    body = {"account_id": sub_accounts(sim_control.state())[0]["id"], **body}
    response = requests.post(f"{sim_control.url}/_sim/devices", json=body, timeout=TIMEOUT)
    assert response.status_code == status
    assert response.json()["message"]


def test_a_camera_cannot_use_another_accounts_bridge(sim_control: SimulatorControl) -> None:
    first, second = sub_accounts(sim_control.state())[:2]
    bridge = next(d["id"] for d in second["devices"] if d["type"] == BRIDGE)
    with pytest.raises(SimulatorControlError) as refused:
        sim_control.add_device(first["id"], CAMERA, "x", bridge_id=bridge)
    assert refused.value.status == 400


def test_add_and_delete_accounts(sim: Simulator, sim_control: SimulatorControl) -> None:
    http = login(sim)
    account_id = sim_control.add_account("Harbor Marina")
    assert re.fullmatch(r"\d{8}", account_id)
    rows = get(sim, http, "/g/account/list").json()
    assert [account_id, "Harbor Marina"] in [row[:2] for row in rows]
    switched = http.post(
        f"{sim.url}/g/aaa/switch_account", json={"account_id": account_id}, timeout=TIMEOUT
    )
    assert switched.status_code == 200
    camera = sim_control.add_device(account_id, CAMERA, "Dock")
    assert list(listed(sim, http)) == [camera]

    sim_control.delete_account(account_id)
    assert account_id not in {row[0] for row in get(sim, http, "/g/account/list").json()}
    assert camera not in {d["id"] for a in sim_control.state()["accounts"] for d in a["devices"]}
    # A session still "in" the deleted account finds nothing there.
    assert get(sim, http, "/g/device/list").status_code == 404
    switched = http.post(
        f"{sim.url}/g/aaa/switch_account", json={"account_id": account_id}, timeout=TIMEOUT
    )
    assert switched.status_code == 404
    with pytest.raises(SimulatorControlError) as gone:
        sim_control.delete_account(account_id)
    assert gone.value.status == 404


def test_rename_an_account(sim: Simulator, sim_control: SimulatorControl) -> None:
    http = login(sim)
    account = sub_accounts(sim_control.state())[0]
    sim_control.rename_account(account["id"], "Harbor Marina North")
    rows = {row[0]: row for row in get(sim, http, "/g/account/list").json()}
    assert rows[account["id"]][1] == "Harbor Marina North"
    renamed = next(a for a in sim_control.state()["accounts"] if a["id"] == account["id"])
    assert renamed["name"] == "Harbor Marina North"
    for account_id, name, status in (("99999999", "x", 404), (account["id"], "", 400)):
        with pytest.raises(SimulatorControlError) as refused:
            sim_control.rename_account(account_id, name)
        assert refused.value.status == status


def test_the_users_own_account_cannot_be_deleted(sim_control: SimulatorControl) -> None:
    with pytest.raises(SimulatorControlError) as refused:
        sim_control.delete_account(sim_control.state()["user"]["owner_account_id"])
    assert refused.value.status == 409


def test_a_plain_customer_has_no_sub_accounts(make_sim: MakeSimulator) -> None:
    sim = make_sim(WorldSpec(accounts=0, bridges=1, cameras=1))
    with SimulatorControl(sim.url) as control, pytest.raises(SimulatorControlError) as refused:
        control.add_account("Another")
    assert refused.value.status == 409


def test_unknown_control_paths_and_methods(sim_control: SimulatorControl) -> None:
    url = sim_control.url
    assert requests.get(f"{url}/_sim/nothing", timeout=TIMEOUT).status_code == 404
    response = requests.delete(f"{url}/_sim/state", timeout=TIMEOUT)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"
    response = requests.post(f"{url}/_sim/faults/http", data=b"{oops", timeout=TIMEOUT)
    assert response.status_code == 400
