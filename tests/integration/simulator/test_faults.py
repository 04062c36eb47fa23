"""Fault injection through the control API."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
import websocket

from exporter.simulator import Simulator
from exporter.simulator.client import SimulatorControl, SimulatorControlError
from tests.integration.conftest import MakeSimulator
from tests.integration.simulator.een import (
    CAMERA,
    TIMEOUT,
    authenticate,
    esns,
    get,
    login,
    open_stream,
    receive,
    snapshot,
    sub_accounts,
    subscribe,
    subscribed_stream,
)
from tests.support import wait_for

# How long a silent stream must stay silent to count as stalled; the stall is indefinite.
SILENCE = 0.5


def camera(account: dict[str, Any], index: int = 0) -> dict[str, Any]:
    cameras: list[dict[str, Any]] = [d for d in account["devices"] if d["type"] == CAMERA]
    return cameras[index]


def toggled(device: dict[str, Any]) -> int:
    return 1441847 if device["status"] != 1441847 else 1966135


def open_streams(control: SimulatorControl) -> int:
    return sum(account["streams"] for account in control.state()["accounts"])


def test_drop_streams_cuts_without_a_close_frame(
    sim: Simulator, sim_control: SimulatorControl
) -> None:
    first, second = sub_accounts(sim_control.state())[:2]
    sockets = [subscribed_stream(sim, first)[1], subscribed_stream(sim, second)[1]]
    assert sim_control.drop_streams() == 2
    for ws in sockets:
        # A close frame would come back as a frame; a cut connection raises instead.
        with pytest.raises(websocket.WebSocketConnectionClosedException):
            ws.recv_data_frame(True)
    wait_for(lambda: open_streams(sim_control) == 0, message="the dropped streams uncounted")
    assert sim_control.drop_streams() == 0
    # Sessions survive a drop: the client can reconnect right away.
    assert subscribed_stream(sim, first)[1].connected


def answers_ping(ws: websocket.WebSocket) -> bool:
    ws.ping(b"still there?")
    return bool(ws.recv_data_frame(True)[0] == websocket.ABNF.OPCODE_PONG)


def test_drop_streams_of_one_account(sim: Simulator, sim_control: SimulatorControl) -> None:
    first, second = sub_accounts(sim_control.state())[:2]
    _, dropped = subscribed_stream(sim, first)
    _, spared = subscribed_stream(sim, second)
    assert sim_control.drop_streams(first["id"]) == 1
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        dropped.recv_data_frame(True)
    assert answers_ping(spared)


def test_auth_lost(sim: Simulator, sim_control: SimulatorControl) -> None:
    account = sub_accounts(sim_control.state())[0]
    http, ws = subscribed_stream(sim, account)
    idle = login(sim)  # a session without a stream is invalidated too
    sim_control.auth_lost()
    assert receive(ws) == {"status_code": 412, "message": "auth lost", "data": {}}
    opcode, _ = ws.recv_data_frame(True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert get(sim, http, "/g/device/list").status_code == 401
    assert get(sim, idle, "/g/aaa/isauth").status_code == 401
    assert subscribed_stream(sim, account)[1].connected  # logging in again works


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_http_faults(sim: Simulator, sim_control: SimulatorControl, status: int) -> None:
    http = login(sim)
    sim_control.http_fault(status, 2)
    sim_control.state()  # control calls do not use up the fault
    assert get(sim, http, "/g/aaa/isauth").status_code == status
    response = http.post(f"{sim.url}/g/aaa/authenticate", json={}, timeout=TIMEOUT)
    assert response.status_code == status  # any v1 call, even one that would be a 400
    assert get(sim, http, "/g/aaa/isauth").status_code == 200


def test_http_fault_validation(sim_control: SimulatorControl) -> None:
    for status, count in ((200, 1), (503, -1), (600, 1)):
        with pytest.raises(SimulatorControlError) as refused:
            sim_control.http_fault(status, count)
        assert refused.value.status == 400


def test_reset_clears_http_faults(sim: Simulator, sim_control: SimulatorControl) -> None:
    sim_control.http_fault(503, 100)
    sim_control.reset()
    assert authenticate(sim)


def test_stall_and_reset(sim: Simulator, sim_control: SimulatorControl) -> None:
    account = sub_accounts(sim_control.state())[0]
    _, ws = subscribed_stream(sim, account)
    assert sim_control.stall_streams() == 1
    sim_control.set_status(camera(account, 0)["id"], toggled(camera(account, 0)))
    ws.ping(b"hello?")
    ws.settimeout(SILENCE)
    with pytest.raises(websocket.WebSocketTimeoutException):
        ws.recv_data_frame(True)  # neither the change nor a pong
    assert open_streams(sim_control) == 1  # still connected
    assert sim_control.state()["faults"]["stalled_streams"] == 1

    # A new stream opened during the stall works normally.
    _, fresh = subscribed_stream(sim, account)
    fresh.ping(b"new")
    assert fresh.recv_data_frame(True)[0] == websocket.ABNF.OPCODE_PONG

    sim_control.reset()
    ws.settimeout(TIMEOUT)
    opcode, frame = ws.recv_data_frame(True)
    assert (opcode, frame.data) == (websocket.ABNF.OPCODE_PONG, b"hello?")  # answered late
    second = camera(account, 1)
    sim_control.set_status(second["id"], toggled(second))
    assert receive(ws)["data"] == {second["id"]: {"status": toggled(second)}}


def test_stall_of_one_account_holds_its_new_streams_until_reset(
    sim: Simulator, sim_control: SimulatorControl
) -> None:
    first, second = sub_accounts(sim_control.state())[:2]
    _, stalled = subscribed_stream(sim, first)
    _, spared = subscribed_stream(sim, second)
    assert sim_control.stall_streams(first["id"]) == 1
    stalled.ping(b"hello?")
    stalled.settimeout(SILENCE)
    with pytest.raises(websocket.WebSocketTimeoutException):
        stalled.recv_data_frame(True)
    assert answers_ping(spared)

    # Unlike a stall of all streams, the account stays stalled: a client that reconnects
    # gets no handshake answer until the reset.
    http = login(sim, first["id"])
    with ThreadPoolExecutor(1, thread_name_prefix="test-handshake") as pool:
        opening = pool.submit(open_stream, sim, http, first["id"])
        wait_for(
            lambda: sim_control.state()["faults"]["held_handshakes"] == 1,
            message="the new stream to be held",
        )
        assert sim_control.state()["faults"]["stalled_streams"] == 2
        with pytest.raises(TimeoutError):
            opening.result(timeout=SILENCE)
        sim_control.reset()
        fresh = opening.result(timeout=TIMEOUT)
    subscribe(fresh, esns(first))
    assert set(snapshot(fresh, esns(first))) == set(esns(first))


def test_stream_faults_refuse_an_unknown_account(sim_control: SimulatorControl) -> None:
    for fault in (sim_control.drop_streams, sim_control.stall_streams):
        with pytest.raises(SimulatorControlError) as refused:
            fault("99999999")
        assert refused.value.status == 404
    response = requests.post(
        f"{sim_control.url}/_sim/faults/stall-streams", json={"account_id": 5}, timeout=TIMEOUT
    )
    assert response.status_code == 400


def test_latency(sim: Simulator, sim_control: SimulatorControl) -> None:
    http = login(sim)
    sim_control.set_latency(0.3)
    started = time.monotonic()
    assert get(sim, http, "/g/aaa/isauth").status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    sim_control.state()  # the control API is never slowed down
    assert time.monotonic() - started < 0.3
    assert sim_control.state()["faults"]["latency"] == 0.3
    sim_control.reset()
    assert sim_control.state()["faults"]["latency"] == 0
    with pytest.raises(SimulatorControlError):
        sim_control.set_latency(-1)


def test_latency_from_the_constructor(make_sim: MakeSimulator) -> None:
    sim = make_sim(latency=0.2)
    started = time.monotonic()
    assert requests.get(f"{sim.url}/g/aaa/isauth", timeout=TIMEOUT).status_code == 401
    assert time.monotonic() - started >= 0.2
