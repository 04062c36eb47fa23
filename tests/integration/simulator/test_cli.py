"""`een-sim` as a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
import websocket

from tests.integration.simulator.een import TIMEOUT

ROOT = Path(__file__).resolve().parents[3]
USERNAME, PASSWORD = "ops@example.com", "pw-123"
API_KEY = "sim-api-key-0123456789"

StartSim = Callable[..., subprocess.Popen[str]]


@pytest.fixture
def start_een_sim() -> Iterator[StartSim]:
    """Start `een-sim` processes with extra arguments; every one is stopped afterwards."""
    started: list[subprocess.Popen[str]] = []

    def start(*extra: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "exporter.simulator.cli", "--listen", "127.0.0.1:0",
             "--accounts", "2", "--bridges", "1", "--cameras", "3", "--seed", "4",
             "--username", USERNAME, "--password", PASSWORD, *extra],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=TIMEOUT)


@pytest.fixture
def een_sim(start_een_sim: StartSim) -> subprocess.Popen[str]:
    return start_een_sim()


def sim_url(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    first = process.stdout.readline()  # blocks until the simulator is listening
    assert first.startswith("een-sim listening on http://127.0.0.1:"), first
    return first.split()[-1]


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_een_sim_serves_and_stops_on_a_signal(
    een_sim: subprocess.Popen[str], stop_signal: signal.Signals
) -> None:
    url = sim_url(een_sim)
    assert een_sim.stdout is not None
    banner = [een_sim.stdout.readline() for _ in range(5)]
    assert any("ops@example.com" in line for line in banner)
    assert any("pw-123" in line for line in banner)

    credentials = {"username": USERNAME, "password": PASSWORD}
    response = requests.post(f"{url}/g/aaa/authenticate", json=credentials, timeout=TIMEOUT)
    assert response.status_code == 200
    state = requests.get(f"{url}/_sim/state", timeout=TIMEOUT).json()
    assert len(state["accounts"]) == 3

    een_sim.send_signal(stop_signal)
    assert een_sim.wait(TIMEOUT) == 0
    assert "een-sim stopped" in een_sim.stdout.read()


def test_een_sim_rejects_a_bad_listen_address() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "exporter.simulator.cli", "--listen", "nowhere"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert result.returncode == 2
    assert "HOST:PORT" in result.stderr


def test_een_sim_debug_log_has_no_secrets_and_no_bodies(start_een_sim: StartSim) -> None:
    """A login with an API key, a stream, a subscription: DEBUG shows only methods and paths."""
    # A plain customer, whose own account holds the devices; the level in lower case; the
    # session key in the older cookie only; the API key required (and not printed).
    process = start_een_sim(
        "--accounts", "0", "--log-level", "debug", "--session-cookie", "videobank_sessionid",
        "--api-key", API_KEY,
    )  # fmt: skip
    url = sim_url(process)
    assert process.stdout is not None
    banner = "".join(process.stdout.readline() for _ in range(6))
    assert "API key:     the one given by --api-key" in banner
    assert API_KEY not in banner
    http = requests.Session()
    http.headers["Authorization"] = API_KEY
    credentials = {"username": USERNAME, "password": PASSWORD}
    token = http.post(f"{url}/g/aaa/authenticate", json=credentials, timeout=TIMEOUT).json()
    authorized = http.post(f"{url}/g/aaa/authorize", json=token, timeout=TIMEOUT)
    assert authorized.status_code == 200, authorized.text
    assert list(http.cookies.keys()) == ["videobank_sessionid"]
    auth_key = http.cookies["videobank_sessionid"]
    devices = http.get(f"{url}/g/device/list", timeout=TIMEOUT).json()
    account = authorized.json()["active_account_id"]
    stream = websocket.create_connection(
        f"{url.replace('http', 'ws', 1)}/api/v2/Device/{account}/Events",
        cookie=f"videobank_sessionid={auth_key}",
        header=[f"Authorization: {API_KEY}"],
        timeout=TIMEOUT,
    )
    try:
        stream.send(json.dumps({"cameras": {row[1]: {"resource": ["status"]} for row in devices}}))
        assert json.loads(stream.recv())["status_code"] == 200
    finally:
        stream.close()
    assert http.post(f"{url}/g/aaa/logout", timeout=TIMEOUT).status_code == 204
    process.send_signal(signal.SIGTERM)
    _, log = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0
    assert "POST /g/aaa/authorize -> 200" in log  # DEBUG was on
    for secret in (API_KEY, auth_key, PASSWORD, token["token"]):
        assert secret not in log
    for body in ('"resource"', '"status_code"', '"data"', '"token"'):
        assert body not in log


@pytest.mark.parametrize(("given", "level"), [("info", "INFO"), ("Warn", "WARNING")])
def test_een_sim_log_level_in_any_case(given: str, level: str) -> None:
    from exporter.simulator.cli import parse_args

    assert parse_args(["--log-level", given]).log_level == level


def test_een_sim_v3_flags_and_no_v3_secrets_in_the_debug_log(start_een_sim: StartSim) -> None:
    client_id, client_secret = "ops-client", "ops-secret-0123"
    process = start_een_sim(
        "--log-level", "debug", "--v3-client-id", client_id, "--v3-client-secret",
        client_secret, "--v3-access-token-seconds", "120", "--v3-sse-keepalive-seconds", "0",
    )  # fmt: skip
    url = sim_url(process)
    assert process.stdout is not None
    banner: list[str] = []
    while not banner or "control API:" not in banner[-1]:  # the banner's last line
        banner.append(process.stdout.readline())
        assert banner[-1], "the banner ended without its control API line"
    assert any(f"v3 client:   {client_id}" in line for line in banner)
    code = requests.post(f"{url}/_sim/v3/code", json={}, timeout=TIMEOUT).json()["code"]
    # The code in the query string, as EagleEyev3 sends it: the log must still not show it.
    answer = requests.post(
        f"{url}/oauth2/token?grant_type=authorization_code&code={code}",
        auth=(client_id, client_secret),
        timeout=TIMEOUT,
    )
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    assert tokens["expires_in"] == 120
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert requests.get(f"{url}/api/v3.0/accounts", headers=headers, timeout=TIMEOUT).ok
    refreshed = requests.post(
        f"{url}/oauth2/token",
        auth=(client_id, client_secret),
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        timeout=TIMEOUT,
    ).json()
    process.send_signal(signal.SIGTERM)
    _, log = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0
    assert "POST /oauth2/token -> 200" in log
    assert "GET /api/v3.0/accounts -> 200" in log
    for secret in (client_secret, code, tokens["access_token"], tokens["refresh_token"],
                   refreshed["refresh_token"], refreshed["access_token"]):  # fmt: skip
        assert secret not in log


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--tls-cert", "cert.pem"], "--tls-cert and --tls-key go together"),
        (["--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem"],
         "No such file"),
        (["--v3-access-token-seconds", "0"], "must be > 0"),
        (["--api-key", ""], "--api-key must not be empty"),
    ],
)  # fmt: skip
def test_een_sim_rejects_bad_v3_and_tls_flags(extra: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "exporter.simulator.cli", "--listen", "127.0.0.1:0", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert result.returncode == 2
    assert message in result.stderr
