"""docker-compose.yml, checked offline by the real Compose v2 binary (no engine needed)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import yaml

from tests.stack.tools import REPO, output, run

DEMO = {
    "EEN_URL": "http://simulator:9878",
    "EEN_USERNAME": "demo@example.com",
    "EEN_PASSWORD": "demo",
}


def resolved(compose: str, tmp_path: Path, env_file_text: str = "") -> dict[str, Any]:
    """The compose file as Compose resolves it with only `env_file_text` as its .env.

    The test's own environment and any developer .env in the repo are kept out.
    """
    env_file = tmp_path / "test.env"
    env_file.write_text(env_file_text)
    result = run(
        [
            compose,
            "-f",
            "docker-compose.yml",
            "--env-file",
            str(env_file),
            "config",
            "--format",
            "json",
        ],
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, output(result)
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def test_compose_file_is_valid(compose: str, tmp_path: Path) -> None:
    result = run(
        [compose, "-f", "docker-compose.yml", "--env-file", os.devnull, "config", "-q"],
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, output(result)
    assert result.stderr == "", output(result)


def test_compose_binary_rejects_an_invalid_file(compose: str, tmp_path: Path) -> None:
    # Guards the check above against the always-exit-0 wrapper script.
    broken = tmp_path / "broken.yml"
    broken.write_text("services:\n  exporter:\n    image: x\n    portz: ['9877:9877']\n")
    result = run([compose, "-f", str(broken), "config", "-q"], cwd=tmp_path)
    assert result.returncode != 0, output(result)
    assert "portz" in result.stderr, output(result)


def test_services_of_the_stack(compose: str, tmp_path: Path) -> None:
    services = resolved(compose, tmp_path)["services"]
    assert set(services) == {"simulator", "exporter", "prometheus", "alertmanager", "grafana"}


def test_without_credentials_the_exporter_watches_the_simulator(
    compose: str, tmp_path: Path
) -> None:
    services = resolved(compose, tmp_path)["services"]
    exporter, simulator = services["exporter"], services["simulator"]
    assert {k: exporter["environment"][k] for k in DEMO} == DEMO
    assert simulator["image"] == exporter["image"], "the simulator runs from the exporter image"
    assert simulator["entrypoint"] == ["een-sim"]
    assert "--listen=0.0.0.0:9878" in simulator["command"]
    assert exporter["depends_on"]["simulator"]["condition"] == "service_healthy"


def test_env_example_keeps_the_demo_defaults(compose: str, tmp_path: Path) -> None:
    services = resolved(compose, tmp_path, (REPO / ".env.example").read_text())["services"]
    assert {k: services["exporter"]["environment"][k] for k in DEMO} == DEMO


def test_credentials_from_env_reach_the_exporter(compose: str, tmp_path: Path) -> None:
    env = {
        "EEN_URL": "https://login.eagleeyenetworks.com",
        "EEN_USERNAME": "monitor@example.com",
        "EEN_PASSWORD": "s3cret",
        "EEN_API_KEY": "key-123",
        "EEN_ACCOUNTS": "00001234,00005678",
    }
    text = "".join(f"{name}={value}\n" for name, value in env.items())
    environment = resolved(compose, tmp_path, text)["services"]["exporter"]["environment"]
    assert {k: environment[k] for k in env} == env
    # Optional settings not given stay unset instead of arriving as empty strings.
    assert environment["EEN_ACCOUNTS_EXCLUDE"] is None


def test_every_variable_the_compose_file_reads_is_documented_in_env_example() -> None:
    text = (REPO / "docker-compose.yml").read_text()
    config = yaml.safe_load(text)
    used = {
        name
        for name, value in config["services"]["exporter"]["environment"].items()
        if value is None
    }
    used |= set(re.findall(r"\$\{(\w+)", text))
    documented = (REPO / ".env.example").read_text()
    missing = {name for name in used if f"{name}=" not in documented}
    assert not missing


def test_ports_are_published_on_loopback_only(compose: str, tmp_path: Path) -> None:
    services = resolved(compose, tmp_path)["services"]
    published = {
        (name, port["host_ip"], int(port["published"]), port["target"])
        for name, service in services.items()
        for port in service.get("ports", [])
    }
    assert published == {
        ("exporter", "127.0.0.1", 9877, 9877),
        ("prometheus", "127.0.0.1", 9090, 9090),
        ("alertmanager", "127.0.0.1", 9093, 9093),
        ("grafana", "127.0.0.1", 3000, 3000),
    }


def mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host path of the service's bind mounts."""
    return {
        volume["target"]: Path(volume["source"])
        for volume in service.get("volumes", [])
        if volume["type"] == "bind"
    }


def test_monitoring_config_is_mounted_from_the_repository(compose: str, tmp_path: Path) -> None:
    services = resolved(compose, tmp_path)["services"]
    prometheus = mounts(services["prometheus"])
    assert prometheus["/etc/prometheus/prometheus.yml"] == REPO / "prometheus.yml"
    assert prometheus["/etc/prometheus/rules"] == REPO / "rules"
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]
    alertmanager = mounts(services["alertmanager"])
    assert alertmanager["/etc/alertmanager/alertmanager.yml"] == REPO / "alertmanager.yml"
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in services["alertmanager"]["command"]
    grafana = mounts(services["grafana"])
    assert grafana["/etc/grafana/provisioning"] == REPO / "grafana" / "provisioning"
    provider = yaml.safe_load(
        (REPO / "grafana" / "provisioning" / "dashboards" / "een.yml").read_text()
    )["providers"][0]
    dashboards_in_container = provider["options"]["path"]
    assert grafana[dashboards_in_container] == REPO / "grafana" / "dashboards"
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(dashboards_in_container + "/")
    assert (REPO / "grafana" / "dashboards" / Path(home).name).is_file()


# Where each service listens inside the compose network.
LISTENING = {"exporter": 9877, "prometheus": 9090, "alertmanager": 9093}


def assert_compose_service(services: dict[str, Any], address: str) -> None:
    host, port = address.rsplit(":", 1)
    assert host in services, f"{address} is not a compose service"
    assert LISTENING[host] == int(port), address


def test_prometheus_scrapes_and_alerts_compose_services(compose: str, tmp_path: Path) -> None:
    services = resolved(compose, tmp_path)["services"]
    assert services["exporter"]["environment"]["EEN_LISTEN_ADDRESS"] == f":{LISTENING['exporter']}"
    config = yaml.safe_load((REPO / "prometheus.yml").read_text())
    sections = config["scrape_configs"] + config["alerting"]["alertmanagers"]
    for section in sections:
        for static in section["static_configs"]:
            for address in static["targets"]:
                if address != "localhost:9090":  # Prometheus scraping itself
                    assert_compose_service(services, address)


def test_grafana_data_source_is_the_compose_prometheus(compose: str, tmp_path: Path) -> None:
    services = resolved(compose, tmp_path)["services"]
    path = REPO / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
    url = yaml.safe_load(path.read_text())["datasources"][0]["url"]
    assert_compose_service(services, url.removeprefix("http://"))
