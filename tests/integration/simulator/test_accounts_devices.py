"""Accounts, switching and device listings (een-api.md §2-3)."""

from __future__ import annotations

import re
from typing import Any

import requests

from exporter.simulator import Simulator, WorldSpec
from exporter.simulator.client import SimulatorControl
from tests.integration.conftest import MakeSimulator
from tests.integration.simulator.een import BRIDGE, CAMERA, TIMEOUT, get, login, sub_accounts

ESN = re.compile(r"[0-9a-f]{8}")
ACCOUNT_ID = re.compile(r"\d{8}")


def switch(sim: Simulator, http: requests.Session, **body: str) -> requests.Response:
    return http.post(f"{sim.url}/g/aaa/switch_account", json=body, timeout=TIMEOUT)


def device_list(sim: Simulator, http: requests.Session, **params: str) -> list[list[Any]]:
    response = get(sim, http, "/g/device/list", **params)
    assert response.status_code == 200, response.text
    rows: list[list[Any]] = response.json()
    return rows


def test_account_list_rows(sim: Simulator, sim_control: SimulatorControl) -> None:
    http = login(sim)
    owner = get(sim, http, "/g/user").json()["owner_account_id"]
    rows = get(sim, http, "/g/account/list").json()
    state = sim_control.state()
    assert [row[0] for row in rows] == [a["id"] for a in state["accounts"]]
    assert rows[0][0] == owner  # the list includes the caller's own account
    assert len(rows) == 4
    for row, account in zip(rows, state["accounts"], strict=True):
        assert len(row) == 21
        assert ACCOUNT_ID.fullmatch(row[0])
        assert row[1] == account["name"]
        cameras = [d for d in account["devices"] if d["type"] == CAMERA]
        bridges = [d for d in account["devices"] if d["type"] == BRIDGE]
        online = [c for c in cameras if c["status"] & 0x160000 == 0x160000]
        assert row[2] == len(online)  # camera_online_count
        assert row[3] == len(cameras)  # camera_count
        assert row[5:8] == [0, 0, 1]  # suspended, inactive, active
        assert row[9] == len(bridges)  # bridge_online_count (all bridges healthy)
        assert row[11] == len(bridges)  # bridge_count
        assert row[12] == len(cameras) - len(online)
        assert re.fullmatch(r"\d{14}\.\d{3}", row[15])  # EEN timestamp
        assert isinstance(row[19], dict)
        assert set(row[19]) == {"is_sso_enabled", "timezone", "feature_flags"}
        assert isinstance(row[20], str)


def test_switch_account_is_per_session(sim: Simulator, sim_control: SimulatorControl) -> None:
    first, second = sub_accounts(sim_control.state())[:2]
    one, other = login(sim), login(sim)
    owner = get(sim, one, "/g/user").json()["owner_account_id"]
    response = switch(sim, one, account_id=first["id"])
    assert response.status_code == 200
    assert response.json()["active_account_id"] == first["id"]
    assert http_form_switch(sim, other, second["id"]).status_code == 200
    assert {row[0] for row in device_list(sim, one)} == {first["id"]}
    assert {row[1] for row in device_list(sim, one)} == {d["id"] for d in first["devices"]}
    assert {row[0] for row in device_list(sim, other)} == {second["id"]}
    # No account_id switches back to the user's own account (the dealer: no devices).
    assert switch(sim, one).json()["active_account_id"] == owner
    assert device_list(sim, one) == []


def http_form_switch(sim: Simulator, http: requests.Session, account_id: str) -> requests.Response:
    return http.post(
        f"{sim.url}/g/aaa/switch_account", data={"account_id": account_id}, timeout=TIMEOUT
    )


def test_switch_to_an_unknown_account_is_a_404(sim: Simulator) -> None:
    http = login(sim)
    assert switch(sim, http, account_id="99999999").status_code == 404
    assert get(sim, http, "/g/aaa/isauth").status_code == 200  # the session survives


def test_device_rows(sim: Simulator, sim_control: SimulatorControl) -> None:
    account = sub_accounts(sim_control.state())[0]
    http = login(sim, account["id"])
    rows = {row[1]: row for row in device_list(sim, http)}
    assert list(rows) == [d["id"] for d in account["devices"]]
    bridges = {esn for esn, row in rows.items() if row[3] == BRIDGE}
    assert len(bridges) == 2
    for esn, row in rows.items():
        assert len(row) >= 18
        assert row[0] == account["id"]
        assert ESN.fullmatch(esn)
        assert row[2]
        assert row[3] in (CAMERA, BRIDGE)
        assert row[5] == "ATTD"
        assert isinstance(row[10], int)
        assert isinstance(row[11], str)
        assert isinstance(row[12], int)
        assert row[15] == 0  # is_shared
        assert row[17] is False  # is_upnp: a boolean, not 0/1
        if row[3] == CAMERA:
            [[bridge, service]] = row[4]
            assert bridge in bridges
            assert service == "ATTD"
            assert esn in {camera for camera, _ in rows[bridge][4]}
        else:
            assert row[10] == 1179649
            assert all(rows[camera][4] == [[esn, "ATTD"]] for camera, _ in row[4])
    attached = sum(len(rows[bridge][4]) for bridge in bridges)
    assert attached == len(rows) - len(bridges)


