"""The HTTP server under load: many concurrent scrapes, many idle connections, no descriptors.

The exporter runs as a subprocess here, so that its CPU time is its own and the scrapers'
threads do not compete with it for the GIL.
"""

from __future__ import annotations

import os
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from exporter.simulator import Simulator
from exporter.simulator.client import SimulatorControl
from tests.integration.exporter.conftest import PASSWORD, USERNAME
from tests.support import parse_exposition, wait_for

ROOT = Path(__file__).resolve().parents[3]
# Runs the exporter with an open-file limit: argv[1] soft, argv[2] hard.
LIMITED = (
    "import os, resource, sys;"
    "resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), int(sys.argv[2])));"
    "os.execv(sys.executable, [sys.executable, '-m', 'exporter', *sys.argv[3:]])"
)
SCRAPE = b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ExporterProcess:
    """`python -m exporter` against a simulator, optionally with a low open-file limit."""

    def __init__(self, sim_url: str, max_files: tuple[int, int] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=info"]
        command = [sys.executable, "-m", "exporter", *args]
        if max_files is not None:
            command = [sys.executable, "-c", LIMITED, *map(str, max_files), *args]
        env = {
            "PATH": os.environ["PATH"],
            "EEN_URL": sim_url,
            "EEN_USERNAME": USERNAME,
            "EEN_PASSWORD": PASSWORD,
            "EEN_STREAM_TIMEOUT_SECONDS": "5",
            "EEN_BACKOFF_MAX_SECONDS": "1",
        }
        self.lines: list[str] = []
        self.popen = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, name="exporter-log", daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line.rstrip("\n"))

    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_ready(self) -> None:
        def ready() -> bool:
            try:
                return requests.get(self.url + "/readyz", timeout=5).status_code == 200
            except requests.ConnectionError:
                return False

        wait_for(ready, timeout=20, message="the exporter ready")

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.popen.pid)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture
def exporters() -> Iterator[list[ExporterProcess]]:
    started: list[ExporterProcess] = []
    yield started
    for process in started:
        process.stop()


def scrape_once(port: int, start: threading.Barrier) -> tuple[float, float, bytes]:
    """(seconds to connect, seconds to the last byte, status line) of one raw scrape."""
    start.wait(timeout=30)
    began = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as client:
        connected = time.monotonic()
        client.sendall(SCRAPE)
        chunks = []
        while chunk := client.recv(65536):
            chunks.append(chunk)
    done = time.monotonic()
    return connected - began, done - began, b"".join(chunks).split(b"\r\n", 1)[0]


def test_200_concurrent_scrapes_are_all_accepted_at_once(
    sim: Simulator, exporters: list[ExporterProcess]
) -> None:
    exporter = ExporterProcess(sim.url)
    exporters.append(exporter)
    exporter.wait_ready()
    scrapers = 200
    start = threading.Barrier(scrapers)
    with ThreadPoolExecutor(scrapers) as pool:
        results = list(pool.map(lambda _: scrape_once(exporter.port, start), range(scrapers)))
    connects = sorted(result[0] for result in results)
    totals = sorted(result[1] for result in results)
    print(
        f"\n{scrapers} concurrent scrapes: p50 {statistics.median(totals) * 1000:.0f} ms, "
        f"max {totals[-1] * 1000:.0f} ms; connect max {connects[-1] * 1000:.0f} ms"
    )
    assert {status for _, _, status in results} == {b"HTTP/1.1 200 OK"}
    # A full listen backlog drops SYNs, and a dropped SYN is sent again 1 s later at the
    # earliest: every connection must be established before that.
    assert connects[-1] < 1.0, f"slowest connect {connects[-1]:.2f} s"


def test_idle_connections_at_a_low_fd_limit_starve_neither_scrapes_nor_streams(
    sim: Simulator, control: SimulatorControl, exporters: list[ExporterProcess]
) -> None:
    exporter = ExporterProcess(sim.url, max_files=(256, 256))  # it cannot raise that
    exporters.append(exporter)
    exporter.wait_ready()
    idle = [socket.create_connection(("127.0.0.1", exporter.port)) for _ in range(251)]
    try:
        began, cpu_before = time.monotonic(), exporter.cpu_seconds()
        samples = scrape(exporter)
        assert up_streams(samples) == 3
        connects = total(samples, "een_stream_connects_total")
        control.drop_streams()  # the streams need new sockets to come back

        def all_back() -> bool:
            samples = scrape(exporter)
            return up_streams(samples) == 3 and total(samples, "een_stream_connects_total") >= (
                connects + 3
            )

        wait_for(all_back, timeout=15, message="every stream reconnected")
        cpu_share = (exporter.cpu_seconds() - cpu_before) / (time.monotonic() - began)
    finally:
        for connection in idle:
            connection.close()
    assert cpu_share < 0.5, f"the exporter used {cpu_share:.0%} of a CPU"
    assert "too many open files" not in exporter.log().lower()


def test_the_open_file_limit_is_raised_to_the_hard_limit(
    sim: Simulator, exporters: list[ExporterProcess]
) -> None:
    _, ours = resource.getrlimit(resource.RLIMIT_NOFILE)
    hard = 4096 if ours == resource.RLIM_INFINITY else min(4096, ours)
    exporter = ExporterProcess(sim.url, max_files=(256, hard))
    exporters.append(exporter)
    exporter.wait_ready()
    limits = Path(f"/proc/{exporter.popen.pid}/limits").read_text()
    [open_files] = [line for line in limits.splitlines() if line.startswith("Max open files")]
    assert open_files.split()[3:5] == [str(hard), str(hard)]
    assert f'msg="raised the open-file limit" from=256 to={hard}' in exporter.log()


def scrape(exporter: ExporterProcess) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = requests.get(exporter.url + "/metrics", timeout=10)
    response.raise_for_status()
    return parse_exposition(response.text)


def total(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str) -> float:
    return sum(value for (metric, _), value in samples.items() if metric == name)


def up_streams(samples: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> float:
    return total(samples, "een_stream_up")


def test_accepting_backs_off_while_no_descriptor_is_free() -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.exporter.fd_hog"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert server.stdin is not None
    assert server.stdout is not None
    assert server.stderr is not None
    try:
        port = int(server.stdout.readline())
        assert server.stdout.readline() == "exhausted\n"
        # The kernel completes the handshake; the server cannot accept it: no descriptor.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            window, cpu_before = 1.0, cpu_seconds(server.pid)
            time.sleep(window)  # a measurement window, not a wait for anything
            cpu_share = (cpu_seconds(server.pid) - cpu_before) / window
            server.stdin.write("free\n")
            server.stdin.flush()
            assert server.stdout.readline() == "freed\n"
            answer = b""
            while chunk := client.recv(65536):  # accepted and answered once descriptors free
                answer += chunk
        server.stdin.close()
        assert server.wait(10) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    log = server.stderr.read()
    assert cpu_share < 0.2, f"the accept loop used {cpu_share:.0%} of a CPU while out of fds"
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert answer.endswith(b"\r\n\r\nok\n"), answer
    assert "out of file descriptors" in log
