"""docker-compose.yml brought up by Docker Compose v2 through podman's Docker API.

The simulator and exporter services start from the built image with the compose file's own
settings (environment, ports, healthchecks, depends_on). The prometheus, alertmanager and
grafana images cannot be pulled here: those services are validated only (tests/stack:
`compose config`, promtool, amtool, the proven releases' flags, the dashboards), not started.

Two things of this machine are supplied by the test, not by the compose file: podman's
default open-files and process limits are too high for the sandbox (a containers.conf for
the API service lowers them), and there is no systemd to time healthchecks, so a thread runs
`podman healthcheck run` every second in its place.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.container.podman import BUILD_SECONDS, LIMITS, podman
from tests.stack import tools
from tests.stack.tools import REPO, output
from tests.support import parse_exposition, wait_for

pytestmark = pytest.mark.timeout(BUILD_SECONDS + 300)

STARTED = ("simulator", "exporter")
UP_SECONDS = 180
HEALTHCHECK_EVERY = 1.0
HOLD_SECONDS = 2.0


def containers_conf(directory: Path) -> Path:
    """Limits the sandbox allows, as `podman run --ulimit` would give them, and runc."""
    ulimits = ", ".join(f'"{value}"' for value in LIMITS[1::2])
    path = directory / "containers.conf"
    path.write_text(f'[containers]\ndefault_ulimits = [{ulimits}]\n[engine]\nruntime = "runc"\n')
    return path


def answers_ping(path: Path) -> bool:
    """Does the Docker API on this unix socket answer /_ping?"""
    try:
        with socket.socket(socket.AF_UNIX) as client:
            client.settimeout(2)
            client.connect(str(path))
            client.sendall(b"GET /_ping HTTP/1.0\r\nHost: podman\r\n\r\n")
            return client.recv(1024).startswith(b"HTTP/1.0 200")
    except OSError:
        return False


@pytest.fixture(scope="module")
def docker_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`podman system service` serving the Docker API on a unix socket; stopped by PID."""
    directory = tmp_path_factory.mktemp("podman-service")
    sock = directory / "docker.sock"
    env = {**os.environ, "CONTAINERS_CONF": str(containers_conf(directory))}
    with (directory / "service.log").open("wb") as log:
        process = subprocess.Popen(
            ["podman", "system", "service", "--time=0", f"unix://{sock}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        wait_for(lambda: answers_ping(sock), 30, 0.1, "podman's Docker API")
        yield f"unix://{sock}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class Project:
    """One compose project of the repository's docker-compose.yml."""

    compose: str
    name: str
    env: dict[str, str]
    env_file: Path

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        command = [self.compose, "-f", str(REPO / "docker-compose.yml")]
        command += ["--env-file", str(self.env_file), "-p", self.name, *args]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False, env=self.env
        )

    def checked(self, *args: str, timeout: float = 60) -> str:
        result = self.run(*args, timeout=timeout)
        assert result.returncode == 0, output(result)
        return result.stdout

    def config(self) -> dict[str, Any]:
        resolved: dict[str, Any] = json.loads(self.checked("config", "--format", "json"))
        return resolved

    def containers(self) -> list[str]:
        """Names of every container of the project, running or not."""
        label = f"label=com.docker.compose.project={self.name}"
        result = podman("ps", "--all", "--filter", label, "--format", "{{.Names}}")
        return result.stdout.split()

    def inspect(self, service: str) -> dict[str, Any]:
        result = podman("inspect", f"{self.name}-{service}-1")
        assert result.returncode == 0, output(result)
        inspected: dict[str, Any] = json.loads(result.stdout)[0]
        return inspected


class HealthcheckTimer:
    """Runs the healthchecks of the project's containers every second, as systemd would.

    A container's first check waits HOLD_SECONDS after the container appears, so a service
    that did not wait for its dependency to be healthy has started well before that.
    """

    def __init__(self, project: Project) -> None:
        self._project = project
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="healthcheck-timer", daemon=True)
        self._seen: dict[str, float] = {}

    def __enter__(self) -> HealthcheckTimer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(HEALTHCHECK_EVERY):
            now = time.monotonic()
            for name in self._project.containers():
                if now - self._seen.setdefault(name, now) >= HOLD_SECONDS:
                    podman("healthcheck", "run", name)  # fails while starting: a status too


