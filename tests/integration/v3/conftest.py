"""Fixtures: a simulated EEN cloud, a token file from `een-exporter login --code`, and an
in-process exporter in API v3 mode with fast timings."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests

from exporter.app import Exporter, tuning_for
from exporter.config import ApiVersion, Settings
from exporter.simulator import Simulator, WorldSpec
from exporter.simulator.v3.status import connection_status
from exporter.simulator.v3.tokens import V3Settings
from exporter.simulator.world import DeviceType
from exporter.v3.login import main as login
from exporter.v3.tokens import TokenPolicy
from tests.integration.conftest import MakeSimulator
from tests.support import Sample, parse_exposition, wait_for

CLIENT_ID, CLIENT_SECRET = "demo-client", "demo-secret"
StartExporter = Callable[..., Exporter]
# The simulator's SSE keep-alive: well inside the streams' read deadline below.
KEEPALIVE = 0.2
STREAM_TIMEOUT = 2.0
# Tests shorten the simulator's token lifetimes to seconds, to see renewals: taken as they come
# (production takes at least a minute), and paced only against a loop.
FAST_TOKENS = TokenPolicy(min_lifetime=1.0, refresh_window=1.0)


@pytest.fixture
def v3_settings() -> V3Settings:
    return V3Settings(sse_keepalive_seconds=KEEPALIVE)


@pytest.fixture
def sim(make_sim: MakeSimulator, v3_settings: V3Settings) -> Simulator:
    return make_sim(WorldSpec(accounts=3, bridges=1, cameras=4, seed=7), v3=v3_settings)


def log_in(sim: Simulator, token_file: Path) -> None:
    """`een-exporter login --code`, the code from the simulator instead of a browser."""
    code = requests.post(f"{sim.url}/_sim/v3/code", json={}, timeout=10).json()["code"]
    environ = {"EEN_CLIENT_ID": CLIENT_ID, "EEN_CLIENT_SECRET": CLIENT_SECRET}
    argv = ["--een.url", sim.url, "--een.token-file", str(token_file), "--code", code]
    assert login(argv, environ, io.StringIO()) == 0


@pytest.fixture
def token_file(sim: Simulator, tmp_path: Path) -> Path:
    path = tmp_path / "token.json"
    log_in(sim, path)
    return path


@pytest.fixture
def start_exporter(sim: Simulator, token_file: Path) -> Iterator[StartExporter]:
    """Start a v3 exporter against `sim`; keyword arguments override Settings fields, and
    `tuning` (a dict) overrides SupervisorTuning fields."""
    started: list[Exporter] = []

    def start(tuning: dict[str, Any] | None = None, **overrides: Any) -> Exporter:
        settings = replace(
            Settings(
                username="",
                password="",
                api=ApiVersion.V3,
                client_id=CLIENT_ID,
                client_secret=CLIENT_SECRET,
                token_file=token_file,
                url=sim.url,
                listen_host="127.0.0.1",
                listen_port=0,
                stream_timeout_seconds=STREAM_TIMEOUT,
                device_refresh_seconds=300.0,
                backoff_max_seconds=0.5,
            ),
            **overrides,
        )
        fast = replace(
            tuning_for(settings, backoff_base=0.05, start_jitter=0.0), tokens=FAST_TOKENS
        )
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


def truth(sim: Simulator) -> dict[str, dict[str, tuple[str, str]]]:
    """account id -> device id -> (kind, connectionStatus), from the simulator's world."""
    state = requests.get(f"{sim.url}/_sim/state", timeout=10).json()
    return {
        account["id"]: {
            device["id"]: (
                device["type"],
                connection_status(DeviceType(device["type"]), device["status"]).value,
            )
            for device in account["devices"]
        }
        for account in state["accounts"]
        if account["devices"]
    }


def shown(samples: dict[Sample, float]) -> dict[str, dict[str, tuple[str, str]]]:
    """The same, as /metrics shows it: the status whose een_camera_status is 1 (bridges:
    online or not, compared through their truth below)."""
    found: dict[str, dict[str, tuple[str, str]]] = {}
    for (name, labels), value in samples.items():
        label = dict(labels)
        if name == "een_camera_status" and value == 1:
            found.setdefault(label["account_id"], {})[label["camera_id"]] = (
                "camera",
                label["status"],
            )
        elif name == "een_bridge_online":
            status = "online" if value == 1 else "not online"
            found.setdefault(label["account_id"], {})[label["bridge_id"]] = ("bridge", status)
    return found


def expected(world: dict[str, dict[str, tuple[str, str]]]) -> dict[str, dict[str, tuple[str, str]]]:
    return {
        account: {
            esn: (kind, status if kind == "camera" or status == "online" else "not online")
            for esn, (kind, status) in devices.items()
        }
        for account, devices in world.items()
    }


def wait_matching(exporter: Exporter, sim: Simulator, timeout: float = 10.0) -> None:
    wait_for(
        lambda: shown(scrape(exporter)) == expected(truth(sim)),
        timeout=timeout,
        message="/metrics to equal the simulator's world",
    )


def wait_ready(exporter: Exporter, timeout: float = 10.0) -> None:
    wait_for(
        lambda: requests.get(exporter.url + "/readyz", timeout=5).status_code == 200,
        timeout=timeout,
        message="/readyz to answer 200",
    )


def set_status(sim: Simulator, esn: str, status: str) -> None:
    response = requests.put(
        f"{sim.url}/_sim/v3/devices/{esn}/status", json={"connectionStatus": status}, timeout=10
    )
    assert response.status_code == 204, response.text


def sim_post(sim: Simulator, path: str, body: dict[str, Any]) -> Any:
    response = requests.post(f"{sim.url}{path}", json=body, timeout=10)
    assert response.status_code in (200, 204), response.text
    return response.json() if response.status_code == 200 else None
