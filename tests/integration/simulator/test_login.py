"""Login and sessions (een-api.md §1): authenticate, authorize, the session key, logout."""

from __future__ import annotations

import re

import pytest
import requests
import websocket

from exporter.simulator import Simulator
from tests.integration.conftest import MakeSimulator
from tests.integration.simulator.een import (
    PASSWORD,
    TIMEOUT,
    USERNAME,
    auth_key,
    authenticate,
    get,
    login,
)
from tests.support import wait_for


def post(sim: Simulator, path: str, **kwargs: object) -> requests.Response:
    return requests.post(f"{sim.url}{path}", timeout=TIMEOUT, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("body", ["json", "data"])
def test_authenticate_accepts_json_and_form(sim: Simulator, body: str) -> None:
    response = post(
        sim, "/g/aaa/authenticate", **{body: {"username": USERNAME, "password": PASSWORD}}
    )
    assert response.status_code == 200
    token = response.json()["token"]
    assert len(token) >= 300  # like the real ~344-character base64 tokens
    assert "two_factor_authentication_code" not in response.json()


def test_authenticate_rejects_bad_credentials(sim: Simulator) -> None:
    wrong = {"username": USERNAME, "password": "not-the-password"}
    assert post(sim, "/g/aaa/authenticate", json=wrong).status_code == 401
    unknown = {"username": "nobody@example.com", "password": PASSWORD}
    assert post(sim, "/g/aaa/authenticate", json=unknown).status_code == 401


@pytest.mark.parametrize(
    "body",
    [{"username": USERNAME}, {"password": PASSWORD}, {}, {"username": 1, "password": PASSWORD}],
)
def test_authenticate_needs_both_fields(sim: Simulator, body: dict[str, object]) -> None:
    assert post(sim, "/g/aaa/authenticate", json=body).status_code == 400


def test_bad_json_is_a_400(sim: Simulator) -> None:
    headers = {"Content-Type": "application/json"}
    response = post(sim, "/g/aaa/authenticate", data=b'{"username": ', headers=headers)
    assert response.status_code == 400
    response = post(sim, "/g/aaa/authenticate", data=b"[1, 2]", headers=headers)
    assert response.status_code == 400


def test_authorize_returns_the_user_and_an_auth_key_cookie(sim: Simulator) -> None:
    http = requests.Session()
    token = authenticate(sim, http)
    response = http.post(f"{sim.url}/g/aaa/authorize", json={"token": token}, timeout=TIMEOUT)
    assert response.status_code == 200
    assert re.fullmatch(r"c\d{3}~[0-9a-f]{32}", auth_key(http))
    assert "auth_key=" in response.headers["Set-Cookie"]
    user = response.json()
    assert user["id"] == user["user_id"]
    assert re.fullmatch(r"[0-9a-f]{8}", user["id"])
    assert user["owner_account_id"] == user["active_account_id"]
    assert re.fullmatch(r"\d{8}", user["owner_account_id"])
    assert user["is_master"] == 1
    assert user["active_brand_subdomain"] == auth_key(http).split("~")[0]
    assert user["email"] == USERNAME


def test_authorize_accepts_a_form_body(sim: Simulator) -> None:
    token = authenticate(sim)
    assert post(sim, "/g/aaa/authorize", data={"token": token}).status_code == 200


def test_a_token_is_single_use(sim: Simulator) -> None:
    token = authenticate(sim)
    assert post(sim, "/g/aaa/authorize", json={"token": token}).status_code == 200
    assert post(sim, "/g/aaa/authorize", json={"token": token}).status_code == 401


def test_authorize_errors(sim: Simulator) -> None:
    assert post(sim, "/g/aaa/authorize", json={}).status_code == 400
    assert post(sim, "/g/aaa/authorize", json={"token": "made-up"}).status_code == 401


def test_a_token_expires(make_sim: MakeSimulator) -> None:
    sim = make_sim(token_seconds=0.3)
    token = authenticate(sim)

    def expired() -> bool:
        # Asking for a two-factor code does not use the token up: 400 while it is valid
        # (this user has no two-factor), 401 once it has expired.
        probe = {"token": token, "two_factor_authentication_type": "sms"}
        return post(sim, "/g/aaa/two_factor_authenticate", json=probe).status_code == 401

    wait_for(expired, timeout=5, message="the token to expire")
    assert post(sim, "/g/aaa/authorize", json={"token": token}).status_code == 401


def test_isauth_and_logout(sim: Simulator) -> None:
    http = login(sim)
    assert get(sim, http, "/g/aaa/isauth").status_code == 200
    response = http.post(f"{sim.url}/g/aaa/logout", timeout=TIMEOUT)
    assert response.status_code == 204
    assert requests.get(f"{sim.url}/g/aaa/isauth", timeout=TIMEOUT).status_code == 401
    # The old key is dead even when presented explicitly.
    key = response.request.headers["Cookie"].split("auth_key=")[1].split(";")[0]
    assert requests.get(f"{sim.url}/g/aaa/isauth?A={key}", timeout=TIMEOUT).status_code == 401
    assert http.post(f"{sim.url}/g/aaa/logout", timeout=TIMEOUT).status_code == 401


@pytest.mark.parametrize(
    "path",
    ["/g/aaa/isauth", "/g/account/list", "/g/device/list", "/g/device?id=10000000", "/g/user"],
)
def test_no_session_is_a_401(sim: Simulator, path: str) -> None:
    assert requests.get(f"{sim.url}{path}", timeout=TIMEOUT).status_code == 401
    cookies = {"auth_key": "c001~00000000000000000000000000000000"}
    response = requests.get(f"{sim.url}{path}", cookies=cookies, timeout=TIMEOUT)
    assert response.status_code == 401


def test_the_a_parameter_works_with_either_separator(sim: Simulator) -> None:
    key = auth_key(login(sim))
    assert requests.get(f"{sim.url}/g/aaa/isauth?A={key}", timeout=TIMEOUT).status_code == 200
    response = requests.get(f"{sim.url}/g/device/list?t=camera;A={key}", timeout=TIMEOUT)
    assert response.status_code == 200
    assert {row[3] for row in response.json()} <= {"camera"}


def test_the_a_parameter_precedence(sim: Simulator) -> None:
    key = auth_key(login(sim))
    bad = "c001~ffffffffffffffffffffffffffffffff"
    url = f"{sim.url}/g/aaa/switch_account"
    # A in the query string wins over everything else ...
    assert requests.post(f"{url}?A={key}", data={"A": bad}, timeout=TIMEOUT).status_code == 200
    assert requests.post(f"{url}?A={bad}", data={"A": key}, timeout=TIMEOUT).status_code == 401
    # ... then A in form data, then in a JSON body, then the cookie.
    cookie = {"auth_key": bad}
    assert requests.post(url, data={"A": key}, cookies=cookie, timeout=TIMEOUT).status_code == 200
    assert requests.post(url, json={"A": key}, cookies=cookie, timeout=TIMEOUT).status_code == 200
    assert (
        requests.post(url, json={"A": bad}, cookies={"auth_key": key}, timeout=TIMEOUT).status_code
        == 401
    )


def test_an_api_key_header_is_accepted_and_ignored(sim: Simulator) -> None:
    http = requests.Session()
    http.headers["Authorization"] = "0123456789abcdef"
    token = authenticate(sim, http)
    assert http.post(f"{sim.url}/g/aaa/authorize", json={"token": token}, timeout=TIMEOUT).ok
    assert get(sim, http, "/g/aaa/isauth").status_code == 200


def test_sessions_expire(make_sim: MakeSimulator) -> None:
    sim = make_sim(session_seconds=0.5)
    http = login(sim)
    wait_for(lambda: get(sim, http, "/g/aaa/isauth").status_code == 401, timeout=5,
             message="the session to expire")  # fmt: skip
    assert get(sim, http, "/g/account/list").status_code == 401


def test_current_user(sim: Simulator) -> None:
    http = login(sim)
    user = get(sim, http, "/g/user").json()
    assert user["email"] == USERNAME
    assert get(sim, http, "/g/user", id=user["id"]).status_code == 200
    assert get(sim, http, "/g/user", id="ffffffff").status_code == 404


def test_wrong_method_and_unknown_endpoint(sim: Simulator) -> None:
    response = requests.get(f"{sim.url}/g/aaa/authenticate", timeout=TIMEOUT)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert requests.get(f"{sim.url}/g/nothing/here", timeout=TIMEOUT).status_code == 404
    assert requests.get(f"{sim.url}/", timeout=TIMEOUT).status_code == 404


@pytest.mark.parametrize(
    ("mode", "names"),
    [
        ("both", ["auth_key", "videobank_sessionid"]),
        ("auth_key", ["auth_key"]),
        ("videobank_sessionid", ["videobank_sessionid"]),
    ],
)
def test_the_session_cookie_names_set_and_accepted(
    make_sim: MakeSimulator, mode: str, names: list[str]
) -> None:
    sim = make_sim(session_cookie=mode)
    http = login(sim)
    assert sorted(http.cookies.keys()) == names
    key = http.cookies[names[-1]]
    account_id = get(sim, requests.Session(), "/g/user", A=key).json()["active_account_id"]
    url = f"{sim.ws_url}/api/v2/Device/{account_id}/Events"
    for name in ("auth_key", "videobank_sessionid"):  # either is accepted, whichever was set
        cookie = {name: key}
        assert requests.get(f"{sim.url}/g/user", cookies=cookie, timeout=TIMEOUT).ok
        websocket.create_connection(url, cookie=f"{name}={key}", timeout=TIMEOUT).close()
    logout = requests.post(f"{sim.url}/g/aaa/logout", cookies=cookie, timeout=TIMEOUT)
    assert logout.headers["Set-Cookie"].split(", ") == [
        f"{name}=; Path=/; Max-Age=0" for name in names
    ]


def test_an_unknown_session_cookie_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="session_cookie must be one of"):
        Simulator(session_cookie="sessionid")
