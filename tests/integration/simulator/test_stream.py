"""The WebSocket poll stream (een-api.md §4.2)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import websocket

from exporter.simulator import Simulator, WorldSpec
from exporter.simulator.client import SimulatorControl
from exporter.simulator.readings import Readings, Snapshot
from tests.integration.conftest import MakeSimulator
from tests.integration.simulator.een import (
    CAMERA,
    TIMEOUT,
    auth_key,
    esns,
    login,
    open_stream,
    receive,
    snapshot,
    sub_accounts,
    subscribe,
    subscribed_stream,
)
from tests.support import wait_for

OFF = 0x000020


def first_camera(account: dict[str, Any]) -> dict[str, Any]:
    return next(d for d in account["devices"] if d["type"] == CAMERA)


def other_status(device: dict[str, Any]) -> int:
    return 1441847 if device["status"] != 1441847 else 1966135


def expect_close(ws: websocket.WebSocket) -> websocket.ABNF:
    """The next frame, which must be a close frame."""
    frame: websocket.ABNF = ws.recv_data_frame(True)[1]
    assert frame.opcode == websocket.ABNF.OPCODE_CLOSE, frame
    return frame


def test_handshake_needs_a_session(sim: Simulator, sim_control: SimulatorControl) -> None:
    account = sub_accounts(sim_control.state())[0]
    url = f"{sim.ws_url}/api/v2/Device/{account['id']}/Events"
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(url, timeout=TIMEOUT)
    assert refused.value.status_code == 401
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(url, cookie="auth_key=c001~0000", timeout=TIMEOUT)
    assert refused.value.status_code == 401


def test_handshake_with_the_a_parameter(sim: Simulator, sim_control: SimulatorControl) -> None:
    account = sub_accounts(sim_control.state())[0]
    key = auth_key(login(sim, account["id"]))
    ws = websocket.create_connection(
        f"{sim.ws_url}/api/v2/Device/{account['id']}/Events?A={key}", timeout=TIMEOUT
    )
    try:
        assert ws.getstatus() == 101
        headers = ws.getheaders()
        assert headers is not None
        assert headers["server"] == "openresty"
        assert headers["set-cookie"].startswith("ee-ws-poll-ses=")
        subscribe(ws, esns(account))
        assert snapshot(ws, esns(account))
    finally:
        ws.close()


def test_handshake_for_an_unknown_account(sim: Simulator) -> None:
    http = login(sim)
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        open_stream(sim, http, "99999999")
    assert refused.value.status_code == 404


def test_a_plain_get_on_the_stream_path(sim: Simulator, sim_control: SimulatorControl) -> None:
    account = sub_accounts(sim_control.state())[0]
    url = f"{sim.url}/api/v2/Device/{account['id']}/Events"
    assert requests.get(url, timeout=TIMEOUT).status_code == 426


def test_snapshot_then_changes(sim: Simulator, sim_control: SimulatorControl) -> None:
    account = sub_accounts(sim_control.state())[0]
    http = login(sim, account["id"])
    ws = open_stream(sim, http, account["id"])
    subscribe(ws, esns(account))
    message = receive(ws)
    assert set(message) == {"status_code", "message", "data"}
    assert (message["status_code"], message["message"]) == (200, "OK")
    data = snapshot(ws, [esn for esn in esns(account) if esn not in message["data"]])
    data.update(message["data"])
    assert data == {d["id"]: {"status": d["status"]} for d in account["devices"]}

    camera = first_camera(account)
    new_status = other_status(camera)
    sim_control.set_status(camera["id"], new_status)
    ws.settimeout(0.1)  # the change is pushed before the control call even returns
    assert receive(ws) == {
        "status_code": 200,
        "message": "OK",
        "data": {camera["id"]: {"status": new_status}},
    }
    ws.close()


def test_the_same_status_again_pushes_nothing(
    sim: Simulator, sim_control: SimulatorControl
) -> None:
    account = sub_accounts(sim_control.state())[0]
    _, ws = subscribed_stream(sim, account)
    first, second = [d for d in account["devices"] if d["type"] == CAMERA][:2]
    sim_control.set_status(first["id"], first["status"])  # not a change
    sim_control.set_status(second["id"], other_status(second))
    assert receive(ws)["data"] == {second["id"]: {"status": other_status(second)}}
    ws.close()


@pytest.mark.parametrize(
    ("reading", "sizes"), [("batched", [100, 100, 51]), ("per-camera", [1] * 251)]
)
def test_snapshot_readings(make_sim: MakeSimulator, reading: str, sizes: list[int]) -> None:
    # Started batched, then switched at run time: the control API sets each reading.
    readings = Readings(snapshot=Snapshot.BATCHED)
    sim = make_sim(WorldSpec(accounts=1, bridges=1, cameras=250, seed=3), readings=readings)
    with SimulatorControl(sim.url) as control:
        control.set_readings(snapshot=reading)
        account = sub_accounts(control.state())[0]
    http = login(sim, account["id"])
    ws = open_stream(sim, http, account["id"])
    subscribe(ws, esns(account))
    seen: list[str] = []
    received = []
    while len(seen) < len(esns(account)):
        data = receive(ws)["data"]
        received.append(len(data))
        seen.extend(data)
    assert sorted(seen) == sorted(esns(account))
    assert received == sizes
    ws.close()


def test_later_subscriptions_add_esns(sim: Simulator, sim_control: SimulatorControl) -> None:
    account = sub_accounts(sim_control.state())[0]
    cameras = [d for d in account["devices"] if d["type"] == CAMERA]
    http = login(sim, account["id"])
    ws = open_stream(sim, http, account["id"])
    subscribe(ws, [cameras[0]["id"]])
    assert receive(ws)["data"] == {cameras[0]["id"]: {"status": cameras[0]["status"]}}
    subscribe(ws, [cameras[1]["id"]])
    assert receive(ws)["data"] == {cameras[1]["id"]: {"status": cameras[1]["status"]}}
    sim_control.set_status(cameras[1]["id"], other_status(cameras[1]))
    sim_control.set_status(cameras[0]["id"], other_status(cameras[0]))
    assert cameras[1]["id"] in receive(ws)["data"]
    assert cameras[0]["id"] in receive(ws)["data"]
    ws.close()


@pytest.mark.parametrize(
    ("reading", "foreign_error"),
    [
        ("404", {"status_code": 404, "message": "resolve invalid"}),
        ("401", {"status_code": 401, "message": "permission denied (invalid esn)"}),
    ],
)
def test_unknown_and_foreign_esns_fail_alone(
    sim: Simulator, sim_control: SimulatorControl, reading: str, foreign_error: dict[str, Any]
) -> None:
    sim_control.set_readings(foreign_esn=reading)
    mine, foreign = sub_accounts(sim_control.state())[:2]
    own = first_camera(mine)
    http = login(sim, mine["id"])
    ws = open_stream(sim, http, mine["id"])
    subscribe(ws, [own["id"], "09999999", foreign["devices"][0]["id"]])
    messages = [receive(ws) for _ in range(3)]  # per camera: one message each
    assert all(m["status_code"] == 200 and len(m["data"]) == 1 for m in messages)
    data = {esn: value for m in messages for esn, value in m["data"].items()}
    assert data == {
        own["id"]: {"status": own["status"]},
        "09999999": {"error": [{"status_code": 404, "message": "resolve invalid"}]},
        foreign["devices"][0]["id"]: {"error": [foreign_error]},
    }
    ws.close()


def test_request_errors(sim: Simulator, sim_control: SimulatorControl) -> None:
    account = sub_accounts(sim_control.state())[0]
    http = login(sim, account["id"])
    ws = open_stream(sim, http, account["id"])
    ws.send("{not json")
    malformed = receive(ws)
    assert malformed["status_code"] == 400
    assert malformed["data"] == {}
    ws.send("[1, 2]")
    assert receive(ws) == {
        "status_code": 400,
        "message": "JSON request must be a JSON object",
        "data": {},
    }
    ws.send(json.dumps({"cameras": {first_camera(account)["id"]: {"resource": "status"}}}))
    [entity] = receive(ws)["data"].values()
    assert entity["error"][0]["status_code"] == 400
    # The stream survives all of that.
    subscribe(ws, esns(account))
    assert snapshot(ws, esns(account))
    ws.close()


def test_drop(sim: Simulator, sim_control: SimulatorControl) -> None:
    account = sub_accounts(sim_control.state())[0]
    _, ws = subscribed_stream(sim, account)
    dropped, kept = [d for d in account["devices"] if d["type"] == CAMERA][:2]
    ws.send(json.dumps({"drop": {"cameras": [dropped["id"]], "keys": []}}))
    assert receive(ws) == {
        "status_code": 200,
        "message": "OK",
        "data": {dropped["id"]: {"error": [{"status_code": 410, "message": "dropped"}]}},
    }
    sim_control.set_status(dropped["id"], other_status(dropped))
    sim_control.set_status(kept["id"], other_status(kept))
    assert receive(ws)["data"] == {kept["id"]: {"status": other_status(kept)}}
    ws.close()


def test_pings_are_answered(sim: Simulator, sim_control: SimulatorControl) -> None:
    _, ws = subscribed_stream(sim, sub_accounts(sim_control.state())[0])
    ws.ping(b"are you there")
    opcode, frame = ws.recv_data_frame(True)
    assert opcode == websocket.ABNF.OPCODE_PONG
    assert frame.data == b"are you there"
    ws.close()


def test_streams_are_counted_per_account(sim: Simulator, sim_control: SimulatorControl) -> None:
    first, second = sub_accounts(sim_control.state())[:2]
    sockets = [subscribed_stream(sim, first)[1], subscribed_stream(sim, first)[1]]
    sockets.append(subscribed_stream(sim, second)[1])
    streams = {a["id"]: a["streams"] for a in sim_control.state()["accounts"]}
    assert streams[first["id"]] == 2
    assert streams[second["id"]] == 1
    assert sum(streams.values()) == 3
    for ws in sockets:
        ws.close()

    def all_closed() -> bool:
        return all(a["streams"] == 0 for a in sim_control.state()["accounts"])

    wait_for(all_closed, message="every stream counted as closed")


def test_logout_ends_the_stream_with_412(sim: Simulator, sim_control: SimulatorControl) -> None:
    http, ws = subscribed_stream(sim, sub_accounts(sim_control.state())[0])
    assert http.post(f"{sim.url}/g/aaa/logout", timeout=TIMEOUT).status_code == 204
    assert receive(ws) == {"status_code": 412, "message": "auth lost", "data": {}}
    expect_close(ws)


def test_session_expiry_ends_the_stream_with_412(make_sim: MakeSimulator) -> None:
    sim = make_sim(session_seconds=1.0)
    with SimulatorControl(sim.url) as control:
        account = sub_accounts(control.state())[0]
    http, ws = subscribed_stream(sim, account)
    assert receive(ws)["status_code"] == 412  # blocks until the session expires
    expect_close(ws)
    assert http.get(f"{sim.url}/g/aaa/isauth", timeout=TIMEOUT).status_code == 401


def test_deleted_devices_are_no_longer_pushed(
    sim: Simulator, sim_control: SimulatorControl
) -> None:
    account = sub_accounts(sim_control.state())[0]
    _, ws = subscribed_stream(sim, account)
    deleted, kept = [d for d in account["devices"] if d["type"] == CAMERA][:2]
    sim_control.delete_device(deleted["id"])
    sim_control.set_status(kept["id"], other_status(kept))
    assert receive(ws)["data"] == {kept["id"]: {"status": other_status(kept)}}
    ws.close()


def test_deleting_an_account_closes_its_streams(
    sim: Simulator, sim_control: SimulatorControl
) -> None:
    account = sub_accounts(sim_control.state())[0]
    _, ws = subscribed_stream(sim, account)
    sim_control.delete_account(account["id"])
    assert expect_close(ws).data[2:] == b"account deleted"