@pytest.fixture(scope="module")
def project(
    image: str, docker_host: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Project]:
    """simulator and exporter up and healthy; everything of the project removed after."""
    home = tmp_path_factory.mktemp("compose")
    env_file = home / "empty.env"  # no developer .env: the compose file's defaults
    env_file.write_text("")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),  # no developer's Docker config
        "DOCKER_HOST": docker_host,
        "EEN_EXPORTER_PORT": "0",  # an ephemeral host port, still on 127.0.0.1
    }
    stack = Project(tools.compose(), f"een-test-{uuid.uuid4().hex[:8]}", env, env_file)
    try:
        with HealthcheckTimer(stack):
            up = ["up", "--detach", "--no-build", "--pull", "never", "--wait"]
            stack.checked(*up, "--wait-timeout", str(UP_SECONDS), *STARTED, timeout=UP_SECONDS + 30)
            yield stack
    finally:
        stack.run("down", "--volumes", "--remove-orphans", "--timeout", "5", timeout=120)
        for leftover in stack.containers():  # only if `down` failed
            podman("rm", "--force", "--time", "5", leftover)
        podman("network", "rm", "--force", f"{stack.name}_default")


def test_only_the_exporter_and_simulator_run_from_the_built_image(
    project: Project, image: str
) -> None:
    listed = [json.loads(line) for line in project.checked("ps", "--format", "json").splitlines()]
    assert sorted(c["Service"] for c in listed) == sorted(STARTED)
    built = podman("image", "inspect", "--format", "{{.Id}}", image).stdout.strip()
    for service in STARTED:
        container = project.inspect(service)
        assert container["State"]["Status"] == "running"
        assert container["State"]["Health"]["Status"] == "healthy", service
        assert container["Image"] == built, f"{service} runs another image"


def test_the_compose_files_settings_reach_the_containers(project: Project) -> None:
    services = project.config()["services"]
    exporter = project.inspect("exporter")
    env = dict(item.split("=", 1) for item in exporter["Config"]["Env"])
    given = {k: v for k, v in services["exporter"]["environment"].items() if v is not None}
    assert {k: env.get(k) for k in given} == given
    # Without a login in .env the exporter watches the simulator, and no EEN_URL is set.
    assert env["EEN_SIMULATOR_URL"] == "http://simulator:9878"
    assert not env.get("EEN_URL")
    simulator = project.inspect("simulator")
    # What the container really runs: the compose file's entrypoint and command.
    assert [simulator["Path"], *simulator["Args"]] == [
        *services["simulator"]["entrypoint"],
        *services["simulator"]["command"],
    ]
    assert (
        simulator["Config"]["Healthcheck"]["Test"] == services["simulator"]["healthcheck"]["test"]
    )


def first_healthy(container: dict[str, Any]) -> datetime:
    ends = [check["End"] for check in container["State"]["Health"]["Log"] if check["ExitCode"] == 0]
    assert ends, "never healthy"
    return min(datetime.fromisoformat(end) for end in ends)


def test_the_exporter_starts_once_the_simulator_is_healthy(project: Project) -> None:
    simulator, exporter = project.inspect("simulator"), project.inspect("exporter")
    started = datetime.fromisoformat(exporter["State"]["StartedAt"])
    assert first_healthy(simulator) < started


def world_size(command: list[str]) -> tuple[int, int]:
    """(accounts, cameras per account) of the simulator's command line."""
    options = dict(re.findall(r"--(\w+)=(\S+)", " ".join(command)))
    return int(options["accounts"]), int(options["cameras"])


def test_the_exporter_serves_the_simulated_world_on_loopback(project: Project) -> None:
    address = project.checked("port", "exporter", "9877").strip()
    assert address.startswith("127.0.0.1:"), address
    accounts, cameras = world_size(project.config()["services"]["simulator"]["command"])
    readiness = wait_for(
        lambda: (r := requests.get(f"http://{address}/readyz", timeout=5)).ok and r.text,
        timeout=30,
        interval=0.2,
        message="the exporter to be ready",
    )
    assert readiness == f"ready: {accounts} accounts\n"
    samples = parse_exposition(requests.get(f"http://{address}/metrics", timeout=5).text)
    assert len([key for key in samples if key[0] == "een_camera_info"]) == accounts * cameras