def test_device_list_filters_and_alias(sim: Simulator, sim_control: SimulatorControl) -> None:
    account = sub_accounts(sim_control.state())[0]
    http = login(sim, account["id"])
    assert {row[3] for row in device_list(sim, http, t="camera")} == {CAMERA}
    assert len(device_list(sim, http, t="bridge")) == 2
    first = account["devices"][0]["id"]
    assert [row[1] for row in device_list(sim, http, e=first)] == [first]
    alias = get(sim, http, "/g/list/devices").json()
    assert alias == device_list(sim, http)


def test_status_values_are_real_bitmasks(sim: Simulator, sim_control: SimulatorControl) -> None:
    statuses = {
        d["status"]
        for account in sim_control.state()["accounts"]
        for d in account["devices"]
        if d["type"] == CAMERA
    }
    assert 1966135 in statuses  # online and recording: most cameras
    assert statuses <= {1966135, 1441847, 0x000020, 0x020024, 0x120125}


def test_single_device(sim: Simulator, sim_control: SimulatorControl) -> None:
    first, second = sub_accounts(sim_control.state())[:2]
    http = login(sim, first["id"])
    camera = next(d for d in first["devices"] if d["type"] == CAMERA)
    response = get(sim, http, "/g/device", id=camera["id"])
    assert response.status_code == 200
    model = response.json()
    assert model["id"] == camera["id"]
    assert model["bridges"] == {camera["bridge_id"]: "ATTD"}
    info = model["camera_info"]
    assert info["status"] == str(camera["status"])  # a decimal string here
    assert info["status_hex"] == f"{camera['status']:08x}"
    assert info["bridgeid"] == camera["bridge_id"]
    assert get(sim, http, "/g/device").status_code == 400
    assert get(sim, http, "/g/device", id="10ffffff").status_code == 404
    assert get(sim, http, "/g/device", id=second["devices"][0]["id"]).status_code == 404


def test_a_plain_customer(make_sim: MakeSimulator) -> None:
    sim = make_sim(WorldSpec(accounts=0, bridges=1, cameras=3, seed=5))
    http = login(sim)
    user = get(sim, http, "/g/user").json()
    assert user["is_master"] == 0
    [row] = get(sim, http, "/g/account/list").json()
    assert row[0] == user["owner_account_id"] == user["active_account_id"]
    rows = device_list(sim, http)
    assert len(rows) == 4
    assert {r[0] for r in rows} == {user["owner_account_id"]}
    assert len(user["camera_access"]) == 3


def test_the_account_summary_ignores_status_0_and_the_invalid_bit(
    sim: Simulator, sim_control: SimulatorControl
) -> None:
    """Status 0 and the invalid bit mean "no change" (een-api.md §5): the counts of online
    (idx 2) and off (idx 12) cameras keep each camera's last real status, as the VMS shows it;
    idx 18 counts the cameras whose status is invalid now (issue 14 item 3)."""
    account = sub_accounts(sim_control.state())[0]
    online, offline = online_and_offline_camera(sim_control, account["id"])
    http = login(sim)

    def summary() -> tuple[int, int, int, int]:
        rows = get(sim, http, "/g/account/list").json()
        row = next(row for row in rows if row[0] == account["id"])
        return row[2], row[3], row[12], row[18]

    cams_online, cams, cams_off, unknown = summary()
    assert unknown == 0
    sim_control.set_status(online, 0x010000 | 0x160037)  # invalid bit on an online word
    sim_control.set_status(offline, 0)
    assert summary() == (cams_online, cams, cams_off, 1)  # online stays online, off stays off
    sim_control.set_status(online, 0x010000)  # the invalid bit alone: still no change
    sim_control.set_status(offline, 0x1E0037)  # a real status counts again
    assert summary() == (cams_online + 1, cams, cams_off - 1, 1)
    sim_control.set_status(online, 0x120025)  # a real offline word
    assert summary() == (cams_online, cams, cams_off, 0)
    # A camera first seen with "no change" has no status to keep: in neither count.
    added = sim_control.add_device(account["id"], "camera", "Fresh", status=0)
    assert summary() == (cams_online, cams + 1, cams_off, 0)
    sim_control.set_status(added, 0x1E0037)
    assert summary() == (cams_online + 1, cams + 1, cams_off, 0)


def online_and_offline_camera(sim_control: SimulatorControl, account_id: str) -> tuple[str, str]:
    """Two cameras of the account, set online and offline."""
    account = next(a for a in sim_control.state()["accounts"] if a["id"] == account_id)
    first, second = [d["id"] for d in account["devices"] if d["type"] == CAMERA][:2]
    sim_control.set_status(first, 0x1E0037)
    sim_control.set_status(second, 0x120025)
    return first, second
