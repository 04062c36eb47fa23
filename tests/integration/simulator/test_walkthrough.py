"""The "done when" walkthrough: a plain requests + websocket-client script written from
een-api.md alone (no simulator helpers), run against the simulator."""

from __future__ import annotations

import json

import requests
import websocket

from exporter.simulator import Simulator


def test_walkthrough(sim: Simulator) -> None:
    base = sim.url
    session = requests.Session()
    session.headers["Authorization"] = "my-api-key"  # §1.2: sent on every call

    # §1.3-1.5: authenticate, then authorize; the session key arrives as the auth_key cookie.
    token = session.post(
        base + "/g/aaa/authenticate",
        json={"username": "demo@example.com", "password": "demo"},
        timeout=10,
    ).json()["token"]
    user = session.post(base + "/g/aaa/authorize", json={"token": token}, timeout=10).json()
    auth_key = session.cookies["auth_key"]

    # §2.2-2.3: list accounts, skip our own, switch into the first sub-account (form data).
    accounts = session.get(base + "/g/account/list", timeout=10).json()
    sub_account = next(row[0] for row in accounts if row[0] != user["owner_account_id"])
    switched = session.post(
        base + "/g/aaa/switch_account", data={"account_id": sub_account}, timeout=10
    )
    assert switched.status_code == 200

    # §3.1: attached, not shared cameras; status bitmask at index 10.
    devices = session.get(base + "/g/device/list", timeout=10).json()
    cameras = {
        row[1]: row[10]
        for row in devices
        if row[3] == "camera" and row[5] == "ATTD" and row[15] == 0
    }
    assert cameras

    # §4.2: open the poll stream with the cookie and subscribe each camera's status.
    ws_url = base.replace("http://", "ws://") + f"/api/v2/Device/{sub_account}/Events"
    ws = websocket.create_connection(ws_url, cookie=f"auth_key={auth_key}", timeout=10)
    ws.send(json.dumps({"cameras": {esn: {"resource": ["status"]} for esn in cameras}}))
    snapshot: dict[str, int] = {}
    while len(snapshot) < len(cameras):
        message = json.loads(ws.recv())
        assert message["status_code"] == 200
        for esn, value in message["data"].items():
            snapshot[esn] = value["status"]
    assert snapshot == cameras

    # The simulator's control API changes a camera; the stream pushes the change.
    esn = next(iter(cameras))
    new_status = 0x020024 if cameras[esn] != 0x020024 else 0x1E0037  # internet offline
    requests.put(f"{base}/_sim/devices/{esn}/status", json={"status": new_status}, timeout=10)
    message = json.loads(ws.recv())
    assert message == {"status_code": 200, "message": "OK", "data": {esn: {"status": new_status}}}
    status = message["data"][esn]["status"]
    assert status & 0x020000
    assert not status & 0x100000
    ws.close()
    assert session.post(base + "/g/aaa/logout", timeout=10).status_code == 204
