"""Login problems: one clear log line each, and the exporter keeps serving."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
import requests

from exporter.simulator import Simulator, WorldSpec
from tests.integration.conftest import MakeSimulator
from tests.integration.exporter.conftest import PASSWORD, USERNAME, StartExporter, scrape
from tests.support import series, wait_for


def readyz(url: str) -> requests.Response:
    return requests.get(url + "/readyz", timeout=5)


def test_wrong_password(start_exporter: StartExporter, log_lines: Callable[[], str]) -> None:
    exporter = start_exporter(password="not-the-password")

    def failed_twice() -> bool:
        failures = series(scrape(exporter), "een_login_failures_total")
        return failures is not None and failures >= 2

    wait_for(failed_twice, message="two failed logins (retried with backoff)")
    assert "account discovery failed" in log_lines()
    assert 'reason="authenticate: HTTP 401' in log_lines()
    ready = readyz(exporter.url)
    assert ready.status_code == 503
    assert ready.text.startswith("account discovery failing: authenticate: HTTP 401")
    assert "not-the-password" not in log_lines()


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
    assert "service user without two-factor authentication" in log_lines()
    failures = series(scrape(exporter), "een_login_failures_total")
    assert failures is not None
    assert failures >= 1


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
