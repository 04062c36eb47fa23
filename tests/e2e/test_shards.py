"""Three shards of one login against one simulated cloud, scraped by a real Prometheus.

The shards are real `een-exporter` processes started as a StatefulSet would start them:
`--shard.index=auto --shard.total=3` with POD_NAME een-exporter-0..2. The simulator holds 30
accounts; the tests prove that together the shards monitor each account exactly once with
the simulator's values, that the dashboards' fleet queries give the simulator's totals,
and that one shard going away touches nobody else and comes back whole.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from exporter.simulator import Simulator, WorldSpec
from exporter.simulator.client import SimulatorControl
from exporter.simulator.world import Bit, DeviceType, Status, overall
from exporter.state.sharding import shard_of
from tests.e2e import daemons
from tests.e2e.apis import Prometheus
from tests.e2e.configs import RATE_INTERVAL, prometheus_config, write_compressed_rules, write_yaml
from tests.integration.exporter.test_cli import Process
from tests.stack.dashboards import all_selected, expand, load_dashboards, panel_queries
from tests.stack.tools import Release
from tests.support import Sample, parse_exposition, series, wait_for

USERNAME, PASSWORD = "shards@example.com", "sh4rd-Pa55word"
SHARDS = 3
WORLD = WorldSpec(accounts=30, bridges=1, cameras=3, seed=9)
# Camera states spread over the fleet (and two bridges offline), so every total is non-trivial.
CAMERA_STATES = (
    Status.RECORDING,
    Status.ONLINE,
    Status.OFFLINE,
    Status.RECORDING,
    Status.PASSWORD_NEEDED,
    Status.INTERNET_OFFLINE,
    Status.RECORDING,
    Status.OFF,
)
DASHBOARDS = {dashboard["uid"]: dashboard for dashboard in load_dashboards().values()}
# Prometheus scrapes for the first time about 5 s after it starts; rules need an evaluation.
SETTLE_SECONDS = 30.0


@dataclass
class Shard:
    index: int
    simulator_url: str
    process: Process
    url: str = ""
    processes: list[Process] = field(default_factory=list)

    @property
    def address(self) -> str:
        return urlsplit(self.url).netloc

    def scrape(self) -> dict[Sample, float]:
        response = requests.get(f"{self.url}/metrics", timeout=5)
        response.raise_for_status()
        return parse_exposition(response.text)

    def accounts(self) -> set[str]:
        return account_ids(self.scrape(), "een_account_info")


def account_ids(samples: dict[Sample, float], metric: str) -> set[str]:
    return {dict(labels)["account_id"] for (name, labels) in samples if name == metric}


def start_shard(index: int, simulator_url: str, listen: str = "127.0.0.1:0") -> Process:
    return Process(
        "--shard.index=auto",
        f"--shard.total={SHARDS}",
        f"--web.listen-address={listen}",
        "--een.stream-timeout=5",
        "--een.backoff-max=1",
        env={
            "POD_NAME": f"een-exporter-{index}",
            "EEN_URL": simulator_url,
            "EEN_USERNAME": USERNAME,
            "EEN_PASSWORD": PASSWORD,
        },
    )


def wait_ready(url: str) -> None:
    wait_for(
        lambda: requests.get(f"{url}/readyz", timeout=5).status_code == 200,
        timeout=20,
        message=f"{url} ready",
    )


def devices(state: dict[str, Any], kind: DeviceType) -> list[dict[str, Any]]:
    return [d for a in state["accounts"] for d in a["devices"] if d["type"] == kind]


def monitored_accounts(state: dict[str, Any]) -> set[str]:
    """What discovery monitors: the dealer's sub-accounts (the dealer holds no devices)."""
    return {account["id"] for account in state["accounts"] if account["devices"]}


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world() -> Iterator[Simulator]:
    with Simulator(WORLD, username=USERNAME, password=PASSWORD) as simulator:
        with SimulatorControl(simulator.url) as control:
            state = control.state()
            cameras = sorted(d["id"] for d in devices(state, DeviceType.CAMERA))
            for esn, status in zip(cameras, CAMERA_STATES * len(cameras), strict=False):
                control.set_status(esn, status)
            for bridge in sorted(d["id"] for d in devices(state, DeviceType.BRIDGE))[:2]:
                control.set_status(bridge, Status.BRIDGE_OFFLINE)
        yield simulator


@pytest.fixture(scope="module")
def state(world: Simulator) -> dict[str, Any]:
    with SimulatorControl(world.url) as control:
        return control.state()


@pytest.fixture(scope="module")
def shards(world: Simulator) -> Iterator[list[Shard]]:
    started = [Shard(i, world.url, start_shard(i, world.url)) for i in range(SHARDS)]
    try:
        for shard in started:
            shard.processes.append(shard.process)
            shard.url = shard.process.url()
        for shard in started:
            wait_ready(shard.url)
        yield started
    finally:
        for shard in started:
            for process in shard.processes:
                process.kill()


