"""The simulated v3 API host over real sockets: clientSettings, accounts, a reseller's way into
its end-user accounts, cameras and bridges with status and pagination, errors and injected
faults (een-api-v3.md §2-4, §6)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from exporter.simulator import Simulator, WorldSpec
from exporter.simulator.v3.status import connection_status
from exporter.simulator.world import DeviceType
from tests.integration.conftest import MakeSimulator
from tests.integration.simulator import v3client
from tests.integration.simulator.v3client import TIMEOUT


def world_truth(sim: Simulator, account_id: str, kind: str) -> dict[str, str]:
    """id -> v3 status of one account's devices, from the control API's v1 view."""
    state = requests.get(f"{sim.url}/_sim/state", timeout=TIMEOUT).json()
    account = next(a for a in state["accounts"] if a["id"] == account_id)
    return {
        d["id"]: connection_status(DeviceType(d["type"]), d["status"]).value
        for d in account["devices"]
        if d["type"] == kind
    }


def test_client_settings_name_this_server(sim: Simulator) -> None:
    token = v3client.login(sim)["access_token"]
    answer = v3client.get(sim, token, "clientSettings")
    assert answer.json() == {"httpsBaseUrl": {"hostname": "127.0.0.1", "port": sim.port}}
    assert v3client.get(sim, "not-a-token", "clientSettings").status_code == 401


def test_a_reseller_sees_its_accounts_and_enters_them_with_a_token_each(sim: Simulator) -> None:
    reseller = v3client.login(sim)["access_token"]
    listing = v3client.get(sim, reseller, "accounts").json()
    state = requests.get(f"{sim.url}/_sim/state", timeout=TIMEOUT).json()
    assert [a["id"] for a in listing["results"]] == [a["id"] for a in state["accounts"]]
    assert listing["results"][0]["type"] == "reseller"
    assert {a["type"] for a in listing["results"][1:]} == {"endUserAccount"}
    assert v3client.get(sim, reseller, "cameras").json()["results"] == []  # no own devices
    first, second = (a["id"] for a in listing["results"][1:3])
    token_1 = v3client.end_user_token(sim, reseller, first)
    token_2 = v3client.end_user_token(sim, reseller, second)
    # Both end-user tokens and the reseller's own work side by side (P-RES).
    cameras_1 = {c["id"] for c in v3client.all_pages(sim, token_1, "cameras")}
    cameras_2 = {c["id"] for c in v3client.all_pages(sim, token_2, "cameras")}
    assert cameras_1 == set(world_truth(sim, first, "camera"))
    assert cameras_2 == set(world_truth(sim, second, "camera"))
    assert v3client.get(sim, reseller, "accounts").status_code == 200
    # An end-user token cannot switch further.
    refused = requests.post(
        f"{sim.url}/api/v3.0/authorizationTokens",
        headers=v3client.bearer(token_1),
        json={"type": "reseller", "targetType": "account", "targetId": second},
        timeout=TIMEOUT,
    )
    assert refused.status_code == 403


def test_authorization_tokens_validate_their_request(sim: Simulator) -> None:
    reseller = v3client.login(sim)["access_token"]
    owner = v3client.get(sim, reseller, "accounts").json()["results"][0]["id"]
    for body, status in (
        ({"type": "reseller", "targetType": "account", "targetId": "99999999"}, 404),
        ({"type": "reseller", "targetType": "account", "targetId": owner}, 404),
        ({"type": "application", "targetType": "user", "targetId": "ca0e1cf2"}, 400),
        ({"type": "reseller", "targetType": "account"}, 400),
    ):
        answer = requests.post(
            f"{sim.url}/api/v3.0/authorizationTokens",
            headers=v3client.bearer(reseller),
            json=body,
            timeout=TIMEOUT,
        )
        assert answer.status_code == status, body


def test_a_plain_customer_lists_only_itself_and_owns_the_devices(
    make_sim: MakeSimulator,
) -> None:
    sim = make_sim(WorldSpec(accounts=0, bridges=1, cameras=3))
    token = v3client.login(sim)["access_token"]
    accounts = v3client.get(sim, token, "accounts").json()["results"]
    assert len(accounts) == 1
    assert accounts[0]["type"] == "endUserAccount"
    assert len(v3client.all_pages(sim, token, "cameras")) == 3


def test_cameras_with_status_equal_the_world(sim: Simulator) -> None:
    account_id, token = v3client.sub_account_token(sim)
    cameras = v3client.all_pages(sim, token, "cameras", include="status", pageSize=3)
    assert len(cameras) == len({c["id"] for c in cameras})  # no duplicates across pages
    assert {c["id"]: c["status"]["connectionStatus"] for c in cameras} == world_truth(
        sim, account_id, "camera"
    )
    first = cameras[0]
    assert first["accountId"] == account_id
    assert set(first) >= {"id", "accountId", "name", "bridgeId", "createTimestamp", "status"}
    assert [c["name"].casefold() for c in cameras] == sorted(c["name"].casefold() for c in cameras)
    without = v3client.get(sim, token, "cameras").json()["results"][0]
    assert "status" not in without  # status only when included (AS3)


def test_bridges_with_status_and_camera_counts(sim: Simulator) -> None:
    account_id, token = v3client.sub_account_token(sim)
    bridges = v3client.all_pages(sim, token, "bridges", include="status,resourceStatusCounts")
    truth = world_truth(sim, account_id, "bridge")
    assert {b["id"]: b["status"]["connectionStatus"] for b in bridges} == truth
    cameras = v3client.all_pages(sim, token, "cameras", include="status")
    for bridge in bridges:
        counts = bridge["resourceStatusCounts"]["cameras"]
        on_bridge = [c for c in cameras if c.get("bridgeId") == bridge["id"]]
        assert sum(counts.values()) == len(on_bridge)
        for camera in on_bridge:
            assert counts[camera["status"]["connectionStatus"]] >= 1


def test_pagination_follows_the_tokens_both_ways(sim: Simulator) -> None:
    _, token = v3client.sub_account_token(sim)
    first = v3client.get(sim, token, "cameras", pageSize=4).json()
    assert first["prevPageToken"] == ""
    assert first["totalSize"] == 10
    second = v3client.get(
        sim, token, "cameras", pageSize=4, pageToken=first["nextPageToken"]
    ).json()
    back = v3client.get(sim, token, "cameras", pageSize=4, pageToken=second["prevPageToken"]).json()
    assert [c["id"] for c in back["results"]] == [c["id"] for c in first["results"]]
    assert not {c["id"] for c in first["results"]} & {c["id"] for c in second["results"]}
    descending = v3client.all_pages(sim, token, "cameras", pageSize=3, sort="-name")
    names = [c["name"].casefold() for c in descending]
    assert names == sorted(names, reverse=True)
    assert v3client.get(sim, token, "cameras", pageToken="garbage").status_code == 400


def test_page_size_is_clamped_not_refused(make_sim: MakeSimulator) -> None:
    sim = make_sim(WorldSpec(accounts=1, bridges=1, cameras=520))
    _, token = v3client.sub_account_token(sim)
    big = v3client.get(sim, token, "cameras", pageSize=1000).json()  # what EagleEyev3 asks for
    assert len(big["results"]) == 500
    assert big["nextPageToken"]
    assert len(v3client.get(sim, token, "cameras", pageSize=0).json()["results"]) == 1
    assert v3client.get(sim, token, "cameras", pageSize="ten").status_code == 400


def test_pages_survive_devices_vanishing_between_calls(sim: Simulator) -> None:
    account_id, token = v3client.sub_account_token(sim)
    first = v3client.get(sim, token, "cameras", pageSize=5).json()
    for camera in first["results"]:
        v3client.control(sim, "DELETE", f"devices/{camera['id']}")
    rest = v3client.get(sim, token, "cameras", pageSize=5, pageToken=first["nextPageToken"]).json()
    assert {c["id"] for c in rest["results"]} == set(world_truth(sim, account_id, "camera"))


def test_filters(sim: Simulator) -> None:
    account_id, token = v3client.sub_account_token(sim)
    truth = world_truth(sim, account_id, "camera")
    offline = next(iter(truth))
    v3client.control(sim, "PUT", f"v3/devices/{offline}/status", {"connectionStatus": "off"})
    off = {i for i, status in world_truth(sim, account_id, "camera").items() if status == "off"}
    assert offline in off
    assert {c["id"] for c in v3client.all_pages(sim, token, "cameras", status__in="off")} == off
    not_online = v3client.all_pages(sim, token, "cameras", status__ne="online", include="status")
    assert all(c["status"]["connectionStatus"] != "online" for c in not_online)
    two = sorted(truth)[:2]
    chosen = v3client.all_pages(sim, token, "cameras", id__in=",".join(two))
    assert sorted(c["id"] for c in chosen) == two
    answer = v3client.get(sim, token, "cameras", id__in=",".join(two)).json()
    assert answer["totalSize"] == len(truth)  # the account's total, not the filtered count
    assert v3client.get(sim, token, "cameras", status__in="offline").status_code == 400


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"colour": "red"}, "unexpectedArgument"),
        ({"include": "status,secrets"}, "wrongArgumentValue"),
        ({"sort": "name"}, "wrongArgumentValue"),  # a bare field name is a 400 (AS3)
    ],
)
def test_bad_queries_get_the_v3_error_body(
    sim: Simulator, params: dict[str, str], reason: str
) -> None:
    _, token = v3client.sub_account_token(sim)
    answer = v3client.get(sim, token, "cameras", **params)
    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] == 400
    assert body["status"] == "invalidArgument"
    assert body["details"][0]["reason"] == reason
    assert body["details"][0]["metadata"]["path"] == "/api/v3.0/cameras"


def test_single_devices_and_foreign_ids(sim: Simulator) -> None:
    account_id, token = v3client.sub_account_token(sim, 1)
    _, other = v3client.sub_account_token(sim, 2)
    camera = next(iter(world_truth(sim, account_id, "camera")))
    bridge = next(iter(world_truth(sim, account_id, "bridge")))
    one = v3client.get(sim, token, f"cameras/{camera}", include="status").json()
    assert one["status"]["connectionStatus"] == world_truth(sim, account_id, "camera")[camera]
    assert v3client.get(sim, token, f"bridges/{bridge}").json()["id"] == bridge
    assert v3client.get(sim, other, f"cameras/{camera}").status_code == 404
    assert v3client.get(sim, token, f"bridges/{camera}").status_code == 404
    assert v3client.get(sim, token, "nothing-here").status_code == 404
    wrong_method = requests.delete(
        f"{sim.url}/api/v3.0/cameras", headers=v3client.bearer(token), timeout=TIMEOUT
    )
    assert wrong_method.status_code == 405
    assert wrong_method.headers["Allow"] == "GET"


def test_429_with_retry_after_then_normal_service(sim: Simulator) -> None:
    _, token = v3client.sub_account_token(sim)
    v3client.control(
        sim,
        "POST",
        "faults/v3/http",
        {"status": 429, "count": 2, "retry_after": 3, "path": "/api/v3.0/cameras"},
    )
    assert v3client.get(sim, token, "bridges").status_code == 200  # other paths unaffected
    for _ in range(2):
        limited = v3client.get(sim, token, "cameras")
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "3"
        assert limited.json()["status"] == "tooManyRequests"
    assert v3client.get(sim, token, "cameras").status_code == 200


def test_injected_5xx_and_the_reset(sim: Simulator) -> None:
    _, token = v3client.sub_account_token(sim)
    v3client.control(sim, "POST", "faults/v3/http", {"status": 503, "count": 5})
    assert v3client.get(sim, token, "cameras").status_code == 503
    state: dict[str, Any] = v3client.v3_state(sim)
    assert state["faults"]["http_remaining"] == 4
    v3client.control(sim, "POST", "faults/reset")
    assert v3client.get(sim, token, "cameras").status_code == 200


def test_v1_and_v3_see_one_world(sim: Simulator) -> None:
    account_id, token = v3client.sub_account_token(sim)
    camera = next(iter(world_truth(sim, account_id, "camera")))
    v3client.control(sim, "PUT", f"devices/{camera}/status", {"status": 0x020024})
    one = v3client.get(sim, token, f"cameras/{camera}", include="status").json()
    assert one["status"]["connectionStatus"] == "bridgeOffline"
    v3client.control(sim, "PUT", f"v3/devices/{camera}/status", {"connectionStatus": "online"})
    state = requests.get(f"{sim.url}/_sim/state", timeout=TIMEOUT).json()
    devices = {d["id"]: d for a in state["accounts"] for d in a["devices"]}
    assert devices[camera]["status"] == 0x1E0037


def test_the_v3_status_control_refuses_what_a_device_cannot_be(sim: Simulator) -> None:
    account_id, _ = v3client.sub_account_token(sim)
    bridge = next(iter(world_truth(sim, account_id, "bridge")))
    answer = requests.put(
        f"{sim.url}/_sim/v3/devices/{bridge}/status",
        json={"connectionStatus": "invalidCredentials"},
        timeout=TIMEOUT,
    )
    assert answer.status_code == 400
    unknown = requests.put(
        f"{sim.url}/_sim/v3/devices/{bridge}/status",
        json={"connectionStatus": "offline"},
        timeout=TIMEOUT,
    )
    assert unknown.status_code == 400
    missing = requests.put(
        f"{sim.url}/_sim/v3/devices/ffffffff/status",
        json={"connectionStatus": "off"},
        timeout=TIMEOUT,
    )
    assert missing.status_code == 404
