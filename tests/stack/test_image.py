"""Dockerfile and .dockerignore (no Docker engine here: read them, and run the health check)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.soak import IMAGE_GLIBC_TUNABLES
from tests.stack.tools import REPO

DOCKERFILE = (REPO / "Dockerfile").read_text()


def instructions(name: str) -> list[str]:
    """Arguments of every `name` instruction, continuation lines joined."""
    text = DOCKERFILE.replace("\\\n", " ")
    return [m.group(1).strip() for m in re.finditer(rf"^{name}\s+(.*)$", text, re.MULTILINE)]


def base_image() -> str:
    """The final stage's FROM, with a build argument replaced by its default."""
    defaults = dict(arg.split("=", 1) for arg in instructions("ARG") if "=" in arg)
    return re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], instructions("FROM")[-1])


def test_final_stage_is_slim_python_running_as_a_non_root_user() -> None:
    assert re.fullmatch(r"python:3\.\d+-slim(-\w+)?", base_image())
    assert instructions("FROM")[0].split()[0] == instructions("FROM")[-1], "one base for both"
    users = instructions("USER")
    assert users, "no USER: the exporter would run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert DOCKERFILE.index("USER") < DOCKERFILE.index("ENTRYPOINT")


def test_the_image_runs_the_malloc_settings_the_soak_measured() -> None:
    environment = " ".join(instructions("ENV"))
    assert f"GLIBC_TUNABLES={IMAGE_GLIBC_TUNABLES}" in environment


def test_the_package_is_pip_installed_and_its_scripts_are_the_entrypoints() -> None:
    assert any(re.search(r"pip install .* \.$", run) for run in instructions("RUN"))
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert json.loads(instructions("ENTRYPOINT")[-1]) == ["een-exporter"]
    assert {"een-exporter", "een-sim"} <= set(scripts)
    assert instructions("EXPOSE") == ["9877"]


def test_dockerignore_keeps_what_the_dockerfile_copies() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert patterns[0] == "*", "allow-list: send nothing but what is named"
    kept = {p.removeprefix("!").rstrip("/") for p in patterns if p.startswith("!")}
    copied = {
        source.rstrip("/")
        for copy in instructions("COPY")
        if not copy.startswith("--from")
        for source in copy.split()[:-1]
    }
    assert copied <= kept


class Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""


@pytest.fixture
def health_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="healthz-server"
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def run_healthcheck(port: int) -> int:
    """Run the image's HEALTHCHECK command here, against 127.0.0.1:port."""
    command = json.loads(instructions("HEALTHCHECK")[-1].split(" CMD ", 1)[1])
    assert command[0] == "python", "slim images have no curl: the check must use Python"
    env = {"EEN_LISTEN_ADDRESS": f":{port}"}
    result = subprocess.run(
        [sys.executable, *command[1:]], env=env, capture_output=True, timeout=30, check=False
    )
    return result.returncode


def test_healthcheck_passes_on_healthz_200(
    health_server: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Health, "status", 200)
    assert run_healthcheck(health_server.server_address[1]) == 0


def test_healthcheck_fails_on_healthz_503(
    health_server: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Health, "status", 503)
    assert run_healthcheck(health_server.server_address[1]) != 0


def test_healthcheck_fails_when_nothing_listens(health_server: ThreadingHTTPServer) -> None:
    port = health_server.server_address[1]
    health_server.shutdown()
    health_server.server_close()
    assert run_healthcheck(port) != 0
