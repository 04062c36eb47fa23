"""Request bodies (issue 12 item 3): every v1 call that takes a body reads JSON, url-encoded and
multipart/form-data alike, as EEN's docs and clients send them; a malformed body is a 400.

EEN's docs send JSON (`_api_authentication.md` curl examples) and url-encoded forms
(`_sample_code.md`); EEN's PHP sample (mcotton/EE-php `code/een.php`) hands PHP's curl an array,
which curl sends as multipart/form-data, as `curl -F` does.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
import requests

from exporter.simulator import Simulator
from exporter.simulator.client import SimulatorControl
from tests.integration.conftest import MakeSimulator
from tests.integration.simulator.een import PASSWORD, TIMEOUT, USERNAME, get, sub_accounts
from tests.support import require_binary

Send = Callable[..., requests.Response]
ENCODINGS = ("json", "urlencoded", "multipart")


def sender(encoding: str) -> Callable[[requests.Session, str, dict[str, str]], requests.Response]:
    def send(http: requests.Session, url: str, fields: dict[str, str]) -> requests.Response:
        if encoding == "json":
            return http.post(url, json=fields, timeout=TIMEOUT)
        if encoding == "urlencoded":
            return http.post(url, data=fields, timeout=TIMEOUT)
        # (None, value): a plain form field, no file name; requests then sends multipart.
        parts = {name: (None, value) for name, value in fields.items()}
        response = http.post(url, files=parts, timeout=TIMEOUT)
        assert response.request.headers["Content-Type"].startswith("multipart/form-data;")
        return response

    return send


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_login_and_switch_account_in_each_encoding(sim: Simulator, encoding: str) -> None:
    send = sender(encoding)
    http = requests.Session()
    authenticated = send(
        http, f"{sim.url}/g/aaa/authenticate", {"username": USERNAME, "password": PASSWORD}
    )
    assert authenticated.status_code == 200, authenticated.text
    token = authenticated.json()["token"]
    authorized = send(http, f"{sim.url}/g/aaa/authorize", {"token": token})
    assert authorized.status_code == 200, authorized.text
    assert "auth_key" in http.cookies
    with SimulatorControl(sim.url) as control:
        account = sub_accounts(control.state())[0]
    switched = send(http, f"{sim.url}/g/aaa/switch_account", {"account_id": account["id"]})
    assert switched.status_code == 200, switched.text
    assert switched.json()["active_account_id"] == account["id"]
    devices = get(sim, http, "/g/device/list").json()
    assert {row[1] for row in devices} == {device["id"] for device in account["devices"]}


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_two_factor_login_in_each_encoding(make_sim: MakeSimulator, encoding: str) -> None:
    sim = make_sim(two_factor=True)
    send = sender(encoding)
    http = requests.Session()
    credentials = {"username": USERNAME, "password": PASSWORD}
    token = send(http, f"{sim.url}/g/aaa/authenticate", credentials).json()["token"]
    request_code = {"token": token, "two_factor_authentication_type": "email"}
    assert send(http, f"{sim.url}/g/aaa/two_factor_authenticate", request_code).status_code == 200
    with SimulatorControl(sim.url) as control:
        code = control.state()["two_factor_code"]
    answer = {"token": token, "two_factor_authentication_code": code}
    authorized = send(http, f"{sim.url}/g/aaa/authorize", answer)
    assert authorized.status_code == 200, authorized.text
    assert "tfa_key" in http.cookies


def test_the_session_key_as_the_a_field_of_a_multipart_body(sim: Simulator) -> None:
    http = requests.Session()
    send = sender("multipart")
    token = send(
        http, f"{sim.url}/g/aaa/authenticate", {"username": USERNAME, "password": PASSWORD}
    ).json()["token"]
    send(http, f"{sim.url}/g/aaa/authorize", {"token": token})
    key = http.cookies["auth_key"]
    # No cookie: the key travels as the documented `A` parameter in the POST data.
    assert send(requests.Session(), f"{sim.url}/g/aaa/logout", {"A": key}).status_code == 204
    assert get(sim, http, "/g/aaa/isauth").status_code == 401


def curl(*args: str) -> tuple[int, str, str]:
    """Run curl; (HTTP status, headers, body)."""
    binary = require_binary("curl", "apt-get install curl")
    result = subprocess.run(
        [binary, "-sS", "-D", "-", "-o", "-", "--max-time", str(TIMEOUT), *args],
        capture_output=True,
        timeout=TIMEOUT + 5,
        check=True,
    )
    head, _, body = result.stdout.decode().partition("\r\n\r\n")
    status = int(head.split()[1])
    return status, head, body


def test_curl_dash_f_logs_in(sim: Simulator) -> None:
    """`curl -F`, the multipart form the PHP sample's curl sends, with curl's own encoder."""
    status, _, body = curl(
        "-F", f"username={USERNAME}", "-F", f"password={PASSWORD}", f"{sim.url}/g/aaa/authenticate"
    )
    assert status == 200, body
    token = re.fullmatch(r'\{"token":"([^"]+)"\}', body)
    assert token is not None, body
    # A token is base64 (may hold "+" and "/"); -F sends it as is, no escaping needed.
    status, head, body = curl("-F", f"token={token[1]}", f"{sim.url}/g/aaa/authorize")
    assert status == 200, body
    assert re.search(r"(?im)^set-cookie: auth_key=c\d{3}~[0-9a-f]{32};", head)


MALFORMED: dict[str, tuple[str, bytes]] = {
    "multipart without a boundary": ("multipart/form-data", b"--x\r\n\r\n--x--"),
    "multipart, boundary not found": ("multipart/form-data; boundary=b", b"username=demo"),
    "multipart, part without a name": (
        "multipart/form-data; boundary=b",
        b"--b\r\nContent-Disposition: form-data\r\n\r\ndemo\r\n--b--\r\n",
    ),
    "truncated JSON": ("application/json", b'{"username": "demo'),
    "JSON that is not an object": ("application/json", b'["demo"]'),
}


@pytest.mark.parametrize(
    "path",
    ["/g/aaa/authenticate", "/g/aaa/two_factor_authenticate", "/g/aaa/authorize",
     "/g/aaa/switch_account"],
)  # fmt: skip
@pytest.mark.parametrize("malformed", MALFORMED, ids=list(MALFORMED))
def test_a_malformed_body_is_the_documented_400(sim: Simulator, path: str, malformed: str) -> None:
    content_type, body = MALFORMED[malformed]
    http = requests.Session()
    send = sender("json")
    token = send(
        http, f"{sim.url}/g/aaa/authenticate", {"username": USERNAME, "password": PASSWORD}
    ).json()["token"]
    assert send(http, f"{sim.url}/g/aaa/authorize", {"token": token}).ok  # a session for switch
    response = http.post(
        f"{sim.url}{path}", data=body, headers={"Content-Type": content_type}, timeout=TIMEOUT
    )
    assert response.status_code == 400, response.text
    answer: dict[str, Any] = response.json()
    assert answer["status_code"] == 400
    assert answer["message"]
    assert get(sim, http, "/g/aaa/isauth").status_code == 200  # the session survived it
