"""HTTP long polling as EEN's docs describe it (EENCloud/api-docs `_api_poll.md`, "Initialize
Poll" and "Polling"; een-api.md §4.1), over real sockets with `requests`."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests

from exporter.simulator import Simulator
from exporter.simulator.client import SimulatorControl, SimulatorControlError
from tests.integration.simulator.een import CAMERA, TIMEOUT, login, sub_accounts
from tests.support import wait_for

RECORDING, OFFLINE, OFF = 0x1E0037, 0x120025, 0x000020


@pytest.fixture
def account(sim_control: SimulatorControl) -> dict[str, Any]:
    return sub_accounts(sim_control.state())[0]


def cameras(account: dict[str, Any], status: int = RECORDING) -> list[str]:
    return [d["id"] for d in account["devices"] if d["type"] == CAMERA and d["status"] == status]


def start(sim: Simulator, http: requests.Session, body: dict[str, Any]) -> requests.Response:
    return http.post(f"{sim.url}/poll", json=body, timeout=TIMEOUT)


def poll(sim: Simulator, http: requests.Session) -> requests.Response:
    return http.get(f"{sim.url}/poll", timeout=TIMEOUT)


def waiting_get(
    sim: Simulator, control: SimulatorControl, http: requests.Session
) -> tuple[list[requests.Response], threading.Thread]:
    """A GET /poll on a thread, once the simulator holds it (nothing had changed yet)."""
    answers: list[requests.Response] = []
    waiter = threading.Thread(target=lambda: answers.append(poll(sim, http)), name="long-poll")
    waiter.start()
    wait_for(lambda: control.state()["poll"]["waiting"] == 1, message="the GET to block")
    assert not answers
    return answers, waiter


def test_post_creates_a_session_with_the_token_in_the_body_and_two_cookies(
    sim: Simulator, account: dict[str, Any]
) -> None:
    http = login(sim, account["id"])
    first, second = cameras(account)[:2]
    body = {"cameras": {first: {"resource": ["status"]}, second: {"resource": ["status"]}}}
    response = start(sim, http, body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["cameras"] == {first: {"status": RECORDING}, second: {"status": RECORDING}}
    token = answer["token"]
    assert isinstance(token, str)
    assert token
    assert response.cookies["ee-poll-ses"] == token
    assert response.cookies["poll_id"] == token


def test_in_the_post_answer_status_suppresses_the_other_resources(
    sim: Simulator, account: dict[str, Any]
) -> None:
    http = login(sim, account["id"])
    camera = cameras(account)[0]
    mixed = {"resource": ["pre", "thumb", "status", "event"], "event": ["MRBX"]}
    assert start(sim, http, {"cameras": {camera: mixed}}).json()["cameras"] == {
        camera: {"status": RECORDING}
    }
    media = start(sim, http, {"cameras": {camera: {"resource": ["pre", "thumb", "video"]}}})
    assert set(media.json()["cameras"][camera]) == {"pre", "thumb", "video"}


def test_get_blocks_until_a_change_and_answers_only_what_changed(
    sim: Simulator, sim_control: SimulatorControl, account: dict[str, Any]
) -> None:
    http = login(sim, account["id"])
    changed, quiet = cameras(account)[:2]
    body = {"cameras": {changed: {"resource": ["status"]}, quiet: {"resource": ["status"]}}}
    assert start(sim, http, body).status_code == 200
    answers, waiter = waiting_get(sim, sim_control, http)
    sim_control.set_status(changed, OFFLINE)
    waiter.join(TIMEOUT)
    assert answers
    assert answers[0].status_code == 200
    assert answers[0].json() == {"cameras": {changed: {"status": OFFLINE}}}


def test_get_answers_nothing_changed_at_the_timeout(
    sim: Simulator, sim_control: SimulatorControl, account: dict[str, Any]
) -> None:
    sim_control.set_poll(timeout_seconds=0.2)
    http = login(sim, account["id"])
    assert start(sim, http, {"cameras": {cameras(account)[0]: {"resource": ["status"]}}}).ok
    began = time.monotonic()
    response = poll(sim, http)
    assert time.monotonic() - began >= 0.2
    assert response.status_code == 200
    assert response.json() == {"cameras": {}}


def test_get_omits_status_when_several_resources_were_asked_for(
    sim: Simulator, sim_control: SimulatorControl, account: dict[str, Any]
) -> None:
    http = login(sim, account["id"])
    camera = cameras(account)[0]
    spec = {"resource": ["status", "event"], "event": ["COFF", "RCOF"]}
    assert start(sim, http, {"cameras": {camera: spec}}).ok
    sim_control.set_status(camera, OFF)
    entry = poll(sim, http).json()["cameras"][camera]
    assert "status" not in entry
    assert set(entry["event"]) >= {"COFF"}
    assert entry["event"]["COFF"]["cameraid"] == camera


def test_pre_advances_between_gets(
    sim: Simulator, sim_control: SimulatorControl, account: dict[str, Any]
) -> None:
    sim_control.set_poll(preview_seconds=0.05)
    http = login(sim, account["id"])
    camera = cameras(account)[0]
    first = start(sim, http, {"cameras": {camera: {"resource": ["pre"]}}}).json()["cameras"]
    later = poll(sim, http).json()["cameras"]
    assert later[camera]["pre"] > first[camera]["pre"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"cameras": []},
        {"cameras": {"10000000": {"resource": ["preview"]}}},
        {"cameras": {"10000000": {"resource": ["event"]}}},  # over HTTP, event needs a list
    ],
)
def test_a_body_the_docs_do_not_allow_gets_400(
    sim: Simulator, account: dict[str, Any], body: dict[str, Any]
) -> None:
    http = login(sim, account["id"])
    assert start(sim, http, body).status_code == 400


def test_without_a_session_or_a_poll_session_the_answer_is_401(
    sim: Simulator, account: dict[str, Any]
) -> None:
    stranger = requests.Session()
    body = {"cameras": {cameras(account)[0]: {"resource": ["status"]}}}
    assert start(sim, stranger, body).status_code == 401
    http = login(sim, account["id"])
    assert poll(sim, http).status_code == 401  # no POST /poll yet
    http.cookies.set("ee-poll-ses", "not-a-token")
    assert poll(sim, http).status_code == 401


def test_a_get_waiting_when_the_login_ends_answers_401(
    sim: Simulator, sim_control: SimulatorControl, account: dict[str, Any]
) -> None:
    http = login(sim, account["id"])
    assert start(sim, http, {"cameras": {cameras(account)[0]: {"resource": ["status"]}}}).ok
    answers, waiter = waiting_get(sim, sim_control, http)
    sim_control.auth_lost()
    waiter.join(TIMEOUT)
    assert answers
    assert answers[0].status_code == 401


@pytest.mark.parametrize(
    "body",
    [{}, {"timeout_seconds": 0}, {"preview_seconds": "1"}, {"thumbnail_seconds": -1}, {"x": 1}],
)
def test_poll_settings_out_of_range_are_refused_and_change_nothing(
    sim_control: SimulatorControl, body: dict[str, Any]
) -> None:
    before = sim_control.state()["poll"]
    with pytest.raises(SimulatorControlError) as refused:
        sim_control.set_poll(**body)
    assert refused.value.status == 400
    assert sim_control.state()["poll"] == before


@pytest.mark.parametrize("noise", [-0.1, 1.5])
def test_churn_noise_out_of_range_is_refused(sim_control: SimulatorControl, noise: float) -> None:
    with pytest.raises(SimulatorControlError) as refused:
        sim_control.set_churn(1, noise=noise)
    assert refused.value.status == 400
    assert sim_control.state()["churn"] == 0
