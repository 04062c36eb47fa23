"""docker-compose.yml, checked offline by the real Compose v2 binary (no engine needed)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.config import (
    ENVIRONMENT_VARIABLES,
    ApiVersion,
    ConfigError,
    Settings,
    load_settings,
)
from tests.stack.tools import REPO, output, run

SIMULATOR_URL = "http://simulator:9878"
REAL_URL = "https://login.eagleeyenetworks.com"
# Set by docker-compose.yml itself, not from .env: the container's port and the simulator.
FIXED = {"EEN_LISTEN_ADDRESS": ":9877", "EEN_SIMULATOR_URL": SIMULATOR_URL}
# Names of files on the host in .env, mounted as these secrets.
SECRET_FILES = {
    "EEN_PASSWORD_FILE": "een_password",
    "EEN_API_KEY_FILE": "een_api_key",
    "EEN_CLIENT_SECRET_FILE": "een_client_secret",
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


def exporter_environment(config: dict[str, Any]) -> dict[str, str]:
    """The exporter container's environment, with secret paths pointing where the mounts do."""
    exporter = config["services"]["exporter"]
    mounted = {
        secret["target"]: config["secrets"][secret["source"]]["file"]
        for secret in exporter.get("secrets", [])
    }
    return {
        name: mounted.get(value, value)
        for name, value in exporter["environment"].items()
        if value is not None
    }


def exporter_settings(
    compose: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env_file_text: str = ""
) -> Settings:
    """What the exporter in the stack makes of this .env (Compose resolves, the exporter loads)."""
    environment = exporter_environment(resolved(compose, tmp_path, env_file_text))
    monkeypatch.chdir(tmp_path)  # no stray ./.env: the container has none
    return load_settings([], environment)


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
    compose: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = resolved(compose, tmp_path)["services"]
    exporter, simulator = services["exporter"], services["simulator"]
    assert exporter["environment"]["EEN_SIMULATOR_URL"] == SIMULATOR_URL
    assert simulator["image"] == exporter["image"], "the simulator runs from the exporter image"
    assert simulator["entrypoint"] == ["een-sim"]
    assert "--listen=0.0.0.0:9878" in simulator["command"]
    assert exporter["depends_on"]["simulator"]["condition"] == "service_healthy"
    settings = exporter_settings(compose, tmp_path, monkeypatch)
    assert (settings.url, settings.username, settings.password) == (
        SIMULATOR_URL,
        "demo@example.com",
        "demo",
    )


