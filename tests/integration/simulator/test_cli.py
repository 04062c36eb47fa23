"""`een-sim` as a real process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.integration.simulator.een import TIMEOUT

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def een_sim() -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "exporter.simulator.cli", "--listen", "127.0.0.1:0",
         "--accounts", "2", "--bridges", "1", "--cameras", "3", "--seed", "4",
         "--username", "ops@example.com", "--password", "pw-123"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(TIMEOUT)
        assert process.stdout is not None
        assert process.stderr is not None
        process.stdout.close()
        process.stderr.close()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_een_sim_serves_and_stops_on_a_signal(
    een_sim: subprocess.Popen[str], stop_signal: signal.Signals
) -> None:
    assert een_sim.stdout is not None
    first = een_sim.stdout.readline()  # blocks until the simulator is listening
    assert first.startswith("een-sim listening on http://127.0.0.1:"), first
    url = first.split()[-1]
    banner = [een_sim.stdout.readline() for _ in range(5)]
    assert any("ops@example.com" in line for line in banner)
    assert any("pw-123" in line for line in banner)

    credentials = {"username": "ops@example.com", "password": "pw-123"}
    response = requests.post(f"{url}/g/aaa/authenticate", json=credentials, timeout=TIMEOUT)
    assert response.status_code == 200
    state = requests.get(f"{url}/_sim/state", timeout=TIMEOUT).json()
    assert len(state["accounts"]) == 3

    een_sim.send_signal(stop_signal)
    assert een_sim.wait(TIMEOUT) == 0
    assert "een-sim stopped" in een_sim.stdout.read()


def test_een_sim_rejects_a_bad_listen_address() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "exporter.simulator.cli", "--listen", "nowhere"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert result.returncode == 2
    assert "HOST:PORT" in result.stderr
