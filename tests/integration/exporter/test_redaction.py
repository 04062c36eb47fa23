"""Secrets an upstream echoes back never reach the pages (the log lines are checked in test_cli)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.integration.exporter.conftest import PASSWORD, USERNAME
from tests.integration.exporter.echo_cloud import EchoCloud
from tests.integration.exporter.test_cli import API_KEY, SESSION_KEY, Process
from tests.support import wait_for


@pytest.fixture
def exporters() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        process.kill()


@pytest.mark.parametrize(
    ("failing", "problem"),
    [
        ("account_list", "account discovery failing: account_list: HTTP 503 rejected"),
        ("device_list", "failing: 00000001 (device_list: HTTP 500 rejected"),
    ],
)
def test_pages_never_show_secrets_an_upstream_echoes(
    exporters: list[Process], failing: str, problem: str
) -> None:
    with EchoCloud(failing) as cloud:
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
