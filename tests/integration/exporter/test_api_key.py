"""The exporter against a simulator that requires an API key (een-sim --api-key, issue 12 item 5):
the exporter sends EEN_API_KEY on every call, so the right key works end to end, and a wrong one
is refused with one clear log line, without the key, while the exporter keeps serving."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from exporter.simulator import Simulator, WorldSpec
from exporter.simulator.client import SimulatorControl
from tests.integration.conftest import MakeSimulator
from tests.integration.exporter.conftest import (
    PASSWORD,
    USERNAME,
    StartExporter,
    scrape,
    sub_accounts,
    wait_ready,
)
from tests.support import series, wait_for

KEY = "sim-required-key-7f3a9c"
WRONG_KEY = "not-the-key-5e2b81"
HINT = "check EEN_USERNAME / EEN_PASSWORD / EEN_API_KEY"


@pytest.fixture
def keyed(make_sim: MakeSimulator) -> Simulator:
    spec = WorldSpec(accounts=2, bridges=1, cameras=2, seed=5)
    return make_sim(spec, username=USERNAME, password=PASSWORD, api_key=KEY)


def test_the_right_key_works_end_to_end(start_exporter: StartExporter, keyed: Simulator) -> None:
    exporter = start_exporter(url=keyed.url, api_key=KEY)
    wait_ready(exporter)
    with SimulatorControl(keyed.url) as control:
        accounts = sub_accounts(control)
        camera = next(d for d in accounts[0]["devices"] if d["type"] == "camera")
        labels = {"account_id": accounts[0]["id"], "camera_id": camera["id"]}
        samples = scrape(exporter)
        for account in accounts:
            assert series(samples, "een_stream_up", account_id=account["id"]) == 1
        assert series(samples, "een_camera_streaming", **labels) == 1
        # The stream (whose handshake needs the key too) carries a change through.
        control.set_status(camera["id"], 0x120025)  # online, not streaming
    wait_for(
        lambda: series(scrape(exporter), "een_camera_streaming", **labels) == 0,
        message="the status change over the keyed stream",
    )
    assert series(scrape(exporter), "een_credentials_refused") == 0


def test_a_wrong_key_is_one_clear_line_and_the_exporter_keeps_serving(
    start_exporter: StartExporter, keyed: Simulator, log_lines: Callable[[], str]
) -> None:
    exporter = start_exporter(
        url=keyed.url, api_key=WRONG_KEY, tuning={"login_pause": 0.2, "login_pause_max": 0.4}
    )
    wait_for(
        lambda: (series(scrape(exporter), "een_login_failures_total") or 0) >= 3,
        message="three refused logins",
    )
    hints = [line for line in log_lines().splitlines() if HINT in line]
    assert len(hints) == 1, hints  # said once, however often it is retried
    assert "level=error" in hints[0]
    assert 'reason="authenticate: HTTP 401 Unauthorized"' in hints[0]
    everything = log_lines()
    assert WRONG_KEY not in everything
    assert KEY not in everything
    ready = requests.get(exporter.url + "/readyz", timeout=5)
    assert ready.status_code == 503
    assert HINT in ready.text
    assert WRONG_KEY not in ready.text
    samples = scrape(exporter)  # still serving
    assert series(samples, "een_credentials_refused") == 1
    assert requests.get(exporter.url + "/healthz", timeout=5).status_code == 200
