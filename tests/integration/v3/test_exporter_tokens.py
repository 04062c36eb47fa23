"""API v3 tokens in a running exporter: renewed before they expire, every rotation on disk
(atomically, 0600) before use, and a restart that needs the token file only."""

from __future__ import annotations

import logging
import stat
import time
from pathlib import Path

import pytest
import requests

from exporter.simulator import Simulator
from exporter.simulator.v3.tokens import V3Settings
from exporter.v3.tokenfile import TokenFile
from tests.integration.v3.conftest import (
    KEEPALIVE,
    StartExporter,
    scrape,
    set_status,
    wait_matching,
    wait_ready,
)
from tests.integration.v3.test_exporter import a_camera, other_than
from tests.support import series


@pytest.fixture
def v3_settings() -> V3Settings:
    """Access tokens that live 3 s: renewed every 2.4 s (at 80 % of their life)."""
    return V3Settings(sse_keepalive_seconds=KEEPALIVE, access_token_seconds=3.0)


def test_token_refresh_and_rotation_survive_a_restart(
    sim: Simulator,
    start_exporter: StartExporter,
    token_file: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    first = TokenFile(token_file).load().refresh_token
    exporter = start_exporter()
    wait_ready(exporter)
    seen = {first}
    # Several renewals of the reseller's and the end-user tokens, with changes still arriving.
    deadline = time.monotonic() + 8.0
    while time.monotonic() < deadline:
        seen.add(TokenFile(token_file).load().refresh_token)
        if len(seen) >= 3:
            break
        time.sleep(0.1)
    assert len(seen) >= 3, "the refresh token did not rotate twice"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    account, esn, status = a_camera(sim)
    set_status(sim, esn, other_than(status))
    wait_matching(exporter, sim, timeout=5.0)
    renewals = series(scrape(exporter), "een_stream_connects_total", account_id=account)
    assert renewals is not None
    assert renewals >= 2
    # Each stream was left before its token died, not cut by the server when it did.
    assert "stream renewed" in caplog.text
    assert "stream down" not in caplog.text
    exporter.stop()
    # A new process: only the token file, which holds the last rotation; no browser.
    last = TokenFile(token_file).load().refresh_token
    restarted = start_exporter()
    wait_ready(restarted)
    wait_matching(restarted, sim)
    assert TokenFile(token_file).load().refresh_token != last  # it used and rotated it
    dead = requests.post(
        f"{sim.url}/oauth2/token",
        auth=("demo-client", "demo-secret"),
        data={"grant_type": "refresh_token", "refresh_token": last},
        timeout=10,
    )
    assert dead.status_code == 401  # rotated away, as EEN does
