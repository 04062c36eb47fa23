"""A two-factor user (een-api.md §1.3-1.5)."""

from __future__ import annotations

import pytest
import requests

from exporter.simulator import Simulator
from exporter.simulator.client import SimulatorControl
from tests.integration.conftest import MakeSimulator
from tests.integration.simulator.een import PASSWORD, TIMEOUT, USERNAME


@pytest.fixture
def tfa(make_sim: MakeSimulator) -> Simulator:
    return make_sim(two_factor=True)


def post(sim: Simulator, path: str, body: dict[str, str]) -> requests.Response:
    return requests.post(f"{sim.url}{path}", json=body, timeout=TIMEOUT)


def test_two_factor_login(tfa: Simulator) -> None:
    response = post(tfa, "/g/aaa/authenticate", {"username": USERNAME, "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert set(body["two_factor_authentication_code"]) == {"sms", "email"}
    token = body["token"]
    # Without a code, authorize refuses.
    assert post(tfa, "/g/aaa/authorize", {"token": token}).status_code == 401

    send = "/g/aaa/two_factor_authenticate"
    assert post(tfa, send, {"token": token}).status_code == 400
    wrong_type = {"token": token, "two_factor_authentication_type": "pigeon"}
    assert post(tfa, send, wrong_type).status_code == 415
    sent = post(tfa, send, {"token": token, "two_factor_authentication_type": "sms"})
    assert sent.status_code == 200
    assert sent.content == b""

    with SimulatorControl(tfa.url) as control:
        code = control.state()["two_factor_code"]
    assert len(code) == 4
    assert code.isdigit()
    wrong = str((int(code) + 1) % 10_000).zfill(4)
    attempt = {"token": token, "two_factor_authentication_code": wrong}
    assert post(tfa, "/g/aaa/authorize", attempt).status_code == 406
    http = requests.Session()
    authorized = http.post(
        f"{tfa.url}/g/aaa/authorize",
        json={"token": token, "two_factor_authentication_code": code},
        timeout=TIMEOUT,
    )
    assert authorized.status_code == 200
    assert {"auth_key", "tfa_key"} <= set(http.cookies.keys())
    assert http.get(f"{tfa.url}/g/aaa/isauth", timeout=TIMEOUT).status_code == 200
