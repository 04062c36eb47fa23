"""One simulated EEN cloud, exporter, Alertmanager, Prometheus and webhook for the e2e session.

The exporter and the simulator run in-process; Prometheus and Alertmanager are the real
binaries of each release (tests/stack/tools.py: Debian bookworm's Prometheus 2 and unstable's
Prometheus 3), started with configs derived from the shipped ones (tests/e2e/configs.py), on
ephemeral loopback ports, and stopped by PID. Everything of one release is stopped before
the next one starts; the simulator and the exporter serve both. The fixtures are the
package's: all of them stop once its tests are done, so that no Prometheus goes on scraping
the in-process exporter while the rest of the suite runs (a unit test that records every
render in the process would see its renders).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from exporter.app import Exporter, tuning_for
from exporter.config import Settings
from exporter.een import events
from exporter.simulator import Simulator
from exporter.simulator.client import SimulatorControl
from tests.e2e import daemons
from tests.e2e.apis import Alertmanager, Prometheus
from tests.e2e.configs import (
    alertmanager_config,
    prometheus_config,
    write_compressed_rules,
    write_yaml,
)
from tests.e2e.webhook import WebhookReceiver
from tests.e2e.world import DEMO_STATES, WORLD, cameras, event_cameras, sub_accounts
from tests.stack.tools import Release
from tests.support import wait_for

USERNAME, PASSWORD = "ops@example.com", "e2e-Pa55word"
# Prometheus scrapes for the first time about 5 s after it starts (tooling.md §2).
FIRST_SCRAPE_SECONDS = 30.0


@pytest.fixture(scope="package")
def sim() -> Iterator[Simulator]:
    # Thumbnails and stream statistics twice a second: panels and alerts have data at once.
    with Simulator(
        WORLD,
        username=USERNAME,
        password=PASSWORD,
        thumbnail_seconds=0.5,
        stream_stats_seconds=0.5,
    ) as simulator:
        with SimulatorControl(simulator.url) as control:
            first = sub_accounts(control.state())[0]
            demo_cameras = cameras(first)[-len(DEMO_STATES) :]
            for camera, status in zip(demo_cameras, DEMO_STATES, strict=True):
                control.set_status(camera["id"], status)
            frozen, lossy = event_cameras(control.state())
            for camera in frozen:
                control.freeze_previews(camera["id"])
            control.set_stream_loss(lossy["id"], 0.5)
        yield simulator


@pytest.fixture(scope="package")
def control(sim: Simulator) -> Iterator[SimulatorControl]:
    with SimulatorControl(sim.url) as simulator_control:
        yield simulator_control


@pytest.fixture(scope="package")
def exporter(sim: Simulator) -> Iterator[Exporter]:
    settings = Settings(
        username=USERNAME,
        password=PASSWORD,
        url=sim.url,
        listen_host="127.0.0.1",
        listen_port=0,
        stream_timeout_seconds=2.0,  # a stalled stream is noticed within 2 s
        device_refresh_seconds=300.0,
        backoff_max_seconds=1.0,
        events=(*events.DEFAULT, "PRTH"),  # thumbnails too: the frozen-picture alert and panel
    )
    running = Exporter(settings, tuning_for(settings, backoff_base=0.05, start_jitter=0.0))
    running.start()
    try:
        wait_for(
            lambda: requests.get(f"{running.url}/readyz", timeout=5).status_code == 200,
            message="the exporter to be ready",
        )
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="package")
def workdir(tmp_path_factory: pytest.TempPathFactory, release: Release) -> Path:
    return tmp_path_factory.mktemp(f"e2e-{release.name}")


@pytest.fixture(scope="package")
def webhook(release: Release) -> Iterator[WebhookReceiver]:
    """A receiver per release, so that no notification of one release counts for the next."""
    receiver = WebhookReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture(scope="package")
def alertmanager(
    workdir: Path, webhook: WebhookReceiver, release: Release
) -> Iterator[Alertmanager]:
    binary = release.alertmanager()
    config_file = write_yaml(workdir / "alertmanager.yml", alertmanager_config(webhook.url))
    command = [
        binary,
        f"--config.file={config_file}",
        f"--storage.path={workdir / 'alertmanager-data'}",
        "--web.listen-address=127.0.0.1:0",
        "--cluster.listen-address=",  # no HA gossip on 0.0.0.0:9094
    ]
    daemon = daemons.start("Alertmanager", command, workdir / "alertmanager.log")
    try:
        yield Alertmanager(daemon.url, config_file)
    finally:
        daemon.stop()


@pytest.fixture(scope="package")
def prometheus(
    workdir: Path, exporter: Exporter, alertmanager: Alertmanager, release: Release
) -> Iterator[Prometheus]:
    binary = release.prometheus()
    home = workdir / "prometheus"
    write_compressed_rules(home / "rules")  # where the shipped `rules/*.yml` glob looks
    targets = (urlsplit(exporter.url).netloc, urlsplit(alertmanager.url).netloc)
    config_file = write_yaml(home / "prometheus.yml", prometheus_config(*targets, None))
    command = [
        binary,
        f"--config.file={config_file}",
        f"--storage.tsdb.path={home / 'data'}",
        "--web.listen-address=127.0.0.1:0",
        "--web.enable-lifecycle",
    ]
    daemon = daemons.start("Prometheus", command, home / "prometheus.log")
    try:
        running = Prometheus(daemon.url, config_file)
        # Its own scrape target is known only now that it listens.
        write_yaml(config_file, prometheus_config(*targets, daemon.address))
        running.reload()
        yield running
    finally:
        daemon.stop()


@pytest.fixture(scope="package")
def scraped(prometheus: Prometheus) -> Prometheus:
    """Prometheus once it has scraped the exporter."""
    wait_for(
        lambda: prometheus.query('up{job="een"} == 1'),
        timeout=FIRST_SCRAPE_SECONDS,
        interval=0.2,
        message="Prometheus to scrape the exporter",
    )
    return prometheus