@pytest.fixture(scope="module")
def fleet_prometheus(
    shards: list[Shard], release: Release, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    binary = release.prometheus()
    home = tmp_path_factory.mktemp("shards") / "prometheus"
    write_compressed_rules(home / "rules")
    # No Alertmanager here: alerts are read from Prometheus itself.
    unused = "127.0.0.1:9"
    config = prometheus_config([shard.address for shard in shards], unused, None)
    config_file = write_yaml(home / "prometheus.yml", config)
    command = [
        binary,
        f"--config.file={config_file}",
        f"--storage.tsdb.path={home / 'data'}",
        "--web.listen-address=127.0.0.1:0",
    ]
    daemon = daemons.start("Prometheus", command, home / "prometheus.log")
    try:
        prometheus = Prometheus(daemon.url, config_file)
        wait_for(
            lambda: len(prometheus.query('up{job="een"} == 1')) == SHARDS,
            timeout=SETTLE_SECONDS,
            interval=0.2,
            message="Prometheus scraping every shard",
        )
        yield prometheus
    finally:
        daemon.stop()


def dashboard_query(uid: str, panel: str, ref_id: str = "A") -> str:
    """A shipped panel query with every variable set to All, as Grafana would send it."""
    dashboard = DASHBOARDS[uid]
    (query,) = [q for q in panel_queries(dashboard) if (q.panel, q.ref_id) == (panel, ref_id)]
    return expand(query.expr, all_selected(dashboard), RATE_INTERVAL)


def values(prometheus: Prometheus, expr: str, label: str | None = None) -> dict[str, float]:
    return {
        (s["metric"].get(label, "") if label else ""): float(s["value"][1])
        for s in prometheus.query(expr)
    }


def answers(prometheus: Prometheus, expr: str, label: str | None, wanted: dict[str, float]) -> bool:
    return values(prometheus, expr, label) == wanted


# --- the tests ------------------------------------------------------------------------------


def test_together_the_shards_monitor_every_account_exactly_once(
    shards: list[Shard], state: dict[str, Any]
) -> None:
    expected = monitored_accounts(state)
    assert len(expected) == WORLD.accounts
    owned = [shard.accounts() for shard in shards]
    assert sum(len(accounts) for accounts in owned) == len(expected)  # none twice
    assert set().union(*owned) == expected  # none missing
    for shard, accounts in zip(shards, owned, strict=True):
        assert accounts == {a for a in expected if shard_of(a, SHARDS) == shard.index}
        samples = shard.scrape()
        assert series(samples, "een_exporter_shard_info", index=str(shard.index), total="3") == 1
        assert series(samples, "een_exporter_accounts_monitored") == len(accounts)
        assert account_ids(samples, "een_exporter_account_shard") == expected
        assert account_ids(samples, "een_stream_up") == accounts
        assert all(series(samples, "een_stream_up", account_id=a) == 1 for a in accounts)


def test_every_device_has_the_simulators_values_on_exactly_one_shard(
    shards: list[Shard], state: dict[str, Any]
) -> None:
    scrapes = [shard.scrape() for shard in shards]

    def on_its_shard(metric: str, **labels: str) -> float | None:
        found = [v for s in scrapes if (v := series(s, metric, **labels)) is not None]
        assert len(found) <= 1, f"{metric}{labels} on {len(found)} shards"
        return found[0] if found else None

    for camera in devices(state, DeviceType.CAMERA):
        status, esn = camera["status"], camera["id"]
        assert on_its_shard("een_camera_online", camera_id=esn) == bool(status & Bit.REGISTERED)
        assert on_its_shard("een_camera_on", camera_id=esn) == bool(status & Bit.ON)
        assert on_its_shard("een_camera_streaming", camera_id=esn) == bool(status & Bit.STREAMING)
        assert on_its_shard("een_camera_recording", camera_id=esn) == bool(status & Bit.RECORDING)
        assert on_its_shard("een_camera_status", camera_id=esn, status=overall(status)) == 1
    for bridge in devices(state, DeviceType.BRIDGE):
        online = bool(bridge["status"] & Bit.REGISTERED)
        assert on_its_shard("een_bridge_online", bridge_id=bridge["id"]) == online


def test_dashboard_fleet_queries_give_the_simulators_totals(
    fleet_prometheus: Prometheus, shards: list[Shard], state: dict[str, Any]
) -> None:
    cameras = devices(state, DeviceType.CAMERA)
    bridges = devices(state, DeviceType.BRIDGE)
    by_status = Counter(overall(c["status"]) for c in cameras)
    expected = {
        ("een-cameras", "Cameras", "A", None): {"": len(cameras)},
        ("een-cameras", "Cameras by status", "A", "status"): dict(by_status),
        ("een-cameras", "Recording", "A", None): {
            "": sum(bool(c["status"] & Bit.RECORDING) for c in cameras)
        },
        ("een-cameras", "Bridges offline", "A", None): {
            "": sum(not b["status"] & Bit.REGISTERED for b in bridges)
        },
        ("een-cameras", "Accounts", "B", "account_id"): {
            account["id"]: sum(d["type"] == DeviceType.CAMERA for d in account["devices"])
            for account in state["accounts"]
            if account["devices"]
        },
        ("een-exporter-health", "Streams up", "A", None): {"": WORLD.accounts},
        ("een-exporter-health", "Streams down", "A", None): {"": 0},
        ("een-exporter-health", "Version", "A", None): {"": SHARDS},
        ("een-exporter-health", "Accounts discovered and monitored", "A", None): {
            "": WORLD.accounts
        },
        ("een-exporter-health", "Accounts discovered and monitored", "B", None): {
            "": WORLD.accounts
        },
        ("een-exporter-health", "Accounts discovered and monitored", "C", None): {"": 0},
        ("een-exporter-health", "Accounts per exporter", "A", "instance"): {
            shard.address: len(shard.accounts()) for shard in shards
        },
    }
    assert len(by_status) == 5  # every status is in the fleet
    for (uid, panel, ref_id, label), wanted in expected.items():
        expr = dashboard_query(uid, panel, ref_id)
        wait_for(
            partial(answers, fleet_prometheus, expr, label, wanted),
            timeout=SETTLE_SECONDS,
            interval=0.2,
            message=f"{uid}/{panel}/{ref_id} = {wanted}: {expr}",
        )
    # An evaluation between the first scrapes of two shards may have seen a gap (pending);
    # with every shard scraped, no sharding alert is left.
    sharding_alerts = 'ALERTS{alertname=~"EenAccounts.+|EenShardTotalMismatch"}'
    wait_for(
        lambda: fleet_prometheus.query(sharding_alerts) == [],
        timeout=SETTLE_SECONDS,
        interval=0.2,
        message="no sharding alert",
    )


def test_a_stopped_shard_touches_no_other_and_its_accounts_come_back(
    fleet_prometheus: Prometheus, shards: list[Shard]
) -> None:
    stopped, others = shards[1], [shards[0], shards[2]]
    its_accounts = stopped.accounts()
    before = [shard.scrape() for shard in others]
    watch = _StreamWatch(others)
    watch.start()
    try:
        assert stopped.process.terminate(timeout=10) == 0
        # Prometheus sees the gap: exactly the stopped shard's accounts are monitored by no one.
        firing = wait_for(
            lambda: [
                a
                for a in fleet_prometheus.alerts("EenAccountsUnmonitored", job="een")
                if a["state"] == "firing"
            ],
            timeout=SETTLE_SECONDS,
            interval=0.2,
            message="EenAccountsUnmonitored firing",
        )
        assert float(firing[0]["value"]) == len(its_accounts)
        # Back on the same address, as a restarted pod keeps its name and Service entry.
        stopped.process = start_shard(stopped.index, stopped.simulator_url, stopped.address)
        stopped.processes.append(stopped.process)
        assert stopped.process.url() == stopped.url
        wait_ready(stopped.url)
        assert stopped.accounts() == its_accounts
        wait_for(
            lambda: not fleet_prometheus.alerts("EenAccountsUnmonitored"),
            timeout=SETTLE_SECONDS,
            interval=0.2,
            message="EenAccountsUnmonitored to clear once the shard is back",
        )
    finally:
        watch.stop()
    after = [shard.scrape() for shard in others]
    assert watch.scrapes > 10
    assert watch.streams_down == [], watch.streams_down[:5]
    for old, new in zip(before, after, strict=True):
        for metric in ("een_stream_connects_total", "een_stream_disconnects_total"):
            counts = {k: v for k, v in old.items() if k[0] == metric}
            assert counts == {k: v for k, v in new.items() if k[0] == metric}, metric


class _StreamWatch:
    """Scrapes the given shards over and over, noting any stream that is not up."""

    def __init__(self, shards: list[Shard]) -> None:
        self._shards = shards
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stream-watch", daemon=True)
        self.scrapes = 0
        self.streams_down: list[tuple[str, float]] = []

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            for shard in self._shards:
                samples = shard.scrape()
                self.scrapes += 1
                self.streams_down += [
                    (dict(labels)["account_id"], value)
                    for (name, labels), value in samples.items()
                    if name == "een_stream_up" and value != 1
                ]
            self._stop.wait(0.05)


def test_shard_processes_log_their_shard(shards: list[Shard]) -> None:
    for shard in shards:
        log = shard.processes[0].log()
        assert f"shard={shard.index}/{SHARDS}" in log