def test_env_example_keeps_the_demo_defaults(
    compose: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (REPO / ".env.example").read_text()
    settings = exporter_settings(compose, tmp_path, monkeypatch, text)
    assert (settings.url, settings.username) == (SIMULATOR_URL, "demo@example.com")


def test_credentials_from_env_reach_the_exporter(compose: str, tmp_path: Path) -> None:
    env = {
        "EEN_URL": REAL_URL,
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


def test_every_exporter_setting_is_in_env_example_and_compose() -> None:
    """Derived from exporter/config/options.py: a new setting cannot be forgotten in the stack."""
    example = (REPO / ".env.example").read_text()
    environment = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["exporter"][
        "environment"
    ]
    assert set(environment) == set(ENVIRONMENT_VARIABLES)
    for name in ENVIRONMENT_VARIABLES:
        assert re.search(rf"^# (?:.* )?{name}=", example, re.MULTILINE), name
        if name in FIXED:
            assert environment[name] == FIXED[name]
        elif name in SECRET_FILES:
            assert environment[name] == f"${{{name}:+/run/secrets/{SECRET_FILES[name]}}}"
        else:
            assert environment[name] is None, f"{name} must pass through from .env"


# One valid value per setting, none of them its default.
GIVEN = {
    "EEN_USERNAME": "monitor@example.com",
    "EEN_URL": "https://c009.eagleeyenetworks.com",
    "EEN_ACCOUNTS": "00001234",
    "EEN_ACCOUNTS_EXCLUDE": "00005678",
    "EEN_DEVICE_REFRESH_SECONDS": "120",
    "EEN_LOGIN_CONCURRENCY": "2",
    "EEN_STREAM_TIMEOUT_SECONDS": "30",
    "EEN_BACKOFF_MAX_SECONDS": "90",
    "EEN_EVENTS": "PRTH,CCLC",
    "EEN_CSSU_EVENT_SERIES": "true",
    "EEN_LOG_LEVEL": "debug",
    "EEN_LOG_FORMAT": "json",
    "EEN_DEMO": "false",
    "EEN_SHARD_INDEX": "1",
    "EEN_SHARD_TOTAL": "3",
    "EEN_WEB_CONFIG_FILE": "/etc/een-exporter/web-config.yml",
    "EEN_API": "v1",
    "EEN_CLIENT_ID": "een-app-123",
    "EEN_TOKEN_FILE": "/var/lib/een-exporter/token.json",
    "EEN_AVAILABILITY_OBJECTIVE": "0.999",
    "EEN_AVAILABILITY_OBJECTIVES": "00001234=0.99",
}


def test_every_setting_in_env_reaches_the_exporter(
    compose: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EEN_PASSWORD_FILE, EEN_STREAM_TIMEOUT_SECONDS & co. used to be dropped silently."""
    password_file = tmp_path / "een_password"
    password_file.write_text("from-the-file\n")
    key_file = tmp_path / "een_api_key"
    key_file.write_text("key-from-the-file\n")
    client_secret_file = tmp_path / "een_client_secret"
    client_secret_file.write_text("client-secret-from-the-file\n")
    given = {
        **GIVEN,
        "EEN_PASSWORD_FILE": str(password_file),
        "EEN_API_KEY_FILE": str(key_file),
        "EEN_CLIENT_SECRET_FILE": str(client_secret_file),
    }
    secrets = {"EEN_PASSWORD", "EEN_API_KEY", "EEN_CLIENT_SECRET"}
    assert set(given) | secrets | set(FIXED) == set(ENVIRONMENT_VARIABLES)
    text = "".join(f"{name}={value}\n" for name, value in given.items())
    config = resolved(compose, tmp_path, text)
    environment = config["services"]["exporter"]["environment"]
    assert {name: environment[name] for name in GIVEN} == GIVEN
    assert environment["EEN_PASSWORD_FILE"] == "/run/secrets/een_password"
    assert environment["EEN_API_KEY_FILE"] == "/run/secrets/een_api_key"
    assert config["secrets"]["een_password"]["file"] == str(password_file)
    assert config["secrets"]["een_api_key"]["file"] == str(key_file)
    settings = exporter_settings(compose, tmp_path, monkeypatch, text)
    assert (settings.username, settings.password, settings.api_key, settings.url) == (
        "monitor@example.com",
        "from-the-file",
        "key-from-the-file",
        "https://c009.eagleeyenetworks.com",
    )
    assert (settings.stream_timeout_seconds, settings.backoff_max_seconds) == (30.0, 90.0)
    assert (settings.login_concurrency, settings.device_refresh_seconds) == (2, 120.0)
    assert settings.web_config_file == Path("/etc/een-exporter/web-config.yml")
    assert settings.events == ("PRTH", "CCLC")
    assert settings.availability_objective == 0.999
    assert settings.availability_objectives == (("00001234", 0.99),)
    assert environment["EEN_CLIENT_SECRET_FILE"] == "/run/secrets/een_client_secret"
    assert config["secrets"]["een_client_secret"]["file"] == str(client_secret_file)
    # The same .env switched to API v3: its settings reach the exporter too.
    v3_text = text.replace("EEN_API=v1\n", "EEN_API=v3\n")
    v3 = exporter_settings(compose, tmp_path, monkeypatch, v3_text)
    assert (v3.api, v3.client_id, v3.client_secret, v3.token_file) == (
        ApiVersion.V3,
        "een-app-123",
        "client-secret-from-the-file",
        Path("/var/lib/een-exporter/token.json"),
    )
    assert (v3.username, v3.password, v3.api_key) == ("", "", None)  # v1's login: not used


def test_a_real_login_without_een_url_goes_to_een(
    compose: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It went to the simulator: EEN_URL defaulted to it whatever the username."""
    text = "EEN_USERNAME=monitor@example.com\nEEN_PASSWORD=s3cret\n"
    settings = exporter_settings(compose, tmp_path, monkeypatch, text)
    assert (settings.url, settings.username, settings.password) == (
        REAL_URL,
        "monitor@example.com",
        "s3cret",
    )


@pytest.mark.parametrize(
    "text",
    [
        # A password without a username would have gone to the simulator with the demo user.
        "EEN_PASSWORD=s3cret\n",
        "EEN_API_KEY=key-123\n",
        f"EEN_URL={REAL_URL}\n",
        # Pointing a real login at the simulator on purpose is refused as well.
        f"EEN_URL={SIMULATOR_URL}\nEEN_USERNAME=monitor@example.com\nEEN_PASSWORD=s3cret\n",
    ],
)
def test_real_credentials_never_meet_the_simulator(
    compose: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        exporter_settings(compose, tmp_path, monkeypatch, text)
    assert "simulator" in str(caught.value)
    assert "s3cret" not in str(caught.value)


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
