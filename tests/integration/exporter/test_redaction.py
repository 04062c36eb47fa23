"""Secrets an upstream echoes back never reach the pages (the log lines are checked in test_cli)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import count

import pytest
import requests

from tests.integration.exporter.conftest import PASSWORD, USERNAME
from tests.integration.exporter.test_cli import API_KEY, SESSION_KEY, Process
from tests.integration.hostile import Exchange, HostileServer, answer, response_head
from tests.support import wait_for

ACCOUNT_ID = "00000001"


@pytest.fixture
def exporters() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        process.kill()


def echo_cloud(failing: str) -> HostileServer:
    """A broken EEN: logins succeed, each with a new session key; then the `failing` list
    answers an error whose reason phrase repeats the password, the API key and the session key,
    as an upstream that echoes its request into its errors would."""
    cloud = HostileServer()
    keys = count(0xC0FFEE00)

    def authorize(exchange: Exchange) -> None:
        user = json.dumps({"user_id": "u1", "owner_account_id": ACCOUNT_ID, "is_master": 0})
        cookie = ("Set-Cookie", f"auth_key=c001~{next(keys):016x}; Path=/")
        answer(200, user.encode(), [cookie])(exchange)

    def echo(exchange: Exchange) -> None:
        [login, *_] = cloud.requests("POST", "/g/aaa/authenticate")
        password = json.loads(login.body)["password"]
        headers = exchange.request.headers
        echoed = f"rejected {headers.get('cookie', '')} api_key={headers.get('authorization', '')}"
        exchange.send(response_head(503, reason=f"{echoed} password={password}"))

    cloud.on("POST", "/g/aaa/authenticate", answer(200, b'{"token": "token-1"}'))
    cloud.on("POST", "/g/aaa/authorize", authorize)
    accounts = echo if failing == "account_list" else answer(200, b'[["00000001", "Echo"]]')
    cloud.on("GET", "/g/account/list", accounts)
    cloud.on("GET", "/g/device/list", echo)
    return cloud


@pytest.mark.parametrize(
    ("failing", "problem"),
    [
        ("account_list", "account discovery failing: account_list: HTTP 503 rejected"),
        ("device_list", "failing: 00000001 (device_list: HTTP 503 rejected"),
    ],
)
def test_pages_never_show_secrets_an_upstream_echoes(
    exporters: list[Process], failing: str, problem: str
) -> None:
    with echo_cloud(failing) as cloud:
        env = {
            "EEN_URL": cloud.url,
            "EEN_USERNAME": USERNAME,
            "EEN_PASSWORD": PASSWORD,
            "EEN_API_KEY": API_KEY,
        }
        exporter = Process("--web.listen-address=127.0.0.1:0", env=env)
        exporters.append(exporter)
        url = exporter.url()

        def readyz_with_the_problem() -> str | None:
            text = requests.get(url + "/readyz", timeout=5).text
            return text if problem in text else None

        readyz = wait_for(readyz_with_the_problem, message="/readyz naming the problem")
        page = requests.get(url + "/", timeout=5).text
    assert problem in page
    for shown in (readyz, page):
        assert PASSWORD not in shown
        assert API_KEY not in shown
        assert not SESSION_KEY.findall(shown), SESSION_KEY.findall(shown)
    # The rest of the problem stays: where the secrets were, it says so.
    assert "api_key=<redacted> password=<redacted>" in readyz
    assert "api_key=&lt;redacted&gt; password=&lt;redacted&gt;" in page
