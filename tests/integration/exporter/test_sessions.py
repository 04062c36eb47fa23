"""Sessions: expiry, the login gate, readiness while a stream is pending, logout on stop."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from exporter.app import Exporter
from exporter.config import Settings
from exporter.logs import redact
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
from tests.integration.hostile import HostileServer
from tests.support import series, wait_for


@pytest.fixture
def short_sessions(make_sim: MakeSimulator) -> Simulator:
    spec = WorldSpec(accounts=2, bridges=1, cameras=2, seed=5)
    return make_sim(spec, username=USERNAME, password=PASSWORD, session_seconds=1.5)


def test_expired_sessions_are_replaced_by_new_logins(
    start_exporter: StartExporter, short_sessions: Simulator
) -> None:
    exporter = start_exporter(url=short_sessions.url)
    wait_ready(exporter)

    def relogged_twice() -> bool:
        samples = scrape(exporter)
        logins = series(samples, "een_api_requests_total", endpoint="authenticate") or 0
        up = [series(samples, "een_stream_up", account_id=a["id"]) for a in accounts]
        return logins >= 3 + 2 * 2 and up == [1, 1]

    accounts = sub_accounts(SimulatorControl(short_sessions.url))
    wait_for(relogged_twice, timeout=15, message="each stream logged in again, twice")
    assert series(scrape(exporter), "een_login_failures_total") == 0


@pytest.fixture
def slow_logins(make_sim: MakeSimulator) -> Simulator:
    spec = WorldSpec(accounts=8, bridges=1, cameras=1, seed=9)
    return make_sim(spec, username=USERNAME, password=PASSWORD, latency=0.03)


def test_logins_never_exceed_the_configured_concurrency(
    start_exporter: StartExporter, slow_logins: Simulator
) -> None:
    exporter = start_exporter(url=slow_logins.url, login_concurrency=2)
    wait_ready(exporter, timeout=20)
    # Eight accounts wanted to log in at once; the gate let two through at a time.
    assert SimulatorControl(slow_logins.url).state()["peak_concurrent_logins"] == 2


def test_readiness_names_the_account_still_waiting(
    start_exporter: StartExporter, control: SimulatorControl
) -> None:
    pending = sub_accounts(control)[0]["id"]
    control.stall_streams(pending)  # its stream handshake gets no answer until the reset
    exporter = start_exporter()

    def waiting() -> str | None:
        answer = requests.get(exporter.url + "/readyz", timeout=5)
        return answer.text if answer.status_code == 503 else None

    expected = f"waiting for the first snapshot of: {pending}\n"
    wait_for(lambda: waiting() == expected, message="/readyz naming only the pending account")
    control.reset()
    wait_ready(exporter)


def test_stopping_logs_every_session_out(
    start_exporter: StartExporter, control: SimulatorControl
) -> None:
    exporter = start_exporter()
    wait_ready(exporter)
    assert control.state()["sessions"] == 4  # discovery + one per account
    assert exporter.stop() == []
    assert control.state()["sessions"] == 0


def test_an_exporter_that_never_started_stops_at_once(sim: Simulator) -> None:
    settings = Settings(username=USERNAME, password=PASSWORD, url=sim.url, listen_host="127.0.0.1",
                        listen_port=0)  # fmt: skip
    exporter = Exporter(settings)
    assert exporter.stop(timeout=1.0) == []


@pytest.mark.parametrize(
    ("mode", "sent"),
    [
        ("both", "auth_key"),
        ("auth_key", "auth_key"),
        ("videobank_sessionid", "videobank_sessionid"),
    ],
)
def test_the_session_key_under_either_cookie_name(
    start_exporter: StartExporter,
    make_sim: MakeSimulator,
    make_hostile: Callable[[str | None], HostileServer],
    log_lines: Callable[[], str],
    mode: str,
    sent: str,
) -> None:
    spec = WorldSpec(accounts=2, bridges=1, cameras=2, seed=5)
    sim = make_sim(spec, username=USERNAME, password=PASSWORD, session_cookie=mode)
    recorder = make_hostile(sim.url)  # passes everything through, and records it
    exporter = start_exporter(url=recorder.url)
    wait_ready(exporter)
    samples = scrape(exporter)
    for account in sub_accounts(SimulatorControl(sim.url)):
        assert series(samples, "een_stream_up", account_id=account["id"]) == 1
    assert len([name for name, _ in samples if name == "een_camera_online"]) == 2 * 2
    # The key goes back under the name it came with: REST calls and stream handshakes alike.
    used = [r for r in recorder.seen if r.path not in ("/g/aaa/authenticate", "/g/aaa/authorize")]
    assert {r.headers["cookie"].split("=", 1)[0] for r in used} == {sent}
    assert {r.path.split("/")[2] for r in used} >= {"account", "device", "v2"}
    keys = {r.headers["cookie"].split("=", 1)[1] for r in used}
    for key in keys:
        assert redact(f"key {key}.") == "key <redacted>."
        assert key not in log_lines()
