"""API v3 mode against a hostile or broken EEN (issue 19): its REST and token calls keep v1's
protections, a token answer's lifetime is not taken blindly, and `een-exporter login` prints
no secret and no traceback whatever the token endpoint answers."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from exporter.simulator import Simulator
from exporter.transport.rest import RestLimits
from exporter.v3 import login
from exporter.v3.tokenfile import TokenFile
from tests.integration.hostile import Exchange, HostileServer, Reply, answer, response_head, trickle
from tests.integration.v3.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    StartExporter,
    scrape,
    sim_post,
    truth,
    wait_ready,
)
from tests.support import series, wait_for

TOKEN = "/oauth2/token"
CAMERAS = "/api/v3.0/cameras"
SLOW = RestLimits(connect_timeout=2.0, read_timeout=5.0, deadline=0.5)
MakeHostile = Callable[[str | None], HostileServer]


@pytest.fixture
def make_hostile() -> Iterator[MakeHostile]:
    started: list[HostileServer] = []

    def make(upstream: str | None) -> HostileServer:
        server = HostileServer(upstream)
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def hostile(sim: Simulator, make_hostile: MakeHostile) -> HostileServer:
    """A hostile EEN in front of `sim`: rules answer, the rest reaches the simulator."""
    return make_hostile(sim.url)


@pytest.fixture
def log_lines(caplog: pytest.LogCaptureFixture) -> Callable[[], str]:
    from exporter.config import LogFormat
    from exporter.logs import LineFormatter

    caplog.set_level(logging.DEBUG)
    formatter = LineFormatter(LogFormat.LOGFMT)
    return lambda: "\n".join(formatter.format(record) for record in caplog.records)


def streams_up(exporter: Any, accounts: list[str], connects: int = 1) -> bool:
    samples = scrape(exporter)
    return all(
        series(samples, "een_stream_up", account_id=a) == 1
        and (series(samples, "een_stream_connects_total", account_id=a) or 0) >= connects
        for a in accounts
    )


def refreshes(sim: Simulator) -> int:
    return int(requests.get(f"{sim.url}/_sim/v3/state", timeout=10).json()["refreshes"])


def rewritten(sim: Simulator, change: Callable[[dict[str, Any]], dict[str, Any]]) -> Reply:
    """The simulator's token answer, changed by `change` on its way to the exporter."""

    def reply(exchange: Exchange) -> None:
        request = exchange.request
        upstream = requests.post(
            sim.url + TOKEN,
            data=request.body,
            headers={
                "Authorization": request.headers.get("authorization", ""),
                "Content-Type": request.headers.get("content-type", ""),
            },
            timeout=10,
        )
        body = upstream.json()
        if upstream.status_code == 200:
            body = change(body)
        answer(upstream.status_code, json.dumps(body).encode())(exchange)

    return reply


def code(sim: Simulator) -> str:
    return str(requests.post(f"{sim.url}/_sim/v3/code", json={}, timeout=10).json()["code"])


def run_login(url: str, token_file: Path, the_code: str) -> int:
    """`een-exporter login --code`; its exit status (stderr: capsys)."""
    env = {"EEN_CLIENT_ID": CLIENT_ID, "EEN_CLIENT_SECRET": CLIENT_SECRET}
    argv = ["--een.url", url, "--een.token-file", str(token_file), "--code", the_code]
    return login.main(argv, env, io.StringIO())


# --- item 3: redirects ------------------------------------------------------------------------


def test_a_token_endpoint_redirect_sends_no_refresh_token_elsewhere(
    start_exporter: StartExporter,
    hostile: HostileServer,
    make_hostile: MakeHostile,
    token_file: Path,
    log_lines: Callable[[], str],
) -> None:
    elsewhere = make_hostile(None)
    refresh_token = TokenFile(token_file).load().refresh_token
    location = f"{elsewhere.url}{TOKEN}"
    hostile.on("POST", TOKEN, answer(307, headers=[("Location", location)], reason="Temporary"))
    start_exporter(url=hostile.url)
    host = elsewhere.url.removeprefix("http://")
    refused = f"token request failed: HTTP 307 Temporary: redirect to {host} refused"
    wait_for(lambda: elsewhere.seen or refused in log_lines(), message="the refused redirect")
    assert elsewhere.seen == []
    assert refresh_token in hostile.requests("POST", TOKEN)[0].body.decode()


@pytest.mark.parametrize("status", [307, 308])
def test_login_sends_no_code_elsewhere(
    sim: Simulator,
    make_hostile: MakeHostile,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    status: int,
) -> None:
    hostile, elsewhere = make_hostile(sim.url), make_hostile(None)
    hostile.on("POST", TOKEN, answer(status, headers=[("Location", f"{elsewhere.url}{TOKEN}")]))
    the_code = code(sim)
    assert run_login(hostile.url, tmp_path / "t.json", the_code) == 1
    err = capsys.readouterr().err
    assert f"redirect to {elsewhere.url.removeprefix('http://')} refused" in err
    assert elsewhere.seen == []
    assert the_code not in err
    assert not (tmp_path / "t.json").exists()


# --- item 4: answers that never end -------------------------------------------------------------


