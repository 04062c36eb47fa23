"""Login problems: one clear log line each, and the exporter keeps serving."""

from __future__ import annotations

import itertools
import socket
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
from tests.integration.hostile import HostileServer, Seen, answer
from tests.support import series, wait_for


def readyz(url: str) -> requests.Response:
    return requests.get(url + "/readyz", timeout=5)


AUTHENTICATE = "/g/aaa/authenticate"
HINT = "check EEN_USERNAME / EEN_PASSWORD"


def gaps(requests_seen: list[Seen]) -> list[float]:
    times = [seen.at for seen in requests_seen]
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def hint_lines(log_lines: Callable[[], str]) -> list[str]:
    return [line for line in log_lines().splitlines() if HINT in line]


def test_wrong_password_is_retried_ever_more_slowly_and_said_once(
    start_exporter: StartExporter, hostile: HostileServer, log_lines: Callable[[], str]
) -> None:
    pause = {"login_pause": 0.3, "login_pause_max": 0.6}
    exporter = start_exporter(url=hostile.url, password="not-the-password", tuning=pause)
    wait_for(
        lambda: len(hostile.requests("POST", AUTHENTICATE)) >= 4,
        message="four refused logins",
    )
    # The pause doubles up to its cap (lower bounds: the pause enforces them).
    first, second, third = gaps(hostile.requests("POST", AUTHENTICATE))[:3]
    assert first >= 0.3
    assert second >= 0.6
    assert third >= 0.6
    [hint] = hint_lines(log_lines)
    assert "level=error" in hint
    assert 'reason="authenticate: HTTP 401 Unauthorized"' in hint
    ready = readyz(exporter.url)
    assert ready.status_code == 503
    assert ready.text.startswith(
        f"authentication failing: authenticate: HTTP 401 Unauthorized; {HINT}"
    )
    assert series(scrape(exporter), "een_credentials_refused") == 1
    assert "not-the-password" not in log_lines()


def test_refused_credentials_pause_every_stream_until_they_are_accepted(
    start_exporter: StartExporter,
    hostile: HostileServer,
    control: SimulatorControl,
    log_lines: Callable[[], str],
) -> None:
    exporter = start_exporter(
        url=hostile.url,
        login_concurrency=1,  # one login at a time: none starts before the last one's verdict
        tuning={"login_pause": 0.4, "login_pause_max": 0.8},
    )
    wait_ready(exporter)
    accounts = [a["id"] for a in sub_accounts(control)]
    before = len(hostile.requests("POST", AUTHENTICATE))
    hostile.on("POST", AUTHENTICATE, answer(401, reason="Unauthorized"))
    control.auth_lost()  # every stream must log in again, and EEN now refuses them all

    def refused() -> list[Seen]:
        return hostile.requests("POST", AUTHENTICATE)[before:]

    wait_for(lambda: len(refused()) >= 4, message="four refused logins")
    # Three streams want to log in, yet the exporter as a whole tries once per pause.
    assert all(gap >= 0.4 for gap in gaps(refused()))
    assert series(scrape(exporter), "een_credentials_refused") == 1
    assert readyz(exporter.url).text.startswith("authentication failing: ")
    assert len(hint_lines(log_lines)) == 1

    hostile.clear()  # EEN accepts the credentials again

    def recovered() -> bool:
        samples = scrape(exporter)
        return series(samples, "een_credentials_refused") == 0 and all(
            series(samples, "een_stream_up", account_id=account) == 1 for account in accounts
        )

    wait_for(recovered, message="every stream back after the credentials were accepted")
    assert readyz(exporter.url).status_code == 200
    assert "EEN accepts the credentials again" in log_lines()


@pytest.fixture
def two_factor(make_sim: MakeSimulator) -> Simulator:
    spec = WorldSpec(accounts=1, bridges=1, cameras=1, seed=3)
    return make_sim(spec, username=USERNAME, password=PASSWORD, two_factor=True)


def test_two_factor_user_gets_a_clear_error(
    start_exporter: StartExporter, two_factor: Simulator, log_lines: Callable[[], str]
) -> None:
    exporter = start_exporter(url=two_factor.url)
    wait_for(
        lambda: "two-factor authentication enabled" in log_lines(),
        message="the two-factor error in the log",
    )
    assert "use a service user without two-factor authentication" in log_lines()
    samples = scrape(exporter)
    failures = series(samples, "een_login_failures_total")
    assert failures is not None
    assert failures >= 1
    assert series(samples, "een_credentials_refused") == 1


def test_unreachable_api_is_reported_and_metrics_still_served(
    start_exporter: StartExporter, log_lines: Callable[[], str]
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    exporter = start_exporter(url=f"http://127.0.0.1:{port}")
    wait_for(
        lambda: "connection refused" in readyz(exporter.url).text,
        message="/readyz naming the connection failure",
    )
    assert readyz(exporter.url).status_code == 503
    samples = scrape(exporter)
    failures = series(samples, "een_api_request_failures_total", endpoint="authenticate")
    assert failures is not None
    assert failures >= 1
    assert 'reason="authenticate: connection refused"' in log_lines()
