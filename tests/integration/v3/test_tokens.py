"""TokenManager against the simulator: refresh ahead of expiry, rotation saved before use, a
restart that needs no browser, one refresh for many callers (docs/een-api-v3.md §1.5)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
import requests

from exporter.logs import redact
from exporter.simulator import Simulator
from exporter.simulator.v3.tokens import V3Settings
from exporter.v3.oauth import Failure, OAuthClient, OAuthError
from exporter.v3.tokenfile import TokenFile
from exporter.v3.tokens import TokenManager, first_token
from tests.integration.conftest import MakeSimulator

CLIENT_ID, CLIENT_SECRET = "demo-client", "demo-secret"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def logged_in(sim: Simulator, tmp_path: Path) -> tuple[OAuthClient, TokenFile]:
    """What `een-exporter login` leaves behind: a token file."""
    client = OAuthClient(sim.url, CLIENT_ID, CLIENT_SECRET)
    code = requests.post(f"{sim.url}/_sim/v3/code", json={}, timeout=10).json()["code"]
    token_file = TokenFile(tmp_path / "token.json")
    token_file.save(first_token(CLIENT_ID, client.exchange_code(code, ""), 0.0))
    return client, token_file


def refreshes(sim: Simulator) -> int:
    return int(requests.get(f"{sim.url}/_sim/v3/state", timeout=10).json()["refreshes"])


def api(sim: Simulator, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    return requests.get(f"{sim.url}/api/v3.0/accounts", headers=headers, timeout=10).status_code


def test_the_rotated_token_is_on_disk_before_use_and_survives_a_restart(
    sim: Simulator, tmp_path: Path
) -> None:
    client, token_file = logged_in(sim, tmp_path)
    first_refresh = token_file.load().refresh_token
    manager = TokenManager(client, token_file)
    token = manager.access_token()
    assert api(sim, token.value) == 200
    saved = token_file.load().refresh_token
    assert saved != first_refresh  # rotated, and the rotation is what the file holds
    # EEN killed the old refresh token at once; the saved one is the live one.
    assert client_refresh_status(sim, first_refresh) == 401
    # A restart: a new manager from the file alone, no browser.
    restarted = TokenManager(OAuthClient(sim.url, CLIENT_ID, CLIENT_SECRET), token_file)
    again = restarted.access_token()
    assert api(sim, again.value) == 200
    assert api(sim, token.value) == 401  # the previous process's token was rotated away
    assert refreshes(sim) == 2


def client_refresh_status(sim: Simulator, refresh_token: str) -> int:
    return requests.post(
        f"{sim.url}/oauth2/token",
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        timeout=10,
    ).status_code


def test_tokens_are_reused_until_the_margin_before_expiry(
    make_sim: MakeSimulator, tmp_path: Path
) -> None:
    sim = make_sim(v3=V3Settings(access_token_seconds=100))
    client, token_file = logged_in(sim, tmp_path)
    clock = Clock()
    manager = TokenManager(client, token_file, clock=clock)
    token = manager.access_token()
    clock.now += 79  # 21 s left: more than 20 % of 100 s
    assert manager.access_token() is token
    clock.now += 2  # 19 s left: refresh now, before EEN's expiry
    fresh = manager.access_token()
    assert fresh is not token
    assert manager.refreshes == 2


def test_many_callers_share_one_refresh(sim: Simulator, tmp_path: Path) -> None:
    client, token_file = logged_in(sim, tmp_path)
    manager = TokenManager(client, token_file)
    start = threading.Barrier(8)
    seen: list[str] = []

    def call() -> None:
        start.wait()
        seen.append(manager.access_token().value)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(set(seen)) == 1
    assert refreshes(sim) == 1


def test_a_401_invalidates_once_for_everyone(sim: Simulator, tmp_path: Path) -> None:
    client, token_file = logged_in(sim, tmp_path)
    manager = TokenManager(client, token_file)
    stale = manager.access_token()
    requests.post(f"{sim.url}/_sim/faults/v3/expire-tokens", json={}, timeout=10)
    assert api(sim, stale.value) == 401
    manager.invalidate(stale)
    fresh = manager.access_token()
    manager.invalidate(stale)  # a second caller that saw the same 401 late: no new refresh
    assert manager.access_token() is fresh
    assert api(sim, fresh.value) == 200
    assert refreshes(sim) == 2


def test_a_dead_grant_says_log_in_again(sim: Simulator, tmp_path: Path) -> None:
    client, token_file = logged_in(sim, tmp_path)
    manager = TokenManager(client, token_file)
    requests.post(
        f"{sim.url}/_sim/faults/v3/expire-tokens", json={"refresh_tokens": True}, timeout=10
    )
    with pytest.raises(OAuthError) as dead:
        manager.access_token()
    assert dead.value.failure is Failure.GRANT


def test_rate_limits_and_outages_are_transient(sim: Simulator, tmp_path: Path) -> None:
    client, token_file = logged_in(sim, tmp_path)
    manager = TokenManager(client, token_file)
    requests.post(
        f"{sim.url}/_sim/faults/v3/http",
        json={"status": 429, "count": 1, "retry_after": 7, "path": "/oauth2/token"},
        timeout=10,
    )
    with pytest.raises(OAuthError) as limited:
        manager.access_token()
    assert limited.value.failure is Failure.TRANSIENT
    assert limited.value.retry_after == 7
    assert api(sim, manager.access_token().value) == 200  # the grant survived the refusal


def test_a_failed_save_keeps_the_process_working_and_says_so(
    sim: Simulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, token_file = logged_in(sim, tmp_path)
    manager = TokenManager(client, token_file)

    def full_disk(token: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(token_file, "save", full_disk)
    with caplog.at_level(logging.ERROR):
        token = manager.access_token()
    assert api(sim, token.value) == 200
    assert manager.save_failures == 1
    assert "cannot save the rotated refresh token" in caplog.text
    assert token.value not in caplog.text


def test_tokens_are_registered_for_redaction(sim: Simulator, tmp_path: Path) -> None:
    client, token_file = logged_in(sim, tmp_path)
    manager = TokenManager(client, token_file)
    token = manager.access_token()
    refresh_token = token_file.load().refresh_token
    assert token.value not in redact(f"sent {token.value}")
    assert refresh_token not in redact(f"sent {refresh_token}")