def test_trickled_device_lists_cannot_hold_the_gate(
    start_exporter: StartExporter, hostile: HostileServer, sim: Simulator
) -> None:
    exporter = start_exporter(url=hostile.url, login_concurrency=1, tuning={"rest": SLOW})
    wait_ready(exporter)
    accounts = list(truth(sim))
    body = b"{" + b" " * 5000 + b"}"  # 250 s at one byte per 50 ms
    slow = trickle(response_head(200, [], len(body)) + body, every=0.05)
    hostile.on("GET", CAMERAS, slow, times=len(accounts))
    sim_post(sim, "/_sim/faults/v3/drop-sse", {})  # each reconnect lists inside the gate
    wait_for(lambda: streams_up(exporter, accounts, connects=2), message="every stream back")
    assert len(hostile.requests("GET", CAMERAS)) >= 2 * len(accounts)


def test_a_trickled_token_answer_keeps_streams_down_only_until_its_deadline(
    start_exporter: StartExporter,
    hostile: HostileServer,
    sim: Simulator,
    log_lines: Callable[[], str],
) -> None:
    exporter = start_exporter(url=hostile.url, tuning={"token_rest": SLOW})
    wait_ready(exporter)
    accounts = list(truth(sim))
    body = b"{" + b" " * 2000 + b"}"  # 100 s at one byte per 50 ms
    hostile.on("POST", TOKEN, trickle(response_head(200, [], len(body)) + body, 0.05), times=1)
    sim_post(sim, "/_sim/faults/v3/expire-tokens", {})  # every stream needs a new token
    down = time.monotonic()
    wait_for(lambda: streams_up(exporter, accounts, connects=2), message="every stream back")
    assert time.monotonic() - down < 5.0
    assert "token request failed: answer not complete after 0.5s" in log_lines()


# --- item 7: a token answer's lifetime ------------------------------------------------------------


def test_a_token_answer_without_expires_in_keeps_its_rotated_refresh_token(
    start_exporter: StartExporter, hostile: HostileServer, sim: Simulator, token_file: Path
) -> None:
    def without_lifetime(body: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in body.items() if k != "expires_in"}

    hostile.on("POST", TOKEN, rewritten(sim, without_lifetime))
    exporter = start_exporter(url=hostile.url)
    wait_ready(exporter)
    accounts = list(truth(sim))
    # A refresh now must work with the token the first answer rotated to.
    sim_post(sim, "/_sim/faults/v3/expire-tokens", {})
    wait_for(lambda: streams_up(exporter, accounts, connects=2), message="every stream back")
    samples = scrape(exporter)
    assert series(samples, "een_credentials_refused") == 0
    assert refreshes(sim) == 2
    dead = requests.post(
        f"{sim.url}{TOKEN}",
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={
            "grant_type": "refresh_token",
            "refresh_token": TokenFile(token_file).load().refresh_token,
        },
        timeout=10,
    )
    assert dead.status_code == 200  # the file holds the live one


# --- item 8: secrets echoed by the token endpoint ---------------------------------------------


def echo(exchange: Exchange) -> None:
    """A refusal quoting the request: its form (refresh token or code) and its headers (the
    client's Basic credentials), in the reason phrase and the OAuth error description."""
    request = exchange.request
    text = request.body.decode("latin-1") + " " + request.headers.get("authorization", "")
    body = json.dumps({"error": "invalid_request", "error_description": text}).encode()
    answer(400, body, reason=f"Bad {text}"[:1000])(exchange)


def test_login_prints_no_secret_a_token_endpoint_echoes(
    sim: Simulator, make_hostile: MakeHostile, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = make_hostile(sim.url)
    hostile.on("POST", TOKEN, echo)
    the_code = code(sim)
    assert run_login(hostile.url, tmp_path / "t.json", the_code) == 1
    err = capsys.readouterr().err
    assert "invalid_request" in err
    basic = hostile.requests("POST", TOKEN)[0].headers["authorization"].split()[1]
    for secret in (CLIENT_SECRET, the_code, basic):
        assert secret not in err


def test_the_exporter_shows_no_secret_a_token_endpoint_echoes(
    start_exporter: StartExporter,
    hostile: HostileServer,
    token_file: Path,
    log_lines: Callable[[], str],
) -> None:
    hostile.on("POST", TOKEN, echo)
    exporter = start_exporter(url=hostile.url)

    def refusal_shown() -> str | None:
        text = requests.get(exporter.url + "/readyz", timeout=5).text
        return text if "invalid_request" in text else None

    readyz = wait_for(refusal_shown, message="/readyz naming the refusal")
    basic = hostile.requests("POST", TOKEN)[0].headers["authorization"].split()[1]
    refresh_token = TokenFile(token_file).load().refresh_token
    for secret in (CLIENT_SECRET, refresh_token, basic):
        assert secret not in readyz
        assert secret not in log_lines()


# --- item 15: JSON nested too deeply ------------------------------------------------------------


def test_login_reads_json_nested_too_deeply_as_a_malformed_answer(
    sim: Simulator, make_hostile: MakeHostile, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = make_hostile(sim.url)
    hostile.on("POST", TOKEN, answer(200, b"[" * 100_000 + b"]" * 100_000))
    assert run_login(hostile.url, tmp_path / "t.json", code(sim)) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "een-exporter login: error: the code exchange failed: "
        "the token endpoint's answer is JSON nested too deeply"
    ]
