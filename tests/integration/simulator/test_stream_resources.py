"""Every poll resource of EEN's docs on the WebSocket stream, over real sockets: the status
family (status, status64, status_hex, status_hex64), pre/thumb/video, account ESNs, and drop
with keys. Expected values are written from the docs (EENCloud/api-docs `_api_poll.md`;
een-api.md §4-5), not from the simulator's code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import websocket

from exporter.simulator import Simulator
from exporter.simulator.client import SimulatorControl
from tests.integration.simulator.een import (
    BRIDGE,
    CAMERA,
    login,
    open_stream,
    receive,
    sub_accounts,
)
from tests.integration.simulator.test_events import next_message

RECORDING, OFFLINE, OFF = 0x1E0037, 0x120025, 0x000020
PASSWORD_NEEDED = 0x120125
INVALID = 0x010000
# The upper word of status64 (docs: "Extended status bits (upper 32 bits of status64")
VALID, ON, REGISTERED, PENDING, STREAMING = 0x1, 0x2, 0x4, 0x8, 0x10
STATUS_FAMILY = ["status", "status64", "status_hex", "status_hex64"]


@pytest.fixture
def account(sim_control: SimulatorControl) -> dict[str, Any]:
    return sub_accounts(sim_control.state())[0]


@pytest.fixture
def stream(sim: Simulator, account: dict[str, Any]) -> Iterator[websocket.WebSocket]:
    ws = open_stream(sim, login(sim, account["id"]), account["id"])
    yield ws
    ws.close()


def device(account: dict[str, Any], kind: str, status: int | None = None) -> str:
    return str(
        next(
            d["id"]
            for d in account["devices"]
            if d["type"] == kind and status in (None, d["status"])
        )
    )


def subscribe(ws: websocket.WebSocket, entities: dict[str, list[str]], **extra: Any) -> None:
    cameras = {esn: {"resource": resources, **extra} for esn, resources in entities.items()}
    ws.send(json.dumps({"cameras": cameras}))


def data_of(ws: websocket.WebSocket, esn: str) -> dict[str, Any]:
    """The next message's entry for `esn`, skipping messages about other ESNs."""
    message = next_message(ws, lambda m: esn in m["data"])
    assert message["status_code"] == 200, message
    entry: dict[str, Any] = message["data"][esn]
    return entry


def family(status: int, upper: int) -> dict[str, Any]:
    extended = upper << 32 | status
    return {
        "status": status,
        "status64": extended,
        "status_hex": f"{status:08x}",
        "status_hex64": f"{extended:016x}",
    }


def test_every_status_resource_in_one_subscription_and_on_each_change(
    stream: websocket.WebSocket, sim_control: SimulatorControl, account: dict[str, Any]
) -> None:
    camera = device(account, CAMERA, RECORDING)
    subscribe(stream, {camera: STATUS_FAMILY})
    assert data_of(stream, camera) == family(RECORDING, VALID | ON | REGISTERED | STREAMING)
    sim_control.set_status(camera, PASSWORD_NEEDED)
    assert data_of(stream, camera) == family(PASSWORD_NEEDED, VALID | ON | REGISTERED | PENDING)


def test_an_off_camera_is_registered_in_the_extended_word_only(
    stream: websocket.WebSocket, sim_control: SimulatorControl, account: dict[str, Any]
) -> None:
    """The legacy word suppresses registered when the camera is off; the extended one reflects
    the bridge's cloud link (een-api.md §5)."""
    camera = device(account, CAMERA, RECORDING)
    sim_control.set_status(camera, OFF)
    subscribe(stream, {camera: ["status64"]})
    assert data_of(stream, camera) == {"status64": (VALID | REGISTERED) << 32 | OFF}


def test_only_the_requested_status_resources_come(
    stream: websocket.WebSocket, sim_control: SimulatorControl, account: dict[str, Any]
) -> None:
    camera = device(account, CAMERA, RECORDING)
    subscribe(stream, {camera: ["status_hex"]})
    assert data_of(stream, camera) == {"status_hex": "001e0037"}
    sim_control.set_status(camera, OFFLINE)
    assert data_of(stream, camera) == {"status_hex": "00120025"}


def test_pre_thumb_and_video_advance_while_a_camera_records_and_freeze_when_it_stops(
    sim: Simulator, sim_control: SimulatorControl, account: dict[str, Any]
) -> None:
    sim_control.set_poll(preview_seconds=0.05, thumbnail_seconds=0.1)
    camera = device(account, CAMERA, RECORDING)
    http = login(sim, account["id"])
    ws = open_stream(sim, http, account["id"])
    subscribe(ws, {camera: ["pre", "thumb", "video"]})
    first = data_of(ws, camera)
    assert set(first) == {"pre", "thumb", "video"}
    start, end = first["video"]
    assert start <= end
    # Each later message carries what moved: pre, thumb, and the video's end (its start stays).
    seen: dict[str, Any] = dict(first)
    while not all(seen[k] != first[k] for k in ("pre", "thumb")) or seen["video"][1] == end:
        update = data_of(ws, camera)
        for key, value in update.items():
            assert value > seen[key] if key != "video" else value[1] > seen[key][1]
            seen[key] = value
        assert seen["video"][0] == start
    # Stopped: new subscriptions see the same values however long after.
    sim_control.set_status(camera, OFFLINE)
    ws.send(json.dumps({"drop": {"cameras": [camera]}}))
    assert data_of(ws, camera)["error"][0]["status_code"] == 410
    frozen = []
    for _ in range(2):
        subscribe(ws, {camera: ["pre", "thumb", "video"]})
        frozen.append(data_of(ws, camera))
        ws.send(json.dumps({"drop": {"cameras": [camera]}}))
        assert data_of(ws, camera)["error"][0]["status_code"] == 410
    assert frozen[0] == frozen[1]
    assert frozen[0]["pre"] >= seen["pre"]
    ws.close()


