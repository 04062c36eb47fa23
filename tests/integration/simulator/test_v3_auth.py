"""The simulated v3 auth host over real sockets: consent page, token endpoint, refresh rotation,
expiry and revocation (een-api-v3.md §1)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from exporter.simulator import Simulator
from exporter.simulator.v3.tokens import V3Settings
from tests.integration.conftest import MakeSimulator
from tests.integration.simulator import v3client
from tests.integration.simulator.v3client import CLIENT, REDIRECT_URI, TIMEOUT
from tests.support import wait_for

AUTHORIZE = {
    "client_id": "demo-client",
    "response_type": "code",
    "scope": "vms.all",
    "redirect_uri": REDIRECT_URI,
    "state": "s-42",
}


def consent(sim: Simulator, **overrides: str) -> requests.Response:
    form = {**AUTHORIZE, "username": "demo@example.com", "password": "demo", "decision": "allow"}
    return requests.post(
        f"{sim.url}/oauth2/authorize",
        data={**form, **overrides},
        allow_redirects=False,
        timeout=TIMEOUT,
    )


def test_the_consent_page_is_a_login_form_that_keeps_the_request(sim: Simulator) -> None:
    page = requests.get(f"{sim.url}/oauth2/authorize", params=AUTHORIZE, timeout=TIMEOUT)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert '<form method="post" action="/oauth2/authorize">' in page.text
    assert 'name="password" type="password"' in page.text
    assert f'name="redirect_uri" value="{REDIRECT_URI}"' in page.text
    assert 'name="state" value="s-42"' in page.text


def test_signing_in_redirects_with_a_code_that_logs_in(sim: Simulator) -> None:
    answer = consent(sim)
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}" == REDIRECT_URI
    query = parse_qs(location.query)
    assert query["state"] == ["s-42"]
    tokens = v3client.token_request(
        sim, grant_type="authorization_code", code=query["code"][0], redirect_uri=REDIRECT_URI
    )
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "vms.all"
    assert body["expires_in"] == 43200
    assert body["httpsBaseUrl"] == {"hostname": "127.0.0.1", "port": sim.port}
    assert tokens.headers["Cache-Control"] == "no-store"


def test_a_wrong_password_shows_the_form_again_and_denying_redirects_an_error(
    sim: Simulator,
) -> None:
    wrong = consent(sim, password="nope")
    assert wrong.status_code == 401
    assert "Wrong e-mail address or password." in wrong.text
    assert "nope" not in wrong.text
    denied = consent(sim, decision="deny")
    assert denied.status_code == 302
    assert parse_qs(urlsplit(denied.headers["Location"]).query) == {
        "error": ["access_denied"],
        "state": ["s-42"],
    }


def test_bad_clients_and_redirects_get_a_page_other_mistakes_a_redirect(sim: Simulator) -> None:
    unknown = requests.get(
        f"{sim.url}/oauth2/authorize", params={**AUTHORIZE, "client_id": "x"}, timeout=TIMEOUT
    )
    assert unknown.status_code == 400
    assert "Unknown client_id" in unknown.text
    relative = requests.get(
        f"{sim.url}/oauth2/authorize", params={**AUTHORIZE, "redirect_uri": "/cb"}, timeout=TIMEOUT
    )
    assert relative.status_code == 400
    for field, value, error in (
        ("response_type", "token", "unsupported_response_type"),
        ("scope", "admin", "invalid_scope"),
    ):
        answer = requests.get(
            f"{sim.url}/oauth2/authorize",
            params={**AUTHORIZE, field: value},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        assert answer.status_code == 302
        assert parse_qs(urlsplit(answer.headers["Location"]).query)["error"] == [error]


@pytest.mark.parametrize(
    ("auth", "form", "status", "error"),
    [
        (None, {"grant_type": "authorization_code", "code": "x"}, 401, "invalid_client"),
        (("demo-client", "wrong"), {"grant_type": "refresh_token", "refresh_token": "x"}, 401,
         "invalid_client"),
        (CLIENT, {"grant_type": "authorization_code", "code": "never-issued"}, 401,
         "invalid_grant"),
        (CLIENT, {"grant_type": "refresh_token", "refresh_token": "never-issued"}, 401,
         "invalid_grant"),
        (CLIENT, {"grant_type": "password", "username": "u"}, 400, "unsupported_grant_type"),
        (CLIENT, {"code": "x"}, 400, "invalid_request"),
        (CLIENT, {"grant_type": "authorization_code", "code": "x", "scope": "admin"}, 403,
         "invalid_scope"),
    ],
)  # fmt: skip
def test_the_token_endpoint_refuses_as_documented(
    sim: Simulator,
    auth: tuple[str, str] | None,
    form: dict[str, str],
    status: int,
    error: str,
) -> None:
    answer = requests.post(f"{sim.url}/oauth2/token", auth=auth, data=form, timeout=TIMEOUT)
    assert answer.status_code == status
    assert answer.json()["error"] == error
    if error == "invalid_client":
        assert answer.headers["WWW-Authenticate"].startswith("Basic")


def test_a_code_is_single_use_and_bound_to_its_redirect_uri(sim: Simulator) -> None:
    code = v3client.code(sim)
    mismatch = v3client.token_request(
        sim, grant_type="authorization_code", code=code, redirect_uri="http://localhost:3333"
    )
    assert mismatch.status_code == 400
    code = v3client.code(sim)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    assert v3client.token_request(sim, form).status_code == 200
    assert v3client.token_request(sim, form).status_code == 401


def test_parameters_in_the_query_string_work_too(sim: Simulator) -> None:
    # EagleEyev3 (an EEN author's package) sends them there, not in a form body.
    code = v3client.code(sim, redirect_uri=None)
    answer = requests.post(
        f"{sim.url}/oauth2/token?grant_type=authorization_code&scope=vms.all&code={code}",
        auth=CLIENT,
        timeout=TIMEOUT,
    )
    assert answer.status_code == 200, answer.text


def test_refresh_rotates_the_refresh_token_and_kills_the_old_access_token(sim: Simulator) -> None:
    first = v3client.login(sim)
    second = v3client.refresh(sim, first["refresh_token"])
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert v3client.get(sim, first["access_token"], "clientSettings").status_code == 401
    assert v3client.get(sim, rotated["access_token"], "clientSettings").status_code == 200
    assert v3client.refresh(sim, first["refresh_token"]).status_code == 401
    assert v3client.v3_state(sim)["refreshes"] == 1


def test_lifetimes_are_configurable_and_expiry_means_401(make_sim: MakeSimulator) -> None:
    sim = make_sim(v3=V3Settings(access_token_seconds=1, refresh_idle_seconds=2))
    tokens = v3client.login(sim)
    assert tokens["expires_in"] == 1
    assert v3client.get(sim, tokens["access_token"], "clientSettings").status_code == 200
    expired = wait_for(
        lambda: v3client.get(sim, tokens["access_token"], "clientSettings").status_code == 401,
        timeout=5,
        message="the access token to expire",
    )
    assert expired
    refreshed = v3client.refresh(sim, tokens["refresh_token"])
    assert refreshed.status_code == 200
    wait_for(
        lambda: v3client.refresh(sim, refreshed.json()["refresh_token"]).status_code == 401,
        timeout=6,
        message="the idle refresh token to expire",
    )


def test_the_expire_fault_gives_401_until_a_refresh(sim: Simulator) -> None:
    tokens = v3client.login(sim)
    counts = v3client.control(sim, "POST", "faults/v3/expire-tokens")
    assert counts == {"access_tokens": 1, "grants": 0}
    unauthenticated = v3client.get(sim, tokens["access_token"], "cameras")
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["status"] == "unauthenticated"
    refreshed = v3client.refresh(sim, tokens["refresh_token"]).json()
    assert v3client.get(sim, refreshed["access_token"], "cameras").status_code == 200
    v3client.control(sim, "POST", "faults/v3/expire-tokens", {"refresh_tokens": True})
    assert v3client.refresh(sim, refreshed["refresh_token"]).status_code == 401


def test_revoke_ends_the_grant(sim: Simulator) -> None:
    tokens = v3client.login(sim)
    answer = requests.post(
        f"{sim.url}/oauth2/revoke",
        auth=CLIENT,
        data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
        timeout=TIMEOUT,
    )
    assert answer.status_code == 200
    assert v3client.refresh(sim, tokens["refresh_token"]).status_code == 401
    assert v3client.get(sim, tokens["access_token"], "clientSettings").status_code == 401


def test_another_registered_client(make_sim: MakeSimulator) -> None:
    sim = make_sim(v3=V3Settings(client_id="acme", client_secret="s3cret"))
    form = {"grant_type": "authorization_code", "code": v3client.code(sim, None)}
    assert v3client.token_request(sim, form).status_code == 401
    assert v3client.token_request(sim, form, auth=("acme", "s3cret")).status_code == 200


def test_basic_credentials_must_be_base64(sim: Simulator) -> None:
    answer = requests.post(
        f"{sim.url}/oauth2/token",
        headers={"Authorization": "Basic not*base64"},
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        timeout=TIMEOUT,
    )
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"
