"""The shipped TLS and basic auth examples: web-config.example.yml, and the commented lines of
prometheus.yml and docker-compose.yml, which must be valid once uncommented and fit together.
(tests/e2e/test_secure_scrape.py has a real Prometheus scrape with them.)"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml

from exporter.config import ConfigError, load_settings
from exporter.web.config import ClientAuth, load
from exporter.web.endpoints import PATHS
from tests.pki import Authority
from tests.stack.test_compose import exporter_environment
from tests.stack.tools import REPO, output, run, uncommented

EXAMPLE = REPO / "web-config.example.yml"
EXPORTER_MOUNT = "/etc/een-exporter"
PROMETHEUS_MOUNT = "/etc/prometheus/web-config"


def test_uncommenting_leaves_other_comments_alone() -> None:
    text = "a: 1\n# note\n# b: 2\n# to use it, uncomment:\n# c: 3\n#   d: 4\nkeep: 5\n# e: 6\n"
    assert (
        uncommented(text)
        == "a: 1\n# note\n# b: 2\n# to use it, uncomment:\nc: 3\n  d: 4\nkeep: 5\n# e: 6\n"
    )


def een_job(config: dict[str, Any]) -> dict[str, Any]:
    jobs: list[dict[str, Any]] = config["scrape_configs"]
    [job] = [job for job in jobs if job["job_name"] == "een"]
    return job


def test_prometheus_config_with_tls_uncommented_is_valid(promtool: str, tmp_path: Path) -> None:
    text = uncommented((REPO / "prometheus.yml").read_text())
    job = een_job(yaml.safe_load(text))
    assert job["scheme"] == "https"
    assert job["tls_config"]["ca_file"] == f"{PROMETHEUS_MOUNT}/ca.crt"
    assert job["basic_auth"] == {
        "username": "prometheus",
        "password_file": f"{PROMETHEUS_MOUNT}/prometheus-password",
    }
    (tmp_path / "prometheus.yml").write_text(text)
    (tmp_path / "rules").symlink_to(REPO / "rules")
    result = run([promtool, "check", "config", "prometheus.yml"], cwd=tmp_path)
    assert result.returncode == 0, output(result)
    assert yaml.safe_load((REPO / "prometheus.yml").read_text())["scrape_configs"][0].keys() == {
        "job_name",
        "static_configs",
    }, "commented out as shipped"


def resolved_uncommented(compose: str, tmp_path: Path, env: str) -> dict[str, Any]:
    compose_file = tmp_path / "docker-compose.yml"
    compose_file.write_text(uncommented((REPO / "docker-compose.yml").read_text()))
    env_file = tmp_path / "test.env"
    env_file.write_text(env)
    result = run(
        [
            compose,
            "-f",
            str(compose_file),
            "--project-directory",
            str(REPO),
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


def binds(service: dict[str, Any]) -> dict[str, Path]:
    return {
        volume["target"]: Path(volume["source"])
        for volume in service.get("volumes", [])
        if volume["type"] == "bind"
    }


def test_compose_with_tls_uncommented_is_valid_and_fits_prometheus_yml(
    compose: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example_line = next(
        line
        for line in (REPO / ".env.example").read_text().splitlines()
        if "EEN_WEB_CONFIG_FILE=" in line
    )
    config = resolved_uncommented(compose, tmp_path, example_line.lstrip("# ") + "\n")
    services = config["services"]
    exporter, prometheus = services["exporter"], services["prometheus"]
    assert binds(exporter)[EXPORTER_MOUNT] == REPO / "web-config"
    assert binds(prometheus)[PROMETHEUS_MOUNT] == REPO / "web-config"
    # The image's own check asks /healthz over plain HTTP; with TLS a TCP check stands in.
    assert "create_connection(('127.0.0.1', 9877)" in " ".join(exporter["healthcheck"]["test"])
    monkeypatch.chdir(tmp_path)
    settings = load_settings([], exporter_environment(config))
    assert settings.web_config_file == Path(EXPORTER_MOUNT) / "web-config.yml"


def test_the_example_web_config_is_refused_until_its_placeholder_is_replaced(
    tmp_path: Path,
) -> None:
    shutil.copy(EXAMPLE, tmp_path / "web-config.yml")
    server = Authority(tmp_path / "ca").server("exporter")
    shutil.copy(server.cert, tmp_path / "exporter.crt")
    shutil.copy(server.key, tmp_path / "exporter.key")
    with pytest.raises(ConfigError, match=r"basic_auth_users\.prometheus: not a bcrypt hash"):
        load(tmp_path / "web-config.yml", PATHS)

    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()
    text = EXAMPLE.read_text().replace("REPLACE-WITH-A-BCRYPT-HASH", hashed)
    (tmp_path / "web-config.yml").write_text(text)
    config = load(tmp_path / "web-config.yml", PATHS)
    assert config.tls is not None
    assert set(config.users) == {"prometheus"}
    assert dict(config.headers)["X-Content-Type-Options"] == "nosniff"

    authority = Authority(tmp_path / "clients")
    shutil.copy(authority.cert, tmp_path / "clients-ca.crt")
    (tmp_path / "web-config.yml").write_text(uncommented(text))
    mutual = load(tmp_path / "web-config.yml", PATHS)
    assert mutual.tls is not None
    assert mutual.tls.client_auth is ClientAuth.REQUIRE_AND_VERIFY
    assert mutual.auth_excluded_paths == frozenset()  # a plain comment, not an example to switch on
