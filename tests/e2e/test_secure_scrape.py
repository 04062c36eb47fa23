"""A real Prometheus scrapes the exporter over TLS with basic auth, configured as shipped: the
een job of prometheus.yml with its TLS lines uncommented, web-config.example.yml with its
placeholder replaced, and a self-signed certificate made with README's openssl recipe."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import bcrypt
import pytest
import requests
import yaml

from exporter.app import Exporter, tuning_for
from exporter.config import Settings
from exporter.simulator import Simulator
from tests.e2e import daemons
from tests.e2e.apis import Prometheus
from tests.e2e.configs import INTERVAL, SHIPPED_PROMETHEUS, write_yaml
from tests.e2e.conftest import FIRST_SCRAPE_SECONDS, PASSWORD, USERNAME
from tests.stack.tools import REPO, Release, uncommented
from tests.support import require_binary, wait_for

SCRAPE_PASSWORD = "e2e-scrape-Pa55word"
CONTAINER_DIRECTORY = "/etc/prometheus/web-config"  # where prometheus.yml expects the files


@pytest.fixture(scope="module")
def web_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """./web-config/ as README.md, "Security", has the operator make it."""
    openssl = require_binary("openssl", "apt-get install openssl")
    directory = tmp_path_factory.mktemp("web-config")
    recipe = [
        openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-days", "825", "-subj", "/CN=een-exporter",
        "-addext", "subjectAltName=DNS:exporter,DNS:localhost,IP:127.0.0.1",
        "-keyout", "exporter.key", "-out", "exporter.crt",
    ]  # fmt: skip
    subprocess.run(recipe, cwd=directory, check=True, capture_output=True, timeout=60)
    shutil.copy(directory / "exporter.crt", directory / "ca.crt")
    (directory / "prometheus-password").write_text(SCRAPE_PASSWORD)
    hashed = bcrypt.hashpw(SCRAPE_PASSWORD.encode(), bcrypt.gensalt(10)).decode()
    example = (REPO / "web-config.example.yml").read_text()
    (directory / "web-config.yml").write_text(example.replace("REPLACE-WITH-A-BCRYPT-HASH", hashed))
    return directory


@pytest.fixture(scope="module")
def secure_exporter(sim: Simulator, web_config: Path) -> Iterator[Exporter]:
    settings = Settings(
        username=USERNAME,
        password=PASSWORD,
        url=sim.url,
        listen_host="127.0.0.1",
        listen_port=0,
        backoff_max_seconds=1.0,
        web_config_file=web_config / "web-config.yml",
    )
    running = Exporter(settings, tuning_for(settings, backoff_base=0.05, start_jitter=0.0))
    running.start()
    try:
        yield running
    finally:
        running.stop()


def secure_prometheus_config(exporter: str, files: Path) -> dict[str, Any]:
    """prometheus.yml's een job with its TLS lines uncommented, pointed at loopback."""
    shipped: dict[str, Any] = yaml.safe_load(uncommented(SHIPPED_PROMETHEUS.read_text()))
    [job] = [job for job in shipped["scrape_configs"] if job["job_name"] == "een"]
    job["static_configs"] = [{"targets": [exporter]}]
    job["tls_config"]["ca_file"] = job["tls_config"]["ca_file"].replace(
        CONTAINER_DIRECTORY, str(files)
    )
    job["basic_auth"]["password_file"] = job["basic_auth"]["password_file"].replace(
        CONTAINER_DIRECTORY, str(files)
    )
    interval = f"{INTERVAL}s"
    timings = {"scrape_interval": interval, "scrape_timeout": interval}
    return {"global": shipped["global"] | timings, "scrape_configs": [job]}


@pytest.fixture(scope="module")
def secure_prometheus(
    tmp_path_factory: pytest.TempPathFactory,
    secure_exporter: Exporter,
    web_config: Path,
    release: Release,
) -> Iterator[Prometheus]:
    binary = release.prometheus()
    home = tmp_path_factory.mktemp("secure-prometheus")
    target = urlsplit(secure_exporter.url).netloc
    config_file = write_yaml(home / "prometheus.yml", secure_prometheus_config(target, web_config))
    command = [
        binary,
        f"--config.file={config_file}",
        f"--storage.tsdb.path={home / 'data'}",
        "--web.listen-address=127.0.0.1:0",
    ]
    daemon = daemons.start("Prometheus", command, home / "prometheus.log")
    try:
        yield Prometheus(daemon.url, config_file)
    finally:
        daemon.stop()


def test_prometheus_scrapes_over_tls_with_basic_auth(
    secure_prometheus: Prometheus, secure_exporter: Exporter, web_config: Path
) -> None:
    assert secure_exporter.url.startswith("https://")
    up = wait_for(
        lambda: secure_prometheus.query('up{job="een"} == 1'),
        timeout=FIRST_SCRAPE_SECONDS,
        interval=0.2,
        message='up{job="een"} == 1 over TLS with basic auth',
    )
    assert [series["metric"]["instance"] for series in up] == [urlsplit(secure_exporter.url).netloc]
    wait_for(
        lambda: secure_prometheus.query('sum(een_stream_up{job="een"}) > 0'),
        timeout=FIRST_SCRAPE_SECONDS,
        interval=0.2,
        message="stream series scraped",
    )
    # The same exporter without credentials, or without trusting its certificate: refused.
    ca = str(web_config / "ca.crt")
    assert requests.get(secure_exporter.url + "/metrics", verify=ca, timeout=5).status_code == 401
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(secure_exporter.url + "/metrics", timeout=5)
