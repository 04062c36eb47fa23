"""The exporter in API v3 mode against a hostile SSE stream: CPU, memory, time to notice
(issue 19, items 5 and 6).

Starts the simulated EEN cloud (API v3) with the test suite's hostile server in front of it
(in this process) and the exporter as a subprocess (so its CPU and memory are its own). The
simulator names the hostile server in each subscription's sseUrl (it answers with the Host the
client used), so the hostile server answers the SSE GET itself, with:

 1. an endless line (`data: xxxx…`, never a line end), sent as fast as the exporter reads;
 2. one 50 MB event, then a keep-alive comment every second;
 3. an event trickled one byte every --trickle-interval seconds, at --stream-timeout;
 4. --statuses events, each with a distinct undocumented connectionStatus for one camera.

For 1 and 2: the exporter's CPU share and how long `een_stream_up` was 1 over --window
seconds, and whether a device refresh (a `cameras` listing) happened in it. For 3: the time
from the stream's connection to `een_stream_up 0`. For 4: RSS before and after, and log lines.

    .venv/bin/python bench/hostile_sse.py      # about 2 minutes
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from bench import procstat  # noqa: E402
from bench.hostile_endpoints import free_port  # noqa: E402
from exporter.simulator import Simulator, WorldSpec  # noqa: E402
from exporter.simulator.v3.tokens import V3Settings  # noqa: E402
from exporter.v3.login import main as login  # noqa: E402
from tests.integration.hostile import Exchange, HostileServer, response_head  # noqa: E402
from tests.support import parse_exposition, series, wait_for  # noqa: E402

CLIENT_ID, CLIENT_SECRET = "demo-client", "demo-secret"
SSE = r"/sse/v3\.0/eventSubscriptions/[^/]+"
MIB = 1024 * 1024
Reply = Callable[[Exchange], None]


def sse_head() -> bytes:
    """A 200 text/event-stream answer whose body ends when the connection does."""
    return response_head(200, [("Content-Type", "text/event-stream")], length=None)


def keep_alives(exchange: Exchange, every: float = 1.0) -> None:
    while exchange.send(b": keepalive\n\n") and exchange.pause(every):
        pass


def endless_line(exchange: Exchange) -> None:
    block = b"x" * 65536
    if exchange.send(sse_head() + b"data: "):
        while exchange.send(block):
            pass


def huge_event(size: int) -> Reply:
    def reply(exchange: Exchange) -> None:
        block = b"x" * MIB
        if not exchange.send(sse_head() + b'data: {"pad": "'):
            return
        for _ in range(size // MIB):
            if not exchange.send(block):
                return
        if exchange.send(b'"}\n\n'):
            keep_alives(exchange)

    return reply


def trickled_event(every: float) -> Reply:
    def reply(exchange: Exchange) -> None:
        if not exchange.send(sse_head()):
            return
        for byte in b'data: {"type": "een.deviceCloudStatusUpdateEvent.v1"}' * 100:
            if not exchange.send(bytes([byte])) or not exchange.pause(every):
                return

    return reply


def status_event(camera: str, status: str) -> bytes:
    event = {
        "id": status,
        "type": "een.deviceCloudStatusUpdateEvent.v1",
        "startTimestamp": "2026-01-01T00:00:00.000+00:00",
        "endTimestamp": None,
        "actorType": "camera",
        "actorId": camera,
        "data": [
            {"type": "een.deviceCloudStatusUpdate.v1", "newStatus": {"connectionStatus": status}}
        ],
    }
    return b"data: " + json.dumps(event).encode() + b"\n\n"


def unknown_statuses(camera: str, count: int) -> Reply:
    def reply(exchange: Exchange) -> None:
        if not exchange.send(sse_head()):
            return
        batch: list[bytes] = []
        for index in range(count):
            batch.append(status_event(camera, f"undocumentedStatus{index:07d}"))
            if len(batch) == 500:
                if not exchange.send(b"".join(batch)):
                    return
                batch = []
        if exchange.send(b"".join(batch)):
            keep_alives(exchange)

    return reply


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sim = Simulator(
            WorldSpec(accounts=1, bridges=1, cameras=3, seed=3),
            v3=V3Settings(sse_keepalive_seconds=1.0),
        ).start()
        self.hostile = HostileServer(self.sim.url).start()
        self.tmp = tempfile.TemporaryDirectory(prefix="een-bench-")
        token_file = Path(self.tmp.name) / "token.json"
        code = requests.post(f"{self.sim.url}/_sim/v3/code", json={}, timeout=10).json()["code"]
        environ = {"EEN_CLIENT_ID": CLIENT_ID, "EEN_CLIENT_SECRET": CLIENT_SECRET}
        argv = ["--een.url", self.sim.url, "--een.token-file", str(token_file), "--code", code]
        assert login(argv, environ, io.StringIO()) == 0
        self.log = Path(self.tmp.name) / "exporter.log"
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("EEN_")}
        env |= {
            "EEN_API": "v3",
            "EEN_CLIENT_ID": CLIENT_ID,
            "EEN_CLIENT_SECRET": CLIENT_SECRET,
            "EEN_TOKEN_FILE": str(token_file),
            "EEN_URL": self.hostile.url,
            "EEN_STREAM_TIMEOUT_SECONDS": str(args.stream_timeout),
            "EEN_DEVICE_REFRESH_SECONDS": str(args.device_refresh),
            "EEN_BACKOFF_MAX_SECONDS": str(args.backoff_max),
            "EEN_LISTEN_ADDRESS": f"127.0.0.1:{port}",
            "PYTHONPATH": str(ROOT),
        }
        env_file = Path(self.tmp.name) / "empty.env"  # a regular file: /dev/null is refused
        env_file.write_text("")
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "exporter", "--env-file", str(env_file)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        try:
            wait_for(self.ready, timeout=60, interval=0.1, message="the exporter ready")
        except AssertionError:
            print(self.log.read_text()[-3000:], file=sys.stderr)
            self.close()
            raise
        state = requests.get(f"{self.sim.url}/_sim/state", timeout=10).json()
        account = next(a for a in state["accounts"] if a["devices"])
        self.account = str(account["id"])
        self.camera = next(str(d["id"]) for d in account["devices"] if d["type"] == "camera")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.hostile.stop()
        self.sim.stop()
        self.tmp.cleanup()

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError("the exporter exited")
        try:
            return requests.get(self.url + "/readyz", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    def samples(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        return parse_exposition(requests.get(self.url + "/metrics", timeout=10).text)

    def value(self, name: str, **labels: str) -> float:
        return series(self.samples(), name, **labels) or 0.0

    def rss(self) -> float:
        return procstat.memory(self.process.pid).rss / MIB

    def log_lines(self, text: str) -> int:
        return sum(text in line for line in self.log.read_text(errors="replace").splitlines())

    def stream_listings(self) -> int:
        """Camera listings with the stream's token (the account's refreshes and resyncs; the
        discovery thread lists with the reseller's)."""
        sse = self.hostile.requests("GET", SSE)
        token = sse[-1].headers.get("authorization") if sse else None
        cameras = self.hostile.requests("GET", r"/api/v3\.0/cameras")
        return sum(seen.headers.get("authorization") == token for seen in cameras)

    def sse_requests(self) -> int:
        return len(self.hostile.requests("GET", SSE))

    def serve(self, reply: Reply) -> None:
        """From now on every SSE GET gets `reply`; the current stream is cut to make it so."""
        self.hostile.clear()
        self.hostile.on("GET", SSE, reply)
        before = self.sse_requests()
        self._cut()
        wait_for(lambda: self.sse_requests() > before, timeout=60, message="a new SSE GET")

    def restore(self) -> None:
        self.hostile.clear()
        self._cut()
        wait_for(lambda: self.value("een_stream_up", account_id=self.account) == 1, timeout=60)

    def _cut(self) -> None:
        self.hostile.cut()

    # --- the phases --------------------------------------------------------------------------

    def cpu_window(self, what: str) -> None:
        """CPU share, time with een_stream_up 1, and device listings over the window."""
        window = self.args.window
        listings = self.stream_listings()
        connects = self.value("een_stream_connects_total", account_id=self.account)
        start, cpu = time.monotonic(), procstat.cpu_seconds(self.process.pid)
        up = checks = 0
        while time.monotonic() - start < window:
            up += self.value("een_stream_up", account_id=self.account) == 1
            checks += 1
            time.sleep(0.5)
        share = (procstat.cpu_seconds(self.process.pid) - cpu) / (time.monotonic() - start)
        listed = self.stream_listings() - listings
        reconnects = self.value("een_stream_connects_total", account_id=self.account) - connects
        print(
            f"{what}: CPU {share:.0%} over {window:g} s; een_stream_up 1 in {up}/{checks} "
            f"scrapes; {reconnects:g} reconnects; {listed:g} device listings by the stream "
            f"(refresh every {self.args.device_refresh:g} s); RSS {self.rss():.0f} MiB"
        )

    def trickle(self) -> None:
        every = self.args.trickle_interval
        self.serve(trickled_event(every))
        connected = time.monotonic()
        before = self.value("een_stream_connects_total", account_id=self.account)
        deadline = 60.0
        try:
            wait_for(
                lambda: (
                    self.value("een_stream_connects_total", account_id=self.account) > before
                    or self.value("een_stream_up", account_id=self.account) == 0
                ),
                timeout=deadline,
                interval=0.1,
            )
            seconds = f"{time.monotonic() - connected:.1f} s"
        except AssertionError:
            seconds = f"not within {deadline:g} s"
        print(
            f"event trickled 1 byte / {every:g} s at a {self.args.stream_timeout:g} s stream "
            f"timeout: stream left (een_stream_up 0 or a reconnect) after {seconds}"
        )

    def statuses(self) -> None:
        count = self.args.statuses
        self.restore()
        rss = self.rss()
        lines = self.log_lines("undocumented connectionStatus")
        messages = self.value("een_stream_messages_total", account_id=self.account)
        self.serve(unknown_statuses(self.camera, count))
        wait_for(
            lambda: (
                self.value("een_stream_messages_total", account_id=self.account) >= messages + count
            ),
            timeout=300,
            interval=0.5,
            message=f"{count} events applied",
        )
        time.sleep(1)
        print(
            f"{count} distinct undocumented statuses: RSS {rss:.0f} -> {self.rss():.0f} MiB, "
            f"{self.log_lines('undocumented connectionStatus') - lines} log lines, "
            f"/metrics {len(requests.get(self.url + '/metrics', timeout=10).content)} bytes"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stream-timeout", type=float, default=6.0)
    parser.add_argument("--device-refresh", type=float, default=10.0)
    parser.add_argument("--backoff-max", type=float, default=60.0)
    parser.add_argument("--trickle-interval", type=float, default=2.0)
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--statuses", type=int, default=100_000)
    parser.add_argument("--only", choices=["endless", "huge", "trickle", "statuses"])
    args = parser.parse_args()
    run = Run(args)
    try:
        print(f"ready: RSS {run.rss():.0f} MiB")
        if args.only in (None, "endless"):
            run.serve(endless_line)
            run.cpu_window("endless line")
        if args.only in (None, "huge"):
            run.serve(huge_event(50 * 1000 * 1000))
            run.cpu_window("a 50 MB event")
        if args.only in (None, "trickle"):
            run.trickle()
        if args.only in (None, "statuses"):
            run.statuses()
    finally:
        run.close()


if __name__ == "__main__":
    main()
