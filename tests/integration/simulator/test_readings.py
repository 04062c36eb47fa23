"""The readings of EEN's ambiguous docs (readings.py, docs/simulator.md): each one as a client
meets it, and setting them by flag or through the control API."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import websocket

from exporter.simulator import Simulator, WorldSpec
from exporter.simulator.cli import parse_args, readings
from exporter.simulator.client import SimulatorControl, SimulatorControlError
from exporter.simulator.readings import Activity, ForeignEsn, Readings, SessionLoss, Snapshot
from tests.integration.conftest import MakeSimulator
from tests.integration.simulator.een import (
    CAMERA,
    TIMEOUT,
    auth_key,
    esns,
    get,
    login,
    receive,
    sub_accounts,
    subscribe,
    subscribed_stream,
)
from tests.support import wait_for

ACCESS_DENIED = {"status_code": 401, "message": "access denied", "data": {}}
AUTH_LOST = {"status_code": 412, "message": "auth lost", "data": {}}


def close_code(ws: websocket.WebSocket) -> int:
    """Read until the server's close frame; its status code."""
    while True:
        opcode, frame = ws.recv_data_frame(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return int.from_bytes(frame.data[:2], "big")


def first_account(control: SimulatorControl) -> dict[str, Any]:
    return sub_accounts(control.state())[0]


def stream_after_logout(sim: Simulator, account_id: str) -> websocket.WebSocket:
    """A handshake with the key of a session that was logged out."""
    http = login(sim, account_id)
    key = auth_key(http)
    http.post(f"{sim.url}/g/aaa/logout", timeout=TIMEOUT)
    return websocket.create_connection(
        f"{sim.ws_url}/api/v2/Device/{account_id}/Events",
        cookie=f"auth_key={key}",
        timeout=TIMEOUT,
    )


# -- session loss --------------------------------------------------------------------------


def test_http_reading_refuses_the_handshake(sim: Simulator, sim_control: SimulatorControl) -> None:
    account = first_account(sim_control)
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        stream_after_logout(sim, account["id"])
    assert refused.value.status_code == 401


def test_message_reading_accepts_then_says_401(
    sim: Simulator, sim_control: SimulatorControl
) -> None:
    sim_control.set_readings(session_loss="message")
    account = first_account(sim_control)
    ws = stream_after_logout(sim, account["id"])
    assert ws.getstatus() == 101
    assert receive(ws) == ACCESS_DENIED
    subscribe(ws, esns(account))  # every request meets the same answer, nothing is served
    assert receive(ws) == ACCESS_DENIED
    ws.close()


def test_close_reading_accepts_then_closes(sim: Simulator, sim_control: SimulatorControl) -> None:
    sim_control.set_readings(session_loss="close")
    account = first_account(sim_control)
    ws = stream_after_logout(sim, account["id"])
    assert ws.getstatus() == 101
    assert close_code(ws) == 1000
    ws.close()


def test_an_open_stream_losing_its_session(sim: Simulator, sim_control: SimulatorControl) -> None:
    account = first_account(sim_control)
    camera = next(d for d in account["devices"] if d["type"] == CAMERA)
    streams = {}
    for reading in ("http", "message", "close"):
        sim_control.set_readings(session_loss=reading)
        streams[reading] = subscribed_stream(sim, account)[1]
        sim_control.auth_lost()  # the one session of that stream ends under this reading
    # http: the 412 message, then a close frame with a reason.
    assert receive(streams["http"]) == AUTH_LOST
    assert close_code(streams["http"]) == 1008
    # close: a bare close frame, no message before it.
    assert close_code(streams["close"]) == 1000
    # message: the 412, then the socket stays open but serves nothing more.
    ws = streams["message"]
    assert receive(ws) == AUTH_LOST
    sim_control.set_status(camera["id"], 0x100025)  # not pushed any more
    subscribe(ws, esns(account))
    assert receive(ws) == AUTH_LOST
    ws.close()


# -- foreign ESNs and snapshots: see test_stream.py (test_unknown_and_foreign_esns_fail_alone,
# test_snapshot_readings) ------------------------------------------------------------------


# -- inactivity -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("activity", "stream_keeps_it"), [("requests", False), ("requests+streams", True)]
)
def test_inactivity_and_what_counts_as_activity(
    make_sim: MakeSimulator, activity: str, stream_keeps_it: bool
) -> None:
    # 0.6 s; minutes on the flag and in the user object, fractions allowed for tests.
    chosen = Readings(inactive_minutes=0.01, activity=Activity(activity))
    sim = make_sim(WorldSpec(accounts=1, bridges=1, cameras=2, seed=5), readings=chosen)
    with SimulatorControl(sim.url) as control:
        account = first_account(control)
        streaming, ws = subscribed_stream(sim, account)
        idle = login(sim, account["id"])  # a session without a stream: the clock to wait on
        assert (
            idle.get(f"{sim.url}/g/user", timeout=TIMEOUT).json()["inactive_session_timeout"]
            == 0.01
        )
        wait_for(lambda: control.state()["sessions"] <= 1, message="the idle session ended")
        # The idle session ended at least 0.6 s after the stream's last request.
        alive = get(sim, streaming, "/g/aaa/isauth").status_code == 200
    assert alive is stream_keeps_it
    if not stream_keeps_it:
        assert receive(ws) == AUTH_LOST  # the default session-loss reading
    ws.close()


