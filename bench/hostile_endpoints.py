"""The exporter against a hostile EEN endpoint: peak memory and time to notice (issue 15).

Starts the simulated EEN cloud with the test suite's hostile server in front of it (in this
process) and the exporter as a subprocess (so its memory is its own), then:

 1. a gzip bomb as one stream's device list: peak RSS before and after;
 2. an endless body as the next device list: peak RSS after;
 3. a WebSocket frame trickled one byte every --trickle-interval seconds: time from
    `een_stream_up 1` to `een_stream_up 0` with the stall timeout --stream-timeout;
 4. a plain stall (the simulator stops answering one stream): time from the stall to
    `een_stream_up 0`.

    .venv/bin/python bench/hostile_endpoints.py      # about 40 s
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import socket
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
from exporter.een.frames import TEXT  # noqa: E402
from exporter.simulator import Simulator, WorldSpec  # noqa: E402
from exporter.simulator.client import SimulatorControl  # noqa: E402
from tests.integration.hostile import (  # noqa: E402
    Exchange,
    HostileServer,
    answer,
    frame,
    response_head,
    trickle,
    websocket,
)
from tests.support import parse_exposition, series, wait_for  # noqa: E402

USERNAME, PASSWORD = "bench@example.com", "bench-password"
EVENTS = r"/api/v2/Device/[^/]+/Events"
MIB = 1024 * 1024


def gzip_bomb(size: int) -> bytes:
    """`size` bytes of JSON-looking text, gzipped (about 1,000:1)."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as packed:
        packed.write(b"[")
        block = b"0," * (MIB // 2)
        for _ in range(size // MIB):
            packed.write(block)
    return out.getvalue()


def endless(exchange: Exchange) -> None:
    """A 200 answer without a length, whose body never ends (until the client leaves)."""
    head = response_head(200, [("Content-Type", "application/json")], length=None)
    block = b"[0," + b"0," * 32767
    if exchange.send(head):
        while exchange.send(block):
            pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sim = Simulator(
            WorldSpec(accounts=3, bridges=1, cameras=5, seed=3),
            username=USERNAME,
            password=PASSWORD,
        ).start()
        self.control = SimulatorControl(self.sim.url)
        self.hostile = HostileServer(self.sim.url).start()
        self.log = tempfile.NamedTemporaryFile(prefix="een-exporter-", suffix=".log")  # noqa: SIM115
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("EEN_")}
        env |= {
            "EEN_URL": self.hostile.url,
            "EEN_USERNAME": USERNAME,
            "EEN_PASSWORD": PASSWORD,
            "EEN_STREAM_TIMEOUT_SECONDS": str(args.stream_timeout),
            "EEN_LISTEN_ADDRESS": f"127.0.0.1:{port}",
            "PYTHONPATH": str(ROOT),
        }
        # An empty .env of its own: the exporter refuses what is not a regular file (/dev/null).
        self.env_file = tempfile.NamedTemporaryFile(prefix="een-exporter-", suffix=".env")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "exporter", "--env-file", self.env_file.name],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        wait_for(self.ready, timeout=60, interval=0.1, message="the exporter ready")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.hostile.stop()
        self.sim.stop()
        self.log.close()
        self.env_file.close()

    def ready(self) -> bool:
        try:
            return requests.get(self.url + "/readyz", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    def samples(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        return parse_exposition(requests.get(self.url + "/metrics", timeout=5).text)

    def stream_up(self, account: str) -> float | None:
        return series(self.samples(), "een_stream_up", account_id=account)

    def logged(self, text: str) -> Callable[[], bool]:
        return lambda: text in Path(self.log.name).read_text()

    def peak_rss(self) -> float:
        return procstat.memory(self.process.pid).peak_rss / MIB

    def rss(self) -> float:
        return procstat.memory(self.process.pid).rss / MIB

    # --- the phases --------------------------------------------------------------------------

    def device_list_answer(self, reply: Callable[[Exchange], None], what: str) -> None:
        self.hostile.on("GET", "/g/device/list", reply, times=1)
        self.control.drop_streams()  # each stream reads its device list again
        wait_for(self.logged("answer larger than"), timeout=60, message=f"the {what} refused")
        print(f"{what}: peak RSS {self.peak_rss():.0f} MiB, RSS now {self.rss():.0f} MiB")
        self.hostile.clear()
        Path(self.log.name).write_text("")

    def time_to_down(self, account: str, since: float) -> float:
        wait_for(lambda: self.stream_up(account) == 0, timeout=120, interval=0.05)
        return time.monotonic() - since

    def trickled_frame(self) -> None:
        every = self.args.trickle_interval

        def script(exchange: Exchange) -> None:
            trickle(frame(TEXT, b" " * 1000), every)(exchange)

        before = len(self.hostile.requests("GET", EVENTS))
        self.hostile.on("GET", EVENTS, websocket(script), times=1)
        self.control.drop_streams()
        first = wait_for(lambda: self.hostile.requests("GET", EVENTS)[before:][:1], timeout=30)
        account = first[0].path.split("/")[4]
        wait_for(lambda: self.stream_up(account) == 1, timeout=30, interval=0.05)
        seconds = self.time_to_down(account, time.monotonic())
        print(f"frame trickled 1 byte / {every:g} s: een_stream_up 0 after {seconds:.1f} s")
        self.hostile.clear()

    def plain_stall(self) -> None:
        accounts = [a["id"] for a in self.control.state()["accounts"] if a["devices"]]
        wait_for(lambda: all(self.stream_up(a) == 1 for a in accounts), timeout=60)
        account = accounts[0]
        stalled_at = time.monotonic()
        self.control.stall_streams(account)
        seconds = self.time_to_down(account, stalled_at)
        print(f"plain stall: een_stream_up 0 after {seconds:.1f} s")
        self.control.reset()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stream-timeout", type=float, default=6.0)
    parser.add_argument("--trickle-interval", type=float, default=1.5)
    parser.add_argument("--bomb-mib", type=int, default=400, help="decompressed size")
    args = parser.parse_args()
    bomb = gzip_bomb(args.bomb_mib * MIB)
    run = Run(args)
    try:
        print(f"ready: peak RSS {run.peak_rss():.0f} MiB, RSS {run.rss():.0f} MiB")
        headers = [("Content-Type", "application/json"), ("Content-Encoding", "gzip")]
        run.device_list_answer(
            answer(200, bomb, headers), f"gzip bomb ({len(bomb) // 1024} kB -> {args.bomb_mib} MiB)"
        )
        run.device_list_answer(endless, "endless body")
        run.trickled_frame()
        run.plain_stall()
    finally:
        run.close()


if __name__ == "__main__":
    main()
