"""`een-exporter` as a user runs it: a process, its log lines, its exit."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from exporter.simulator import Simulator
from exporter.simulator.client import SimulatorControl
from tests.integration.exporter.conftest import PASSWORD, USERNAME
from tests.support import wait_for

ROOT = Path(__file__).resolve().parents[3]
API_KEY = "key-0123456789abcdef"
SESSION_KEY = re.compile(r"c\d+~[0-9a-f]{8,}")


class Process:
    """The exporter as a subprocess, its stderr collected line by line."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.lines: list[str] = []
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "exporter", *args],
            cwd=ROOT,
            env={"PATH": os.environ["PATH"], **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line.rstrip("\n"))

    def log(self) -> str:
        return "\n".join(self.lines)

    def url(self) -> str:
        found = wait_for(
            lambda: re.search(r"msg=listening address=(http://\S+)", self.log()),
            message="the 'listening' log line",
        )
        return found.group(1)

    def wait(self, timeout: float) -> int:
        """The exit code, once every line it wrote has been read."""
        code = self.popen.wait(timeout)
        self._reader.join(2)
        return code

    def terminate(self, timeout: float) -> int:
        self.popen.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        process.kill()


def test_demo_mode_serves_the_simulated_cloud_and_stops_on_sigterm(
    processes: list[Process],
) -> None:
    exporter = Process("--demo", "--web.listen-address=127.0.0.1:0")
    processes.append(exporter)
    url = exporter.url()
    assert re.search(r"demo mode: using the simulated EEN cloud.* url=http://127\.0\.0\.1:\d+",
                     exporter.log())  # fmt: skip
    wait_for(
        lambda: requests.get(url + "/readyz", timeout=5).status_code == 200,
        message="the demo exporter ready",
    )
    assert "een_camera_online{" in requests.get(url + "/metrics", timeout=5).text
    started = time.monotonic()
    assert exporter.terminate(timeout=10) == 0
    assert time.monotonic() - started < 5
    assert "msg=stopped" in exporter.log()
    assert "did not stop" not in exporter.log()


def test_secrets_never_reach_logs_metrics_or_pages(processes: list[Process]) -> None:
    with Simulator(username=USERNAME, password=PASSWORD) as sim:
        control = SimulatorControl(sim.url)
        env = {
            "EEN_URL": sim.url,
            "EEN_USERNAME": USERNAME,
            "EEN_PASSWORD": PASSWORD,
            "EEN_API_KEY": API_KEY,
            "EEN_LOG_LEVEL": "debug",
            "EEN_STREAM_TIMEOUT_SECONDS": "2",
        }
        exporter = Process("--web.listen-address=127.0.0.1:0", env=env)
        processes.append(exporter)
        url = exporter.url()
        wait_for(lambda: requests.get(url + "/readyz", timeout=5).status_code == 200,
                 message="ready")  # fmt: skip
        # Every path that logs: lost sessions, dropped and stalled streams, HTTP errors.
        control.auth_lost()
        control.http_fault(401, 2)
        control.drop_streams()
        wait_for(lambda: "stream down" in exporter.log(), message="a stream-down line")
        wait_for(lambda: requests.get(url + "/readyz", timeout=5).status_code == 200,
                 message="ready again")  # fmt: skip
        pages = "".join(requests.get(url + p, timeout=5).text for p in ("/", "/metrics", "/readyz"))
        assert exporter.terminate(timeout=10) == 0
    seen = exporter.log() + pages
    assert "logged in" in seen  # the log did record the events...
    assert PASSWORD not in seen  # ...without a secret in them
    assert API_KEY not in seen
    assert not SESSION_KEY.findall(seen), SESSION_KEY.findall(seen)[:3]


def test_a_bad_setting_exits_2_with_one_line(processes: list[Process]) -> None:
    exporter = Process("--een.url=ftp://example.com", env={"EEN_PASSWORD": PASSWORD})
    processes.append(exporter)
    assert exporter.wait(10) == 2
    assert len(exporter.lines) == 1, exporter.lines
    assert exporter.lines[0].startswith("een-exporter: error:")
    assert PASSWORD not in exporter.log()


def test_a_port_in_use_exits_1_with_one_line(processes: list[Process]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        exporter = Process("--demo", f"--web.listen-address=127.0.0.1:{port}")
        processes.append(exporter)
        assert exporter.wait(10) == 1
    [line] = [line for line in exporter.lines if "level=error" in line]
    assert 'msg="cannot listen"' in line
    assert f"address=127.0.0.1:{port}" in line
