"""podman as the container tests drive it, with the settings this kind of machine needs.

The sandbox lets no container raise its open-files or process limits to podman's defaults, so
every container gets the limits below, with runc. There is no systemd to time healthchecks,
so tests run them with `podman healthcheck run` when they need a status.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

from tests.stack.tools import REPO, output
from tests.support import REQUIRE_TOOLS, require_binary

RUNTIME = ["--runtime", "runc"]
LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
IMAGE = "een-exporter:local"  # the compose file's image
APT = "apt-get install podman runc mmdebstrap"
# A cold build makes the base image with mmdebstrap first (~2 min, more on a busy machine).
BUILD_SECONDS = 900


def unavailable(message: str) -> None:
    """Skip, or fail where CI forbids skipping."""
    if REQUIRE_TOOLS:
        pytest.fail(f"{message}; EEN_TEST_REQUIRE_TOOLS=1 forbids skipping")
    pytest.skip(message)


def require_podman() -> str:
    """podman's path, once it is known to run containers as root here."""
    binary = require_binary("podman", APT)
    require_binary("mmdebstrap", APT)  # container/base-image.sh makes the base with it
    if os.geteuid() != 0:
        unavailable("the container tests run podman as root (container/base-image.sh)")
    info = subprocess.run([binary, "info"], capture_output=True, text=True, timeout=60, check=False)
    if info.returncode != 0:
        unavailable(f"podman cannot run here: {info.stderr.strip()[-300:]}")
    return binary


def podman(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a podman command to completion; the caller checks its return code."""
    return subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def checked(*args: str, timeout: float = 60) -> str:
    """stdout of a podman command that must succeed."""
    result = podman(*args, timeout=timeout)
    assert result.returncode == 0, f"podman {' '.join(args)}\n{output(result)}"
    return result.stdout.strip()


def build_image() -> str:
    """Build the Dockerfile as the compose file's image with container/build-image.sh."""
    result = subprocess.run(
        ["bash", str(REPO / "container" / "build-image.sh"), IMAGE],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=BUILD_SECONDS,
        check=False,
    )
    assert result.returncode == 0, output(result)
    return IMAGE


@dataclass
class Container:
    name: str

    def inspect(self, template: str) -> str:
        return checked("inspect", "--format", template, self.name)

    def published(self, port: int) -> str:
        """host:port where the container's port is published."""
        return checked("port", self.name, str(port)).splitlines()[0]

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        return podman("exec", self.name, *command)

    def logs(self) -> str:
        result = podman("logs", self.name)
        return result.stdout + result.stderr

    def remove(self) -> None:
        podman("rm", "--force", "--time", "5", self.name)