def test_requests_keep_a_session_alive(make_sim: MakeSimulator) -> None:
    chosen = Readings(inactive_minutes=0.01, activity=Activity.REQUESTS)
    sim = make_sim(WorldSpec(accounts=1, bridges=1, cameras=2, seed=5), readings=chosen)
    with SimulatorControl(sim.url) as control:
        account = first_account(control)
        busy = login(sim, account["id"])
        idle = login(sim, account["id"])

        def idle_ended() -> bool:
            assert get(sim, busy, "/g/aaa/isauth").status_code == 200
            return bool(control.state()["sessions"] == 1)

        wait_for(idle_ended, message="the idle session ended while the busy one lives")
    assert get(sim, idle, "/g/aaa/isauth").status_code == 401


def test_the_user_object_says_the_timeout(sim: Simulator, sim_control: SimulatorControl) -> None:
    http = login(sim)
    assert get(sim, http, "/g/user").json()["inactive_session_timeout"] == 15
    sim_control.set_readings(inactive_minutes=0)
    assert get(sim, http, "/g/user").json()["inactive_session_timeout"] == 0


# -- setting the readings ---------------------------------------------------------------------


def test_the_defaults_and_the_control_api(sim_control: SimulatorControl) -> None:
    assert sim_control.state()["readings"] == {
        "snapshot": "per-camera",
        "session_loss": "http",
        "foreign_esn": 404,
        "inactive_minutes": 15,
        "activity": "requests+streams",
    }
    sim_control.set_readings(foreign_esn=401, snapshot="batched", inactive_minutes=0.5)
    readings_now = sim_control.state()["readings"]
    assert readings_now["foreign_esn"] == 401
    assert readings_now["snapshot"] == "batched"
    assert readings_now["inactive_minutes"] == 0.5
    assert readings_now["session_loss"] == "http"  # left out: unchanged


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "give one or more of"),
        ({"snapshot": "batched", "colour": "red"}, "give one or more of"),
        ({"snapshot": "chunked"}, '"snapshot" must be one of "batched", "per-camera"'),
        ({"session_loss": None}, '"session_loss" must be one of'),
        ({"foreign_esn": 403}, '"foreign_esn" must be one of "404", "401"'),
        ({"foreign_esn": True}, '"foreign_esn" must be one of'),
        ({"activity": "streams"}, '"activity" must be one of'),
        ({"inactive_minutes": -1}, '"inactive_minutes" must be a number from 0 to 10080'),
        ({"inactive_minutes": "15"}, '"inactive_minutes" must be a number'),
    ],
)
def test_bad_readings_are_refused_whole(
    sim_control: SimulatorControl, body: dict[str, Any], message: str
) -> None:
    before = sim_control.state()["readings"]
    response = requests.put(f"{sim_control.url}/_sim/readings", json=body, timeout=TIMEOUT)
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert sim_control.state()["readings"] == before


def test_the_flags() -> None:
    assert readings(parse_args([])) == Readings()
    chosen = readings(
        parse_args(
            [
                "--snapshot=batched",
                "--session-loss=close",
                "--foreign-esn=401",
                "--inactive-timeout=0.5",
                "--inactive-activity=requests",
            ]
        )
    )
    assert chosen == Readings(
        Snapshot.BATCHED, SessionLoss.CLOSE, ForeignEsn.DENIED, 0.5, Activity.REQUESTS
    )
    with pytest.raises(SystemExit) as bad:
        parse_args(["--session-loss=silence"])
    assert bad.value.code == 2


# -- moving a camera (what makes a foreign ESN of a known one) --------------------------------


def test_moving_a_camera(sim: Simulator, sim_control: SimulatorControl) -> None:
    source, target = sub_accounts(sim_control.state())[:2]
    camera = next(d for d in source["devices"] if d["type"] == CAMERA)
    _, ws = subscribed_stream(sim, source)
    sim_control.move_device(camera["id"], target["id"])
    source, target = sub_accounts(sim_control.state())[:2]
    assert camera["id"] not in esns(source)
    moved = next(d for d in target["devices"] if d["id"] == camera["id"])
    assert moved["bridge_id"] is None
    # The old account's stream no longer gets it; a new subscription is refused.
    sim_control.set_status(camera["id"], 0x100025)
    ws.send(json.dumps({"cameras": {camera["id"]: {"resource": ["status"]}}}))
    assert receive(ws)["data"] == {
        camera["id"]: {"error": [{"status_code": 404, "message": "resolve invalid"}]}
    }
    ws.close()
    bridge = next(d for d in target["devices"] if d["type"] != CAMERA)
    for esn, account_id in ((bridge["id"], source["id"]), (camera["id"], "99999999")):
        with pytest.raises(SimulatorControlError) as refused:
            sim_control.move_device(esn, account_id)
        assert refused.value.status == 400