def test_a_resource_with_nothing_to_report_is_absent_not_an_error(
    stream: websocket.WebSocket, sim_control: SimulatorControl, account: dict[str, Any]
) -> None:
    """A bridge has no previews or video; a camera added switched off never streamed."""
    bridge = device(account, BRIDGE)
    dark = sim_control.add_device(account["id"], CAMERA, "Dark", bridge_id=bridge, status=OFF)
    loud = device(account, CAMERA, RECORDING)
    subscribe(stream, {bridge: ["status", "pre", "thumb", "video"]})
    assert data_of(stream, bridge) == {"status": 0x120001}
    subscribe(stream, {dark: ["pre", "thumb", "video"]})
    subscribe(stream, {loud: ["status"]})
    assert receive(stream)["data"] == {loud: {"status": RECORDING}}  # nothing for `dark` first


def test_an_account_esn_subscribes_to_account_events_and_a_foreign_one_fails_alone(
    stream: websocket.WebSocket, sim_control: SimulatorControl, account: dict[str, Any]
) -> None:
    other = sub_accounts(sim_control.state())[1]["id"]
    camera = device(account, CAMERA, RECORDING)
    subscribe(stream, {account["id"]: ["event"], other: ["event"]}, event=["AEDC", "AEDD"])
    # The snapshot answers every entity in one go: the foreign account's error, and nothing
    # for the stream's own account (an event has no current value).
    assert receive(stream)["data"] == {
        other: {"error": [{"status_code": 404, "message": "resolve invalid"}]}
    }
    subscribe(stream, {camera: ["status"]})
    assert receive(stream)["data"] == {camera: {"status": RECORDING}}


def test_drop_with_keys_drops_only_those_resources(
    stream: websocket.WebSocket, sim_control: SimulatorControl, account: dict[str, Any]
) -> None:
    camera = device(account, CAMERA, RECORDING)
    subscribe(stream, {camera: ["status", "status_hex"]})
    assert set(data_of(stream, camera)) == {"status", "status_hex"}
    stream.send(json.dumps({"drop": {"cameras": [camera], "keys": ["status_hex"]}}))
    sim_control.set_status(camera, OFFLINE)
    assert data_of(stream, camera) == {"status": OFFLINE}
    stream.send(json.dumps({"drop": {"cameras": [camera], "keys": ["status"]}}))
    assert data_of(stream, camera) == {"error": [{"status_code": 410, "message": "dropped"}]}
    sim_control.set_status(camera, RECORDING)
    loud = device(account, CAMERA, RECORDING)
    subscribe(stream, {loud: ["status"]})
    assert receive(stream)["data"] == {loud: {"status": RECORDING}}  # the change did not come


def test_drop_with_keys_that_are_not_a_list_is_refused(stream: websocket.WebSocket) -> None:
    stream.send(json.dumps({"drop": {"cameras": ["10000000"], "keys": "status"}}))
    message = receive(stream)
    assert message["status_code"] == 400
    assert message["data"] == {}


def test_churn_noise_reaches_the_stream_without_changing_the_world(
    make_sim: Any,
) -> None:
    """Status 0 and invalid-bit words go out on the stream; the device keeps its status."""
    sim = make_sim()
    with SimulatorControl(sim.url) as control:
        account = sub_accounts(control.state())[0]
        ids = [d["id"] for d in account["devices"]]
        before = {d["id"]: d["status"] for d in account["devices"]}
        ws = open_stream(sim, login(sim, account["id"]), account["id"])
        subscribe(ws, {key: ["status"] for key in ids})
        snapshot: dict[str, Any] = {}
        while len(snapshot) < len(ids):
            snapshot.update(receive(ws)["data"])
        control.set_churn(200, noise=1.0)
        kinds: set[str] = set()
        while kinds != {"zero", "invalid"}:
            for esn, entry in receive(ws)["data"].items():
                status = entry["status"]
                assert status == 0 or status & INVALID, (esn, status)
                kinds.add("zero" if status == 0 else "invalid")
                if status:  # the health bits cleared: a client that took it would show "off"
                    assert not status & 0x1E0000
        control.set_churn(0)
        after = sub_accounts(control.state())[0]
        assert {d["id"]: d["status"] for d in after["devices"]} == before
        ws.close()


def test_device_created_changed_and_deleted_reach_the_account_esn(
    stream: websocket.WebSocket, sim_control: SimulatorControl, account: dict[str, Any]
) -> None:
    """AEDC / AEDH / AEDD: `cameraid` is the account's ESN, `deviceid` the device."""
    aid = account["id"]
    subscribe(stream, {aid: ["event"]}, event=["AEDC", "AEDH", "AEDD"])
    added = sim_control.add_device(aid, CAMERA, "Late Arrival")
    created = data_of(stream, aid)["event"]["AEDC"]
    assert created["cameraid"] == aid
    assert created["deviceid"] == added
    assert created["source_accountid"] == aid
    sim_control.rename_device(added, "Renamed")
    changed = data_of(stream, aid)["event"]["AEDH"]
    assert (changed["deviceid"], changed["values"]) == (added, {"name": "Renamed"})
    sim_control.delete_device(added)
    assert data_of(stream, aid)["event"]["AEDD"]["deviceid"] == added
