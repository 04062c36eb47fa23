"""A third-party client written from EEN's v1 docs alone (EENCloud/api-docs
`source/includes/_api_aaa.md`, `_api_account.md`, `_api_camera.md`, `_api_poll.md`), with
`requests` and `websocket-client` and none of the simulator's helpers: log in with a
multipart body, long polling round trip, a WebSocket subscription to every stream resource in mixed
lists, and one status change seen on both."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import requests
import websocket

from exporter.simulator import Simulator

TIMEOUT = 10
EEN_TIMESTAMP = re.compile(r"^\d{14}\.\d{3}$")  # "YYYYMMDDhhmmss.xxx"
ON_STREAMING_RECORDING_REGISTERED = 0x1E0000
OFFLINE = 0x120025  # registered and on, not streaming
EVERY_RESOURCE = ["pre", "thumb", "video", "status", "status64", "status_hex", "status_hex64"]


def test_docs_walkthrough(sim: Simulator) -> None:
    base = sim.url
    http = requests.Session()

    # _api_aaa.md: authenticate, then authorize; auth_key cookie. The body is multipart, as
    # EEN's PHP sample (mcotton/EE-API-examples een.php) sends it through curl.
    token = http.post(
        base + "/g/aaa/authenticate",
        files={"username": (None, "demo@example.com"), "password": (None, "demo")},
        timeout=TIMEOUT,
    ).json()["token"]
    user = http.post(base + "/g/aaa/authorize", json={"token": token}, timeout=TIMEOUT).json()
    auth_key = http.cookies["auth_key"]

    # _api_account.md: the first account that is not ours; switch into it.
    accounts = http.get(base + "/g/account/list", timeout=TIMEOUT).json()
    account_id = next(row[0] for row in accounts if row[0] != user["owner_account_id"])
    switched = http.post(
        base + "/g/aaa/switch_account", data={"account_id": account_id}, timeout=TIMEOUT
    )
    assert switched.status_code == 200

    # _api_camera.md / _api_bridge.md: rows of the device list; index 10 is the status.
    rows = http.get(base + "/g/device/list", timeout=TIMEOUT).json()
    cameras = {row[1]: row[10] for row in rows if row[3] == "camera" and row[5] == "ATTD"}
    bridges = {row[1]: row[10] for row in rows if row[3] == "bridge"}
    camera = next(
        esn
        for esn, status in cameras.items()
        if status & ON_STREAMING_RECORDING_REGISTERED == ON_STREAMING_RECORDING_REGISTERED
    )
    bridge = next(iter(bridges))

    # _api_poll.md "Initialize Poll": POST /poll; the token comes back in the body and as the
    # ee-poll-ses cookie.
    started = http.post(
        base + "/poll",
        json={"cameras": {esn: {"resource": ["status"]} for esn in cameras}},
        timeout=TIMEOUT,
    )
    assert started.status_code == 200
    initial = started.json()
    assert {esn: value["status"] for esn, value in initial["cameras"].items()} == cameras
    assert http.cookies["ee-poll-ses"] == initial["token"]

    # _api_poll.md "WebSocket Polling": every resource of the docs, in mixed lists.
    ws = websocket.create_connection(
        base.replace("http://", "ws://") + f"/api/v2/Device/{account_id}/Events",
        cookie=f"auth_key={auth_key}",
        timeout=TIMEOUT,
    )
    ws.send(
        json.dumps(
            {
                "cameras": {
                    camera: {"resource": [*EVERY_RESOURCE, "event"], "event": ["CSDU", "VREE"]},
                    bridge: {"resource": ["status", "status_hex", "pre"]},
                    account_id: {"resource": ["event"], "event": ["AEDC", "AEDD"]},
                }
            }
        )
    )
    seen: dict[str, dict[str, Any]] = {}
    while not {camera, bridge} <= seen.keys():
        message = json.loads(ws.recv())
        assert message["status_code"] == 200, message
        for esn, values in message["data"].items():
            assert "error" not in values, (esn, values)
            seen.setdefault(esn, {}).update(values)
    snapshot = seen[camera]
    assert set(snapshot) == set(EVERY_RESOURCE)  # events have no current value
    assert snapshot["status"] == cameras[camera]
    assert snapshot["status_hex"] == f"{cameras[camera]:08x}"
    assert snapshot["status64"] & 0xFFFFFFFF == cameras[camera]
    assert snapshot["status_hex64"] == f"{snapshot['status64']:016x}"
    assert EEN_TIMESTAMP.match(snapshot["pre"])
    assert EEN_TIMESTAMP.match(snapshot["thumb"])
    assert all(EEN_TIMESTAMP.match(moment) for moment in snapshot["video"])
    # A bridge has no previews: absent, not an error.
    assert seen[bridge] == {"status": bridges[bridge], "status_hex": f"{bridges[bridge]:08x}"}

    # One change (the simulator's control API plays the camera): GET /poll, blocking until
    # then, answers only that camera; the stream pushes the new status and the events.
    answers: list[requests.Response] = []
    waiter = threading.Thread(
        target=lambda: answers.append(http.get(base + "/poll", timeout=TIMEOUT)),
        name="walkthrough-long-poll",
    )
    waiter.start()
    requests.put(f"{base}/_sim/devices/{camera}/status", json={"status": OFFLINE}, timeout=10)
    waiter.join(TIMEOUT)
    assert answers[0].status_code == 200
    assert answers[0].json() == {"cameras": {camera: {"status": OFFLINE}}}

    pushed: dict[str, Any] = {}
    while pushed.get("status") != OFFLINE or set(pushed.get("event", {})) != {"CSDU", "VREE"}:
        for esn, values in json.loads(ws.recv())["data"].items():
            if esn == camera:
                events = {**pushed.get("event", {}), **values.pop("event", {})}
                pushed.update(values, event=events)
    assert pushed["status_hex"] == f"{OFFLINE:08x}"
    assert pushed["status64"] & 0xFFFFFFFF == OFFLINE
    assert pushed["event"]["CSDU"]["cameraid"] == camera
    ws.close()
