"""Prometheus and Alertmanager as child processes on ephemeral loopback ports, stopped by PID."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.support import wait_for

STARTUP_SECONDS = 20.0
STOP_SECONDS = 10.0
# Both log the address they really bound (port 0 picks a free one); Prometheus 3 puts its
# component between the message and the address.
LISTENING = re.compile(r'msg="Listening on" (?:component=\w+ )?address=(127\.0\.0\.1:\d+)')


@dataclass
class Daemon:
    name: str
    process: subprocess.Popen[bytes]
    log_file: Path
    address: str = ""

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM to our own PID; SIGKILL if it does not exit in time."""
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_SECONDS)


def start(name: str, command: list[str], log_file: Path) -> Daemon:
    """Run `command` (it must listen on 127.0.0.1:0) until its /-/ready answers 200.

    A daemon that fails to come up is stopped and the error carries its log.
    """
    with log_file.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    daemon = Daemon(name, process, log_file)
    try:
        daemon.address = wait_for(
            lambda: _listening(daemon), STARTUP_SECONDS, 0.05, f"{name} to listen"
        )
        wait_for(lambda: _ready(daemon), STARTUP_SECONDS, 0.05, f"{name} to be ready")
    except AssertionError as exc:
        daemon.stop()
        raise AssertionError(f"{exc}\n{name} log:\n{daemon.log_tail()}") from None
    return daemon


def _listening(daemon: Daemon) -> str | None:
    assert daemon.process.poll() is None, f"{daemon.name} exited with {daemon.process.returncode}"
    match = LISTENING.search(daemon.log_file.read_text(errors="replace"))
    return match.group(1) if match else None


def _ready(daemon: Daemon) -> bool:
    assert daemon.process.poll() is None, f"{daemon.name} exited with {daemon.process.returncode}"
    try:
        return requests.get(f"{daemon.url}/-/ready", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False
