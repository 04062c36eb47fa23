"""The web config (TLS / basic auth) under attack (issue 19, items 9-12): figures.

Starts the simulated EEN cloud in this process and the exporter as a subprocess with a web
config, then, per scenario (all by default):

  flood   200 connections send requests with wrong passwords as fast as they are answered;
          meanwhile: latency of cached scrapes (verified credentials) and of /healthz (not
          behind auth), and the exporter's CPU.
  cost31  a user whose hash has cost 31: does the exporter start; if so, four requests with
          that user, then /healthz, then how long SIGTERM takes.
  slow    1,100 connections that send a request head (or a TLS handshake) a byte a second,
          reconnecting when closed; 60 scrapes on fresh connections, plain HTTP and TLS.
  timing  a known user (cost 4) and an unknown one, each with wrong passwords: median time.
  users   a 5,000-user web config: p50 of sequential cached scrapes and the exporter's CPU.

    .venv/bin/python bench/web_attacks.py [scenario ...]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

import bcrypt  # noqa: E402
import requests  # noqa: E402
import urllib3  # noqa: E402

from bench import procstat  # noqa: E402
from exporter.simulator import Simulator, WorldSpec  # noqa: E402
from tests.pki import Authority  # noqa: E402
from tests.support import wait_for  # noqa: E402

USERNAME, PASSWORD = "bench@example.com", "bench-password"
SCRAPER, SCRAPER_PASSWORD = "prometheus", "scrape-Pa55word"
urllib3.disable_warnings()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Exporter:
    def __init__(self, sim: Simulator, config: Path, tls: bool = False) -> None:
        self.port = free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="een-exporter-", suffix=".log")  # noqa: SIM115
        env = {k: v for k, v in os.environ.items() if not k.startswith("EEN_")}
        env |= {
            "EEN_URL": sim.url,
            "EEN_USERNAME": USERNAME,
            "EEN_PASSWORD": PASSWORD,
            "EEN_LISTEN_ADDRESS": f"127.0.0.1:{self.port}",
            "EEN_WEB_CONFIG_FILE": str(config),
            "PYTHONPATH": str(ROOT),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "exporter"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"the exporter exited {self.process.returncode}: {self.text()}")
        try:
            requests.get(self.url + "/healthz", timeout=2, verify=False)  # noqa: S501
        except requests.ConnectionError:
            return False
        return True  # any answer (401 included): it is serving

    def wait_ready(self) -> None:
        wait_for(self.ready, timeout=60, interval=0.1, message="the exporter ready")

    def text(self) -> str:
        return Path(self.log.name).read_text()

    def cpu(self) -> float:
        return procstat.cpu_seconds(self.process.pid)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def write_config(directory: Path, text: str) -> Path:
    path = directory / "web-config.yml"
    path.write_text(text)
    return path


def hashed(password: str, cost: int) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(cost)).decode()


def timed(call: Callable[[], object]) -> float:
    began = time.monotonic()
    call()
    return time.monotonic() - began


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


# --- flood -----------------------------------------------------------------------------------


async def _flooder(port: int, stop: asyncio.Event, counts: dict[str, int]) -> None:
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            counts["connect_errors"] += 1
            await asyncio.sleep(0.05)
            continue
        try:
            while not stop.is_set():
                auth = basic(SCRAPER, secrets.token_hex(8))
                writer.write(
                    f"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\r\n".encode()
                )
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                await reader.readexactly(length)
                status = head.split(b" ", 2)[1].decode()
                counts[status] = counts.get(status, 0) + 1
                if b"connection: close" in head.lower():
                    break
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            counts["resets"] += 1
        finally:
            writer.close()


def run_attack(
    attack: Callable[[asyncio.Event], Coroutine[Any, Any, None]],
) -> tuple[threading.Thread, Callable[[], None]]:
    """Run an asyncio attack in a thread; the returned function stops it."""
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def main() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(attack(stop))

    thread = threading.Thread(target=main, name="attack", daemon=True)
    thread.start()

    def stopper() -> None:
        loop.call_soon_threadsafe(stop.set)

    return thread, stopper


def flood(sim: Simulator, directory: Path) -> None:
    config = write_config(
        directory,
        f"basic_auth_users:\n  {SCRAPER}: {hashed(SCRAPER_PASSWORD, 10)}\n"
        "auth_excluded_paths: [/healthz]\n",
    )
    exporter = Exporter(sim, config)
    try:
        exporter.wait_ready()
        credentials = (SCRAPER, SCRAPER_PASSWORD)
        assert requests.get(exporter.url + "/metrics", auth=credentials, timeout=10).ok  # cached
        counts = {"resets": 0, "connect_errors": 0}

        async def attack(stop: asyncio.Event) -> None:
            await asyncio.gather(*(_flooder(exporter.port, stop, counts) for _ in range(200)))

        thread, stop = run_attack(attack)
        time.sleep(2)
        began, cpu = time.monotonic(), exporter.cpu()
        scrapes: list[float] = []
        healthz: list[float] = []
        failures = 0
        for _ in range(10):
            for path, into, auth in (
                ("/metrics", scrapes, credentials),
                ("/healthz", healthz, None),
            ):
                try:
                    start = time.monotonic()
                    ok = requests.get(exporter.url + path, auth=auth, timeout=30).ok
                    into.append(time.monotonic() - start)
                    failures += not ok
                except requests.RequestException:
                    failures += 1
        share = (exporter.cpu() - cpu) / (time.monotonic() - began)
        stop()
        thread.join(10)
        print(
            f"flood (200 connections, wrong passwords): cached scrape p50 "
            f"{ms(statistics.median(scrapes))} max {ms(max(scrapes))}; /healthz p50 "
            f"{ms(statistics.median(healthz))} max {ms(max(healthz))}; failed {failures}/20; "
            f"exporter CPU {share:.0%}; flood answers {counts}"
        )
    finally:
        exporter.close()


# --- cost 31 ---------------------------------------------------------------------------------


def cost31(sim: Simulator, directory: Path) -> None:
    # A cost-31 hash cannot be made here (it would take days): its salt and digest can be any
    # well-formed ones; only the cost field says how long a comparison takes.
    base = hashed("whatever", 4)
    config = write_config(
        directory,
        f"basic_auth_users:\n  slow: '$2b$31${base[7:]}'\n  {SCRAPER}: "
        f"{hashed(SCRAPER_PASSWORD, 4)}\nauth_excluded_paths: [/healthz]\n",
    )
    exporter = Exporter(sim, config)
    try:
        try:
            code = exporter.process.wait(15)
        except subprocess.TimeoutExpired:
            code = None
        if code is not None:
            print(f"cost 31: exit {code} at start: {exporter.text().strip()}")
            return
        exporter.wait_ready()
        for _ in range(4):
            threading.Thread(
                target=lambda: _quiet(
                    lambda: requests.get(exporter.url + "/metrics", auth=("slow", "x"), timeout=3)
                ),
                daemon=True,
            ).start()
        time.sleep(1)
        try:
            healthz = ms(timed(lambda: requests.get(exporter.url + "/healthz", timeout=10)))
        except requests.RequestException as exc:
            healthz = f"failed ({type(exc).__name__})"
        exporter.process.send_signal(signal.SIGTERM)
        began = time.monotonic()
        try:
            exporter.process.wait(10)
            stopped = f"SIGTERM stopped it in {time.monotonic() - began:.1f} s"
        except subprocess.TimeoutExpired:
            stopped = "SIGTERM did not stop it in 10 s"
        print(f"cost 31: started; after 4 requests as that user, /healthz {healthz}; {stopped}")
    finally:
        exporter.close()


def _quiet(call: Callable[[], object]) -> None:
    with contextlib.suppress(requests.RequestException):
        call()


# --- slow connections ------------------------------------------------------------------------


async def _slow(port: int, stop: asyncio.Event, tls: bool, counts: dict[str, int]) -> None:
    opening = b"\x16\x03\x01\x02\x00" if tls else b"GET /metrics HTTP/1.1\r\nX-Slow: "
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            counts["connect_errors"] += 1
            await asyncio.sleep(0.1)
            continue
        counts["connections"] += 1
        try:
            writer.write(opening)
            while not stop.is_set():
                await writer.drain()
                try:
                    data = await asyncio.wait_for(reader.read(4096), 1.0)
                except TimeoutError:
                    writer.write(b"a")
                    continue
                if not data:
                    break
        except OSError:
            pass
        finally:
            writer.close()


def slow(sim: Simulator, directory: Path) -> None:
    authority = Authority(directory / "ca")
    server = authority.server()
    for tls in (False, True):
        text = f"basic_auth_users:\n  {SCRAPER}: {hashed(SCRAPER_PASSWORD, 4)}\n"
        if tls:
            text += f"tls_server_config:\n  cert_file: {server.cert}\n  key_file: {server.key}\n"
        exporter = Exporter(sim, write_config(directory, text), tls)
        try:
            exporter.wait_ready()
            counts = {"connections": 0, "connect_errors": 0}

            async def attack(
                stop: asyncio.Event,
                port: int = exporter.port,
                tls: bool = tls,
                counts: dict[str, int] = counts,
            ) -> None:
                slow = [_slow(port, stop, tls, counts) for _ in range(1100)]
                await asyncio.gather(*slow)

            thread, stop = run_attack(attack)
            time.sleep(5)
            began, cpu = time.monotonic(), exporter.cpu()
            failures: dict[str, int] = {}
            latencies = []
            for _ in range(60):
                start = time.monotonic()
                try:
                    response = requests.get(
                        exporter.url + "/metrics",
                        auth=(SCRAPER, SCRAPER_PASSWORD),
                        timeout=10,
                        verify=str(authority.cert),
                    )
                    if not response.ok:
                        failures[str(response.status_code)] = (
                            failures.get(str(response.status_code), 0) + 1
                        )
                    else:
                        latencies.append(time.monotonic() - start)
                except requests.RequestException as exc:
                    name = type(exc).__name__
                    failures[name] = failures.get(name, 0) + 1
                time.sleep(max(0.0, 0.5 - (time.monotonic() - start)))
            share = (exporter.cpu() - cpu) / (time.monotonic() - began)
            stop()
            thread.join(15)
            p50 = ms(statistics.median(latencies)) if latencies else "-"
            print(
                f"slow ({'TLS' if tls else 'plain'}, 1,100 connections): "
                f"{sum(failures.values())}/60 scrapes failed {failures}; p50 of the others {p50}; "
                f"exporter CPU {share:.0%}; attacker connections opened {counts['connections']}"
            )
        finally:
            exporter.close()


# --- timing ----------------------------------------------------------------------------------


def timing(sim: Simulator, directory: Path) -> None:
    config = write_config(
        directory, f"basic_auth_users:\n  {SCRAPER}: {hashed(SCRAPER_PASSWORD, 4)}\n"
    )
    exporter = Exporter(sim, config)
    try:
        exporter.wait_ready()
        results = {}
        with requests.Session() as session:
            for user in (SCRAPER, "nobody", SCRAPER, "nobody"):  # twice, interleaved
                times = []
                for _ in range(30):
                    auth = (user, secrets.token_hex(8))
                    began = time.monotonic()
                    session.get(exporter.url + "/healthz", auth=auth, timeout=10)
                    times.append(time.monotonic() - began)
                results[user] = statistics.median(times)
        print(
            f"timing (wrong passwords, cost 4): known user p50 {ms(results[SCRAPER])}, "
            f"unknown user p50 {ms(results['nobody'])}"
        )
    finally:
        exporter.close()


# --- 5,000 users -----------------------------------------------------------------------------


def users(sim: Simulator, directory: Path) -> None:
    other = hashed("not-used", 4)
    lines = [f"  user{n:04d}: '{other}'" for n in range(5000)]
    lines.append(f"  {SCRAPER}: '{hashed(SCRAPER_PASSWORD, 4)}'")
    config = write_config(directory, "basic_auth_users:\n" + "\n".join(lines) + "\n")
    exporter = Exporter(sim, config)
    try:
        exporter.wait_ready()
        with requests.Session() as session:
            session.auth = (SCRAPER, SCRAPER_PASSWORD)
            assert session.get(exporter.url + "/metrics", timeout=10).ok
            time.sleep(1)
            began, cpu = time.monotonic(), exporter.cpu()
            times = []
            while time.monotonic() - began < 10:
                times.append(timed(lambda: session.get(exporter.url + "/metrics", timeout=10)))
                time.sleep(0.05)
            share = (exporter.cpu() - cpu) / (time.monotonic() - began)
        print(
            f"5,000 users: {len(times)} scrapes, p50 {ms(statistics.median(times))}, "
            f"p90 {ms(statistics.quantiles(times, n=10)[-1])}, max {ms(max(times))}; "
            f"exporter CPU {share:.0%}"
        )
    finally:
        exporter.close()


SCENARIOS = {"flood": flood, "cost31": cost31, "slow": slow, "timing": timing, "users": users}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", default=[])
    args = parser.parse_args()
    sim = Simulator(
        WorldSpec(accounts=3, bridges=1, cameras=5, seed=3), username=USERNAME, password=PASSWORD
    ).start()
    try:
        for name in args.scenarios or SCENARIOS:
            with tempfile.TemporaryDirectory(prefix="een-web-") as directory:
                SCENARIOS[name](sim, Path(directory))
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
