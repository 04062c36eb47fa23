"""Fixtures: a simulated EEN cloud and an in-process exporter pointed at it, with fast timings."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
import requests

from exporter.app import Exporter, tuning_for
from exporter.config import Settings
from exporter.simulator import Simulator, WorldSpec
from exporter.simulator.client import SimulatorControl
from tests.integration.conftest import MakeSimulator
from tests.integration.hostile import HostileServer
from tests.support import Sample, parse_exposition, wait_for

USERNAME, PASSWORD = "ops@example.com", "s3cret-Pa55word"

StartExporter = Callable[..., Exporter]


@pytest.fixture
def sim(make_sim: MakeSimulator) -> Simulator:
    spec = WorldSpec(accounts=3, bridges=1, cameras=4, seed=7)
    return make_sim(spec, username=USERNAME, password=PASSWORD)


@pytest.fixture
def control(sim: Simulator) -> SimulatorControl:
    return SimulatorControl(sim.url)


@pytest.fixture
def make_hostile() -> Iterator[Callable[[str | None], HostileServer]]:
    """Start hostile servers in front of an upstream URL (or none: "another host")."""
    started: list[HostileServer] = []

    def make(upstream: str | None) -> HostileServer:
        server = HostileServer(upstream)
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def hostile(sim: Simulator, make_hostile: Callable[[str | None], HostileServer]) -> HostileServer:
    """A hostile EEN endpoint in front of `sim`: rules answer, the rest reaches the simulator."""
    return make_hostile(sim.url)


@pytest.fixture
def start_exporter(sim: Simulator) -> Iterator[StartExporter]:
    """Start an exporter against `sim`; keyword arguments override Settings fields, and
    `tuning` (a dict) overrides SupervisorTuning fields."""
    started: list[Exporter] = []

    def start(tuning: dict[str, Any] | None = None, **overrides: Any) -> Exporter:
        settings = replace(
            Settings(
                username=USERNAME,
                password=PASSWORD,
                url=sim.url,
                listen_host="127.0.0.1",
                listen_port=0,
                stream_timeout_seconds=3.0,
                device_refresh_seconds=300.0,
                backoff_max_seconds=1.0,
            ),
            **overrides,
        )
        fast = tuning_for(settings, backoff_base=0.05, start_jitter=0.0)
        exporter = Exporter(settings, replace(fast, **(tuning or {})))
        started.append(exporter)
        exporter.start()
        return exporter

    yield start
    for exporter in started:
        exporter.stop()


def scrape(exporter: Exporter) -> dict[Sample, float]:
    response = requests.get(exporter.url + "/metrics", timeout=5)
    response.raise_for_status()
    return parse_exposition(response.text)


def sub_accounts(control: SimulatorControl) -> list[dict[str, Any]]:
    """The simulator's accounts that hold devices."""
    return [a for a in control.state()["accounts"] if a["devices"]]


def wait_ready(exporter: Exporter, timeout: float = 10.0) -> None:
    def ready() -> bool:
        return requests.get(exporter.url + "/readyz", timeout=5).status_code == 200

    wait_for(ready, timeout=timeout, message="/readyz to answer 200")


@pytest.fixture
def log_lines(caplog: pytest.LogCaptureFixture) -> Callable[[], str]:
    """Every log line so far, formatted by the exporter's own formatter."""
    from exporter.config import LogFormat
    from exporter.logs import LineFormatter

    caplog.set_level(logging.DEBUG)
    formatter = LineFormatter(LogFormat.LOGFMT)
    return lambda: "\n".join(formatter.format(record) for record in caplog.records)
