"""The `event` resource of the poll stream (een-api.md §4.2, §7) over real sockets."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
import websocket

from exporter.simulator import Simulator, WorldSpec
from exporter.simulator.client import SimulatorControl, SimulatorControlError
from exporter.simulator.world import Status
from tests.integration.conftest import MakeSimulator
from tests.integration.simulator.een import (
    BRIDGE,
    CAMERA,
    TIMEOUT,
    esns,
    login,
    open_stream,
    receive,
    snapshot,
    sub_accounts,
)
from tests.support import wait_for

# The fields een-api.md §7 (and the preview rows of the same table in EEN's docs) list per
# code, besides timestamp and cameraid. Written out here, apart from the simulator's code.
FIELDS = {
    "RCON": {"registerid"},
    "RCOF": {"registerid"},
    "RCHB": {"registerid"},
    "CONN": set(),
    "COFF": set(),
    "CSAU": {"streamid", "stream_format", "stream_type"},
    "CSDU": {"streamid", "stream_format", "stream_type"},
    "CSSU": {
        "streamtype",
        "streamformat",
        "total_expected",
        "total_rcvd",
        "delta_expected",
        "delta_rcvd",
        "interval",
        "streamid",
    },
    "VRES": {"videoid", "format", "status"},
    "VREE": {"videoid", "videosize", "format", "status"},
    "VRKF": {"videoid", "file_offset", "format"},
    "EAES": {"videoid", "eventid"},
    "EAEE": {"eventid"},
    "ESES": {"videoid", "eventid"},
    "ESEE": {"eventid"},
    "CECF": {"uuid", "svc_state"},
    "CECL": set(),
    "CCCF": {"errcode"},
    "COBC": set(),
    "PRTH": {"previewid", "eventid", "file_offset", "frame_size"},
    "PRFR": {"previewid", "file_offset", "frame_size"},
    "ABRT": {"aborted"},
    "BBOO": {"booted"},
    "CCLC": {"src_ip", "dest_ip", "src_port", "dest_port", "ctype"},
    "CCLD": {"src_ip", "dest_ip", "src_port", "dest_port", "ctype", "reason", "seconds"},
}
BRIDGE_CODES = ("ABRT", "BBOO", "CCLC", "CCLD")
EEN_TIMESTAMP = re.compile(r"\d{14}\.\d{3}")
STREAMING = (Status.RECORDING, Status.ONLINE)


def subscribe_events(
    ws: websocket.WebSocket, devices: list[str], codes: list[str], status: bool = True
) -> None:
    resources = ["status", "event"] if status else ["event"]
    ws.send(
        json.dumps({"cameras": {esn: {"resource": resources, "event": codes} for esn in devices}})
    )


def next_message(
    ws: websocket.WebSocket, accept: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The first message `accept` takes, skipping others, within the socket timeout each."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        message = receive(ws)
        if accept(message):
            return message
    raise AssertionError("no such message in time")


def events_of(message: dict[str, Any], esn: str) -> dict[str, Any]:
    events: dict[str, Any] = message["data"].get(esn, {}).get("event", {})
    return events


def camera(account: dict[str, Any], status: int = Status.RECORDING) -> dict[str, Any]:
    return next(d for d in account["devices"] if d["type"] == CAMERA and d["status"] == status)


def bridge(account: dict[str, Any]) -> dict[str, Any]:
    return next(d for d in account["devices"] if d["type"] == BRIDGE)


@pytest.fixture
def account(sim_control: SimulatorControl) -> dict[str, Any]:
    return sub_accounts(sim_control.state())[0]


@pytest.fixture
def stream(sim: Simulator, account: dict[str, Any]) -> websocket.WebSocket:
    return open_stream(sim, login(sim, account["id"]), account["id"])


def test_documented_subscription_then_event_messages_of_the_documented_shape(
    stream: websocket.WebSocket, sim_control: SimulatorControl, account: dict[str, Any]
) -> None:
    esn = camera(account)["id"]
    subscribe_events(stream, [esn], ["PRTH"])
    assert receive(stream) == {
        "status_code": 200,
        "message": "OK",
        "data": {esn: {"status": Status.RECORDING}},
    }
    before = time.time()
    answer = sim_control.emit_event(esn, "PRTH")
    message = receive(stream)
    assert answer["streams"] == 1
    assert message == {
        "status_code": 200,
        "message": "OK",
        "data": {esn: {"event": {"PRTH": answer["event"]}}},
    }
    prth = answer["event"]
    assert set(prth) == {"timestamp", "cameraid", *FIELDS["PRTH"]}
    assert prth["cameraid"] == esn
    assert EEN_TIMESTAMP.fullmatch(prth["timestamp"])
    sent = time.mktime(time.strptime(prth["timestamp"][:14], "%Y%m%d%H%M%S")) - time.timezone
    assert before - 1 <= sent <= time.time() + 1, "the timestamp is UTC, now"
    assert all(isinstance(prth[name], int) for name in FIELDS["PRTH"])


@pytest.mark.parametrize("code", sorted(FIELDS))
def test_each_code_carries_the_fields_listed_for_it(
    stream: websocket.WebSocket, sim_control: SimulatorControl, account: dict[str, Any], code: str
) -> None:
    esn = bridge(account)["id"] if code in BRIDGE_CODES else camera(account)["id"]
    subscribe_events(stream, [esn], [code], status=False)
    event = sim_control.emit_event(esn, code)["event"]
    assert set(event) == {"timestamp", "cameraid", *FIELDS[code]}
    assert events_of(receive(stream), esn) == {code: event}


def test_fields_given_to_the_control_replace_the_simulators(
    stream: websocket.WebSocket, sim_control: SimulatorControl, account: dict[str, Any]
) -> None:
    esn = camera(account)["id"]
    subscribe_events(stream, [esn], ["CSSU"], status=False)
    sim_control.emit_event(esn, "CSSU", timestamp="yesterday", delta_rcvd=-5, extra=[1])
    cssu = events_of(receive(stream), esn)["CSSU"]
    assert (cssu["timestamp"], cssu["delta_rcvd"], cssu["extra"]) == ("yesterday", -5, [1])
    assert isinstance(cssu["delta_expected"], int)


def test_only_the_requested_codes_are_sent(
    stream: websocket.WebSocket, sim_control: SimulatorControl, account: dict[str, Any]
) -> None:
    esn = camera(account)["id"]
    subscribe_events(stream, [esn], ["PRTH"], status=False)
    assert sim_control.emit_event(esn, "COBC")["streams"] == 0
    sim_control.emit_event(esn, "PRTH")
    assert list(events_of(receive(stream), esn)) == ["PRTH"]  # the COBC never came


def test_an_event_only_subscription_gets_no_snapshot_and_no_statuses(
    stream: websocket.WebSocket, sim_control: SimulatorControl, account: dict[str, Any]
) -> None:
    quiet, loud = [d["id"] for d in account["devices"] if d["type"] == CAMERA][:2]
    subscribe_events(stream, [quiet], ["PRTH"], status=False)
    sim_control.set_status(quiet, Status.ONLINE)  # a status it did not ask for
    stream.send(json.dumps({"cameras": {loud: {"resource": ["status"]}}}))
    assert list(receive(stream)["data"]) == [loud]  # nothing for `quiet` came before


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ({"resource": ["event"]}, "invalid event list"),
        ({"resource": ["status", "event"], "event": "PRTH"}, "invalid event list"),
        ({"resource": ["event"], "event": ["PRTH", 7]}, "invalid event list"),
        ({"resource": ["preview"], "event": ["PRTH"]}, "invalid resource"),
    ],
)
def test_bad_event_subscriptions_fail_alone(
    stream: websocket.WebSocket, account: dict[str, Any], spec: dict[str, Any], error: str
) -> None:
    bad, good = [d["id"] for d in account["devices"] if d["type"] == CAMERA][:2]
    stream.send(json.dumps({"cameras": {bad: spec, good: {"resource": ["status"]}}}))
    data = snapshot(stream, [bad, good])
    assert data[bad] == {"error": [{"status_code": 400, "message": error}]}
    assert "status" in data[good]


def test_stopping_to_stream_sends_csdu_with_the_bitmask(
    stream: websocket.WebSocket, sim_control: SimulatorControl, account: dict[str, Any]
) -> None:
    esn = camera(account)["id"]
    codes = ["CSAU", "CSDU", "VRES", "VREE", "RCON", "RCOF", "CONN", "COFF"]
    subscribe_events(stream, [esn], codes)
    receive(stream)  # the snapshot
    sim_control.set_status(esn, Status.OFFLINE)  # registered and on, not streaming
    assert receive(stream)["data"] == {esn: {"status": Status.OFFLINE}}
    down = events_of(receive(stream), esn)
    assert list(down) == ["VREE", "CSDU"]
    sim_control.set_status(esn, Status.RECORDING)
    assert receive(stream)["data"] == {esn: {"status": Status.RECORDING}}
    up = events_of(receive(stream), esn)
    assert list(up) == ["CSAU", "VRES"]
    assert up["CSAU"]["streamid"] == down["CSDU"]["streamid"] + 1, "a new stream"
    assert up["VRES"]["videoid"] != down["VREE"]["videoid"], "a new video"
    sim_control.set_status(esn, Status.OFF)
    receive(stream)
    assert list(events_of(receive(stream), esn)) == ["VREE", "CSDU", "RCOF", "COFF"]
    sim_control.set_status(esn, Status.INTERNET_OFFLINE)  # on again, not registered
    receive(stream)
    assert list(events_of(receive(stream), esn)) == ["CONN"]


def test_a_bridge_back_online_reports_how_long_it_was_cut_off(
    stream: websocket.WebSocket, sim_control: SimulatorControl, account: dict[str, Any]
) -> None:
    esn = bridge(account)["id"]
    subscribe_events(stream, [esn], ["CCLD", "CCLC"])
    receive(stream)
    sim_control.set_status(esn, Status.BRIDGE_OFFLINE)
    assert receive(stream)["data"] == {esn: {"status": Status.BRIDGE_OFFLINE}}
    offline_at = time.monotonic()
    wait_for(lambda: time.monotonic() - offline_at >= 0.3, message="0.3 s offline")
    sim_control.set_status(esn, Status.BRIDGE_ONLINE)
    receive(stream)
    back = events_of(receive(stream), esn)
    assert list(back) == ["CCLD", "CCLC"]
    assert 0.3 <= back["CCLD"]["seconds"] <= time.monotonic() - offline_at + 0.1


def periodic_world(
    make_sim: MakeSimulator, **options: Any
) -> tuple[Simulator, SimulatorControl, dict[str, Any]]:
    sim = make_sim(WorldSpec(accounts=1, bridges=2, cameras=12, seed=3), **options)
    control = SimulatorControl(sim.url)
    return sim, control, sub_accounts(control.state())[0]


def collect(
    ws: websocket.WebSocket, until: Callable[[dict[str, list[dict[str, Any]]]], bool]
) -> dict[str, list[dict[str, Any]]]:
    """Events by "esn code" until `until` holds for them (each message within the timeout)."""
    seen: dict[str, list[dict[str, Any]]] = {}
    deadline = time.monotonic() + TIMEOUT
    while not until(seen):
        assert time.monotonic() < deadline, f"only {sorted(seen)}"
        for esn, entity in receive(ws)["data"].items():
            for code, event in entity.get("event", {}).items():
                seen.setdefault(f"{esn} {code}", []).append(event)
    return seen


def test_streaming_cameras_send_thumbnails_and_statistics_at_their_rates(
    make_sim: MakeSimulator,
) -> None:
    sim, control, account = periodic_world(
        make_sim, thumbnail_seconds=0.3, stream_stats_seconds=0.5
    )
    cameras = [d for d in account["devices"] if d["type"] == CAMERA]
    not_streaming = cameras[0]["id"]
    control.set_status(not_streaming, Status.OFFLINE)
    lossy = cameras[1]["id"]
    control.set_stream_loss(lossy, 0.25)
    streaming = [c["id"] for c in cameras[1:] if c["status"] in STREAMING]
    silent = [c["id"] for c in cameras if c["id"] not in streaming]
    assert len(streaming) >= 8, "the seeded world streams mostly"
    ws = open_stream(sim, login(sim, account["id"]), account["id"])
    subscribe_events(ws, esns(account, CAMERA), ["PRTH", "CSSU"], status=False)
    wanted = {f"{esn} {code}" for esn in streaming for code in ("PRTH", "CSSU")}
    seen = collect(ws, lambda seen: wanted <= {k for k, v in seen.items() if len(v) >= 2})
    assert not [key for key in seen if key.split()[0] in silent]
    assert not_streaming in silent
    for key, stats in seen.items():
        if not key.endswith("CSSU"):
            continue
        first, second = stats[:2]
        expected = first["delta_expected"]
        received = expected - round(expected * 0.25) if key.startswith(lossy) else expected
        assert first["delta_rcvd"] == received, key
        assert second["total_expected"] == first["total_expected"] + second["delta_expected"]
        assert second["total_rcvd"] == first["total_rcvd"] + second["delta_rcvd"]
        assert first["streamid"] == second["streamid"]
    ws.close()


def test_frozen_previews_stop_only_that_cameras_thumbnails(make_sim: MakeSimulator) -> None:
    sim, control, account = periodic_world(make_sim, thumbnail_seconds=0.2)
    frozen, other = [c["id"] for c in account["devices"] if c["type"] == CAMERA][:2]
    control.set_status(frozen, Status.RECORDING)
    control.set_status(other, Status.RECORDING)
    control.freeze_previews(frozen)
    ws = open_stream(sim, login(sim, account["id"]), account["id"])
    subscribe_events(ws, [frozen, other], ["PRTH"], status=False)
    seen = collect(ws, lambda seen: len(seen.get(f"{other} PRTH", [])) >= 4)
    assert f"{frozen} PRTH" not in seen
    control.freeze_previews(frozen, False)
    collect(ws, lambda seen: f"{frozen} PRTH" in seen)
    ws.close()


def test_periodic_events_follow_the_run_time_control(make_sim: MakeSimulator) -> None:
    sim, control, account = periodic_world(make_sim)
    esn = camera(account)["id"]
    ws = open_stream(sim, login(sim, account["id"]), account["id"])
    subscribe_events(ws, [esn], ["PRTH", "COBC"], status=False)
    control.set_event_rates(thumbnail_seconds=0.2)
    collect(ws, lambda seen: len(seen.get(f"{esn} PRTH", [])) >= 2)
    control.set_event_rates(thumbnail_seconds=0)
    control.emit_event(esn, "COBC")  # whatever was sent before the stop is ahead of it
    collect(ws, lambda seen: f"{esn} COBC" in seen)
    stopped = time.monotonic()
    # A running schedule would send four thumbnails in this time; each marker shows the
    # stream was read up to that moment.
    while time.monotonic() - stopped < 0.8:
        control.emit_event(esn, "COBC")
        assert list(collect(ws, lambda seen: f"{esn} COBC" in seen)) == [f"{esn} COBC"]
    assert control.state()["events"]["thumbnail_seconds"] == 0
    ws.close()


def test_bridges_boot_now_and_then_and_reconnect(make_sim: MakeSimulator) -> None:
    sim, control, account = periodic_world(make_sim)
    bridges = esns(account, BRIDGE)
    ws = open_stream(sim, login(sim, account["id"]), account["id"])
    subscribe_events(ws, bridges, list(BRIDGE_CODES), status=False)
    control.set_event_rates(bridge_boots_per_hour=36_000)  # 10 a second
    boots: list[dict[str, Any]] = []
    while len(boots) < 6:
        message = receive(ws)
        [(esn, entity)] = message["data"].items()
        assert esn in bridges
        boots.append(entity["event"])
    control.set_event_rates(bridge_boots_per_hour=0)
    for events in boots:
        assert list(events) in (["BBOO", "CCLD", "CCLC"], ["ABRT", "CCLD", "CCLC"])
        assert 20 <= events["CCLD"]["seconds"] <= 90
    ws.close()


def test_event_controls_refuse_bad_input(
    sim_control: SimulatorControl, account: dict[str, Any]
) -> None:
    cam, brg = camera(account)["id"], bridge(account)["id"]
    calls: list[Callable[[], object]] = [
        lambda: sim_control.emit_event(cam, "prth"),
        lambda: sim_control.emit_event(cam, "PRTHX"),
        lambda: sim_control.freeze_previews(brg),
        lambda: sim_control.set_stream_loss(cam, 1.5),
        lambda: sim_control.set_stream_loss(brg, 0.1),
        lambda: sim_control.set_event_rates(thumbnail_seconds=-1),
        lambda: sim_control.set_event_rates(),
    ]
    for call in calls:
        with pytest.raises(SimulatorControlError) as refused:
            call()
        assert refused.value.status == 400
    with pytest.raises(SimulatorControlError) as unknown:
        sim_control.emit_event("10ffffff", "PRTH")
    assert unknown.value.status == 404
    response = requests.put(
        f"{sim_control.url}/_sim/devices/{cam}/previews", json={"frozen": 1}, timeout=TIMEOUT
    )
    assert response.status_code == 400


def test_state_shows_event_settings_and_camera_conditions(
    sim_control: SimulatorControl, account: dict[str, Any]
) -> None:
    esn = camera(account)["id"]
    sim_control.set_stream_loss(esn, 0.125)
    sim_control.freeze_previews(esn)
    sim_control.set_event_rates(stream_stats_seconds=30)
    state = sim_control.state()
    [device] = [d for a in state["accounts"] for d in a["devices"] if d["id"] == esn]
    assert (device["loss"], device["previews_frozen"]) == (0.125, True)
    assert state["events"] == {
        "thumbnail_seconds": 0,
        "stream_stats_seconds": 30,
        "bridge_boots_per_hour": 0,
        "delivered": {},
    }
