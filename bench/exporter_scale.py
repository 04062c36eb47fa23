"""The exporter at scale: cold start, ingest CPU, /metrics latency, memory, reconnect storm.

Starts the simulated EEN cloud (`python -m exporter.simulator.cli`) and the exporter
(`python -m exporter`) as two subprocesses on free loopback ports, so the exporter's CPU time,
memory and threads can be read from /proc/<pid> alone, drives them through these phases and
prints one table with each figure, its target and pass/fail (issue 5):

 1. cold start: exporter start -> /readyz 200 and sum(een_stream_up) = N; the most concurrent
    login requests the simulator saw (it runs with a small --latency so they can overlap);
 2. /metrics when nothing changes: back-to-back identity and gzip scrapes, alternating with
    the same scrapes of a static copy of the body served by a minimal ThreadingHTTPServer;
 3. ingest: a quiet phase (idle CPU rate), then the simulator's churn at --churn-rate with no
    scrapes: (CPU - idle) / updates received, against json.loads + dict update in this process;
 4. churn with a gzip scrape every --churn-scrape-interval seconds (as Prometheus would
    scrape), RSS sampled every --rss-interval seconds (flatness);
 5. reconnect storm: every stream dropped at once, gzip scrapes until all are back;
 6. events (issue 10): the simulator sends a thumbnail (PRTH) every --thumbnail-seconds and
    stream statistics (CSSU) every --stream-stats-seconds per streaming camera; exporter CPU
    per event with no scrapes (idle subtracted), then its CPU with a gzip scrape every
    --events-scrape-interval, and how much of /metrics the event families take;
 7. prometheus_client's generate_latest on the same series (after both are stopped).

    .venv/bin/python bench/exporter_scale.py                        # 1,000 x 50, ~10 min
    .venv/bin/python bench/exporter_scale.py --quick                 # 100 x 20, ~1 min
    .venv/bin/python bench/exporter_scale.py --churn-seconds 600     # the 10-minute RSS run
    .venv/bin/python bench/exporter_scale.py --accounts 3000 --shard-total 3 --pin
                                 # one shard of three, on one core of its own (README sizing)

See docs/performance.md for the method and the figures.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.metadata
import json
import math
import os
import platform
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere, without the package installed
    sys.path.insert(0, str(ROOT))

from bench import procstat, pyspy  # noqa: E402
from bench.scrape import Scrape, ScrapeError, Scraper, decompressed, family_sums  # noqa: E402
from exporter.simulator.client import SimulatorControl  # noqa: E402
from exporter.simulator.stream import envelope  # noqa: E402
from exporter.simulator.world import Status  # noqa: E402
from exporter.state.sharding import shard_of  # noqa: E402

HOST = "127.0.0.1"
USERNAME, PASSWORD = "demo@example.com", "demo"
STARTUP_TIMEOUT = 120.0
STOP_TIMEOUT = 10.0
POLL_INTERVAL = 0.25  # between /readyz polls
STORM_GAP = 0.1  # between scrapes during the reconnect storm: continuous, not a busy loop
DRAIN_SECONDS = 1.0  # after churn stops, for changes on the way to arrive
SETTLE_SECONDS = 3.0
FLOOR_MESSAGES = 1000
MB = 1e6
ZERO_CPU = procstat.CpuTimes(0.0, 0.0)

STREAM_UP = "een_stream_up"
CONNECTS = "een_stream_connects_total"
MESSAGES = "een_stream_messages_total"
EVENTS = "een_camera_events_total"
SELF_PREFIXES = (b"process_", b"python_")
EXPORTER_CPU = 0  # with --pin
EVENT_FAMILIES = (
    b"een_camera_events_total",
    b"een_camera_last_event_timestamp_seconds",
    b"een_camera_stream_packets_",
    b"een_bridge_boots_total",
    b"een_bridge_restarts_total",
    b"een_bridge_cloud_",
    b"een_bridge_last_cloud_disconnect_duration_seconds",
)
EVENTS_WARMUP = 5.0  # seconds for the simulator's event schedules to reach their full rate


class BenchError(RuntimeError):
    pass


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- statistics and formatting -----------------------------------------------------------------


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def seconds(value: float) -> str:
    if value < 0.01:
        return f"{value * 1000:.1f} ms"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def latency(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"{seconds(statistics.median(values))} / {seconds(p95(values))}"


def times(ratio: float) -> str:
    return f"{ratio:.2f}x" if ratio < 10 else f"{ratio:.0f}x"


def shown(ratio: float) -> float:
    """The ratio as `times` prints it, so the verdict never contradicts the figure."""
    return round(ratio, 2) if ratio < 10 else round(ratio)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


# -- subprocesses ------------------------------------------------------------------------------


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def check(self) -> None:
        code = self.process.poll()
        if code is not None:
            lines = self.log_path.read_text(errors="replace").splitlines()[-20:]
            tail = "\n".join(lines)
            raise BenchError(f"{self.name} exited with status {code}; its log ends:\n{tail}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def read_line(self, prefix: str, timeout: float = STARTUP_TIMEOUT) -> str:
        """The first line of its stdout starting with `prefix`."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        buffered = b""
        while time.monotonic() < deadline:
            for line in buffered.decode(errors="replace").splitlines(keepends=True):
                if line.startswith(prefix) and line.endswith("\n"):
                    return line.strip()
            readable, _, _ = select.select([fd], [], [], 0.5)
            if readable:
                data = os.read(fd, 4096)
                if not data:
                    self.process.wait(STOP_TIMEOUT)
                    self.check()
                    raise BenchError(f"{self.name} closed its output")
                buffered += data
        raise BenchError(f"{self.name} did not print {prefix!r} within {timeout:g} s")


def start_child(
    workdir: Path,
    name: str,
    arguments: list[str],
    env: dict[str, str] | None = None,
    cpus: set[int] | None = None,
) -> Child:
    """`python <arguments>` from the repo root, on `cpus` if given; stderr goes to
    <workdir>/<name>.log."""
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, *arguments],
            cwd=ROOT,
            env=child_environment(env or {}),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log_file,
            start_new_session=True,  # Ctrl-C reaches the bench only; it stops them in order
            # Before the interpreter starts, so every thread it makes inherits the CPUs.
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
    return Child(name, process, log_path)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def child_environment(extra: dict[str, str]) -> dict[str, str]:
    """This environment without EEN_* settings, the repo first on the path, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EEN_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env | extra


# -- figures -----------------------------------------------------------------------------------


@dataclass
class Figures:
    """Everything measured, raw; `--json` writes it out."""

    monitored_accounts: int = 0  # this shard's share of the world (all of it unsharded)
    monitored_cameras: int = 0
    cold_start_seconds: float | None = None
    cold_start_cpu_seconds: float = 0.0  # the exporter's, from its start to all subscribed
    full_render_seconds: float = 0.0  # the first gzip scrape, when every account is new
    peak_logins_cold_start: int = 0
    peak_logins_run: int = 0
    series: int = 0
    floor_seconds: float = 0.0
    quiet_seconds: float = 0.0
    quiet_cpu: procstat.CpuTimes = ZERO_CPU
    quiet_switches: int = 0
    ingest_seconds: float = 0.0
    ingest_cpu: procstat.CpuTimes = ZERO_CPU
    ingest_switches: int = 0
    ingest_updates: int = 0
    idle_identity: list[float] = field(default_factory=list)
    idle_gzip: list[float] = field(default_factory=list)
    static_identity: list[float] = field(default_factory=list)
    static_gzip: list[float] = field(default_factory=list)
    identity_size: int = 0
    gzip_size: int = 0
    churn_gzip: list[float] = field(default_factory=list)
    churn_gzip_sizes: list[int] = field(default_factory=list)
    churn_cpu_rate: float = 0.0
    rss_samples: list[tuple[float, int]] = field(default_factory=list)  # (seconds, bytes)
    peak_rss: int = 0
    threads: int = 0
    storm_dropped: int = 0
    storm_scrapes: list[float] = field(default_factory=list)
    storm_recovery_seconds: float | None = None
    storm_cpu_seconds: float = 0.0
    events_seconds: float = 0.0
    events_cpu: procstat.CpuTimes = ZERO_CPU
    events_switches: int = 0
    events_counted: int = 0  # events delivered to the exporter over the phase
    events_messages: int = 0
    events_delivered: int = 0  # events the simulator pushed to streams over the phase
    events_scraped_seconds: float = 0.0
    events_scraped_cpu: float = 0.0
    events_scraped_counted: int = 0
    events_gzip: list[float] = field(default_factory=list)
    events_identity_before: int = 0  # bytes, pre-initialised event series only
    events_identity_after: int = 0
    events_gzip_after: int = 0
    event_family_bytes: int = 0
    event_series: int = 0
    baseline: dict[str, Any] = field(default_factory=dict)

    @property
    def idle_cpu_rate(self) -> float:
        """CPU seconds per second when nothing happens (pings, timers)."""
        return self.quiet_cpu.total / self.quiet_seconds if self.quiet_seconds else math.nan

    def per_update(self, ingest: float, quiet: float) -> float:
        """(ingest - quiet scaled to the ingest phase's length) / updates."""
        if not self.ingest_updates or not self.quiet_seconds:
            return math.nan
        idle = quiet * self.ingest_seconds / self.quiet_seconds
        return (ingest - idle) / self.ingest_updates

    @property
    def ingest_per_update(self) -> float:
        return self.per_update(self.ingest_cpu.total, self.quiet_cpu.total)

    def per_event(self, cpu: float, quiet: float) -> float:
        """(events-phase CPU - quiet scaled to its length) / events counted."""
        if not self.events_counted or not self.quiet_seconds:
            return math.nan
        return (cpu - quiet * self.events_seconds / self.quiet_seconds) / self.events_counted


def ingest_floor(rounds: int, iterations: int) -> float:
    """Median CPU seconds to json.loads one simulator status message and update a dict."""
    statuses = (int(Status.RECORDING), int(Status.ONLINE))
    messages = [
        envelope({f"10{n:06x}": {"status": statuses[n % 2]}}) for n in range(FLOOR_MESSAGES)
    ]
    batch = messages * max(1, iterations // FLOOR_MESSAGES)
    latest: dict[str, int] = {}
    timings = []
    for _ in range(rounds):
        started = time.process_time()
        for raw in batch:
            message = json.loads(raw)
            for esn, entity in message["data"].items():
                latest[esn] = entity["status"]
        timings.append((time.process_time() - started) / len(batch))
    return statistics.median(timings)


def event_share(body: bytes) -> tuple[int, int]:
    """(bytes, series) of the event families' sample lines."""
    size = series = 0
    for line in body.split(b"\n"):
        if line.startswith(EVENT_FAMILIES):
            size += len(line) + 1
            series += 1
    return size, series


def count_series(body: bytes) -> int:
    """Sample lines, not counting the process_/python_ families."""
    return sum(
        1 for line in body.split(b"\n") if line and not line.startswith((b"#", *SELF_PREFIXES))
    )


# -- the run -----------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.children: list[Child] = []
        self.figures = Figures()
        self.sim_url = ""
        self.exporter: Child | None = None
        self.exporter_port = 0
        self._control: SimulatorControl | None = None
        self._scraper: Scraper | None = None

    # -- plumbing ------------------------------------------------------------------------------

    def start(
        self,
        name: str,
        arguments: list[str],
        env: dict[str, str] | None = None,
        cpus: set[int] | None = None,
    ) -> Child:
        child = start_child(self.workdir, name, arguments, env, cpus)
        self.children.append(child)
        return child

    def stop_all(self) -> None:
        if self._scraper is not None:
            self._scraper.close()
        if self._control is not None:
            self._control.close()
        for child in reversed(self.children):
            child.stop()

    @property
    def control(self) -> SimulatorControl:
        assert self._control is not None
        return self._control

    @property
    def pid(self) -> int:
        assert self.exporter is not None
        return self.exporter.pid

    def scrape(self, gzip: bool = True) -> Scrape:
        assert self.exporter is not None
        assert self._scraper is not None
        self.exporter.check()
        return self._scraper.get(gzip)

    def sums(self, *names: str) -> dict[str, float]:
        return family_sums(self.scrape(), names)

    def profile(self, phase: str) -> AbstractContextManager[None]:
        return pyspy.profiled(self.args.py_spy, self.pid, self.workdir / f"profile-{phase}.txt")

    def scrape_and_sample(self, duration: float, scrape: Callable[[], None]) -> None:
        """For `duration` s: `scrape` every --churn-scrape-interval, and RSS every
        --rss-interval from just after the first scrape on."""
        args = self.args
        now = time.monotonic()
        end = now + duration
        next_rss = next_scrape = now
        while now < end:
            if now >= next_scrape:
                scrape()
                next_scrape += args.churn_scrape_interval
            if now >= next_rss:
                rss = procstat.memory(self.pid).rss
                self.figures.rss_samples.append((time.time(), rss))
                next_rss += args.rss_interval
            time.sleep(max(0.0, min(end, next_rss, next_scrape) - time.monotonic()))
            now = time.monotonic()

    # -- phases --------------------------------------------------------------------------------

    def run(self) -> Figures:
        args, figures = self.args, self.figures
        log(f"ingest floor: json.loads + dict update, {args.floor_rounds} rounds")
        figures.floor_seconds = ingest_floor(args.floor_rounds, args.floor_iterations)
        self.start_simulator()
        started = self.start_exporter()
        with self.profile("cold-start"):
            self.wait_until_subscribed(started)
        time.sleep(SETTLE_SECONDS)
        with self.profile("idle-scrapes"):
            self.idle_scrapes()
        self.ingest()
        with self.profile("churn-scrapes"):
            self.churn_with_scrapes()
        time.sleep(SETTLE_SECONDS)
        with self.profile("storm"):
            self.reconnect_storm()
        time.sleep(SETTLE_SECONDS)
        with self.profile("events"):
            self.events()
        memory = procstat.memory(self.pid)
        figures.peak_rss = memory.peak_rss
        figures.threads = max(figures.threads, memory.threads)
        figures.peak_logins_run = int(self.control.state()["peak_concurrent_logins"])
        self.stop_all()
        self.baseline()
        return figures

    def start_simulator(self) -> None:
        args = self.args
        log(f"simulator: {args.accounts} accounts x ({args.bridges} + {args.cameras}) devices")
        sim = self.start(
            "simulator",
            [
                "-m",
                "exporter.simulator.cli",
                f"--listen={HOST}:0",
                f"--accounts={args.accounts}",
                f"--bridges={args.bridges}",
                f"--cameras={args.cameras}",
                f"--seed={args.seed}",
                f"--snapshot={args.snapshot}",
                f"--latency={args.latency}",
                # No events before the events phase turns them on (PUT /_sim/events).
                "--thumbnail-seconds=0",
                "--stream-stats-seconds=0",
                "--bridge-boots-per-hour=0",
                f"--username={USERNAME}",
                f"--password={PASSWORD}",
            ],
        )
        self.sim_url = sim.read_line("een-sim listening on ").rsplit(" ", 1)[1]
        self._control = SimulatorControl(self.sim_url, timeout=STARTUP_TIMEOUT)
        self.count_monitored()

    def count_monitored(self) -> None:
        """The accounts and cameras this shard should monitor, from the simulator's world."""
        args, figures = self.args, self.figures
        accounts = [a for a in self.control.state()["accounts"] if a["devices"]]
        mine = [a for a in accounts if shard_of(a["id"], args.shard_total) == args.shard_index]
        figures.monitored_accounts = len(mine)
        figures.monitored_cameras = sum(
            d["type"] == "camera" for account in mine for d in account["devices"]
        )
        if args.shard_total > 1:
            log(
                f"  shard {args.shard_index} of {args.shard_total}: "
                f"{figures.monitored_accounts} of {len(accounts)} accounts"
            )

    def start_exporter(self) -> float:
        """Start the exporter; returns when (time.monotonic())."""
        args = self.args
        self.exporter_port = free_port()
        env_file = self.workdir / "empty.env"  # never read a developer's ./.env
        env_file.write_text("")
        log(f"exporter: cold start, login concurrency {args.login_concurrency}")
        started = time.monotonic()
        self.exporter = self.start(
            "exporter",
            [
                "-m",
                "exporter",
                f"--env-file={env_file}",
                f"--web.listen-address={HOST}:{self.exporter_port}",
                "--log.level=warning",
                f"--een.login-concurrency={args.login_concurrency}",
                f"--shard.index={args.shard_index}",
                f"--shard.total={args.shard_total}",
                *([f"--een.events={args.events}"] if args.events else []),
            ],
            {"EEN_URL": self.sim_url, "EEN_USERNAME": USERNAME, "EEN_PASSWORD": PASSWORD},
            cpus={EXPORTER_CPU} if args.pin else None,
        )
        return started

    def wait_until_subscribed(self, started: float) -> None:
        """Cold start: until /readyz answers 200 and sum(een_stream_up) is N."""
        args, figures = self.args, self.figures
        assert self.exporter is not None
        deadline = started + args.cold_start_timeout
        while readyz(self.exporter_port) != 200:
            self.exporter.check()
            if time.monotonic() > deadline:
                raise BenchError(f"the exporter was not ready within {args.cold_start_timeout} s")
            time.sleep(POLL_INTERVAL)
        subscribed_at = time.monotonic()
        self._scraper = Scraper(HOST, self.exporter_port)
        # The first scrape renders and compresses every account: what a reconnect storm or
        # a device refresh of every account costs at least.
        scrape = self.scrape()
        figures.full_render_seconds = scrape.seconds
        while family_sums(scrape, (STREAM_UP,))[STREAM_UP] != figures.monitored_accounts:
            if time.monotonic() > deadline:
                raise BenchError("ready, but not every account's stream is up")
            time.sleep(1.0)
            subscribed_at = time.monotonic()
            scrape = self.scrape()
        figures.cold_start_seconds = subscribed_at - started
        figures.cold_start_cpu_seconds = procstat.cpu_seconds(self.pid)
        figures.peak_logins_cold_start = int(self.control.state()["peak_concurrent_logins"])
        figures.threads = procstat.memory(self.pid).threads
        log(
            f"  all {figures.monitored_accounts} streams up after "
            f"{figures.cold_start_seconds:.1f} s"
        )

    def idle_scrapes(self) -> None:
        """Exporter and static copy, alternating, so both see the same machine noise."""
        args, figures = self.args, self.figures
        identity, compressed = self.scrape(gzip=False), self.scrape(gzip=True)  # warm-up too
        figures.series = count_series(identity.body)
        figures.identity_size, figures.gzip_size = len(identity.body), len(compressed.body)
        (self.workdir / "metrics.txt").write_bytes(identity.body)
        (self.workdir / "metrics.gz").write_bytes(compressed.body)
        if decompressed(compressed).count(b"\n") != identity.body.count(b"\n"):
            log("  note: the gzip and identity bodies differ in length (something changed)")
        log(f"  {figures.series:,} series, {len(identity.body) / MB:.1f} MB")
        static = self.start(
            "static",
            [
                "-m",
                "bench.static_server",
                *(str(self.workdir / n) for n in ("metrics.txt", "metrics.gz")),
            ],
        )
        port = int(static.read_line("listening on ").rsplit(" ", 1)[1])
        static_scraper = Scraper(HOST, port)
        try:
            static_scraper.get(False)
            static_scraper.get(True)
            log(f"/metrics when nothing changes: {args.scrapes} x (identity, gzip), vs. static")
            for gzip, mine, theirs in (
                (False, figures.idle_identity, figures.static_identity),
                (True, figures.idle_gzip, figures.static_gzip),
            ):
                for _ in range(args.scrapes):
                    mine.append(self.scrape(gzip).seconds)
                    static.check()
                    theirs.append(static_scraper.get(gzip).seconds)
        finally:
            static_scraper.close()
            static.stop()

    def ingest(self) -> None:
        """A quiet phase, then churn with no scrapes, equally long; CPU and switches of each."""
        args, figures = self.args, self.figures
        log(f"quiet phase: {args.ingest_seconds:g} s, no churn and no scrapes (idle CPU)")
        cpu, switches = procstat.cpu_times(self.pid), procstat.context_switches(self.pid)
        started = time.monotonic()
        time.sleep(args.ingest_seconds)
        figures.quiet_cpu = procstat.cpu_times(self.pid) - cpu
        figures.quiet_seconds = time.monotonic() - started
        figures.quiet_switches = procstat.context_switches(self.pid) - switches

        log(f"ingest phase: churn {args.churn_rate:g}/s for {args.ingest_seconds:g} s, no scrapes")
        before = self.sums(MESSAGES)[MESSAGES]
        with self.profile("ingest"):
            cpu, switches = procstat.cpu_times(self.pid), procstat.context_switches(self.pid)
            started = time.monotonic()
            self.control.set_churn(args.churn_rate)
            time.sleep(args.ingest_seconds)
            self.control.set_churn(0)
            time.sleep(DRAIN_SECONDS)  # let changes on the way arrive, so all are counted
            figures.ingest_cpu = procstat.cpu_times(self.pid) - cpu
            figures.ingest_seconds = time.monotonic() - started
            figures.ingest_switches = procstat.context_switches(self.pid) - switches
        figures.ingest_updates = int(self.sums(MESSAGES)[MESSAGES] - before)
        log(
            f"  {figures.ingest_updates} updates, "
            f"{figures.ingest_per_update * 1e6:.1f} us CPU each (idle subtracted)"
        )

    def churn_with_scrapes(self) -> None:
        args, figures = self.args, self.figures
        log(
            f"churn phase: {args.churn_rate:g}/s for {args.churn_seconds:g} s, "
            f"a gzip scrape every {args.churn_scrape_interval:g} s"
        )

        def scrape() -> None:
            result = self.scrape()
            figures.churn_gzip.append(result.seconds)
            figures.churn_gzip_sizes.append(len(result.body))

        cpu, started = procstat.cpu_seconds(self.pid), time.monotonic()
        self.control.set_churn(args.churn_rate)
        try:
            self.scrape_and_sample(args.churn_seconds, scrape)
        finally:
            self.control.set_churn(0)
        figures.churn_cpu_rate = (procstat.cpu_seconds(self.pid) - cpu) / (
            time.monotonic() - started
        )
        figures.rss_samples.append((time.time(), procstat.memory(self.pid).rss))

    def reconnect_storm(self) -> None:
        args, figures = self.args, self.figures
        connects = self.sums(CONNECTS)[CONNECTS]
        log("reconnect storm: every stream dropped at once")
        cpu = procstat.cpu_seconds(self.pid)
        figures.storm_dropped = int(self.control.drop_streams())
        started = time.monotonic()
        deadline = started + args.recovery_timeout
        while time.monotonic() < deadline:
            result = self.scrape()
            figures.storm_scrapes.append(result.seconds)
            sums = family_sums(result, (STREAM_UP, CONNECTS))
            monitored = figures.monitored_accounts
            if sums[STREAM_UP] == monitored and sums[CONNECTS] >= connects + monitored:
                figures.storm_recovery_seconds = time.monotonic() - started
                break
            time.sleep(STORM_GAP)
        figures.storm_cpu_seconds = procstat.cpu_seconds(self.pid) - cpu
        if figures.storm_recovery_seconds is None:
            log(f"  not every account was back within {args.recovery_timeout:g} s")
        else:
            log(f"  every account back after {figures.storm_recovery_seconds:.1f} s")

    def events(self) -> None:
        """Thumbnails and statistics at their rates: CPU per event with no scrapes, then the
        exporter's CPU with a gzip scrape every --events-scrape-interval; /metrics sizes."""
        args, figures = self.args, self.figures
        before = self.scrape(gzip=False)
        figures.events_identity_before = len(before.body)
        log(
            f"events phase: a thumbnail every {args.thumbnail_seconds:g} s and stream statistics "
            f"every {args.stream_stats_seconds:g} s per streaming camera"
        )
        self.control.set_event_rates(
            thumbnail_seconds=args.thumbnail_seconds,
            stream_stats_seconds=args.stream_stats_seconds,
        )
        time.sleep(EVENTS_WARMUP)
        counted, messages = self.event_counts()
        delivered = self.delivered()
        cpu, switches = procstat.cpu_times(self.pid), procstat.context_switches(self.pid)
        started = time.monotonic()
        time.sleep(args.events_seconds)
        figures.events_cpu = procstat.cpu_times(self.pid) - cpu
        figures.events_seconds = time.monotonic() - started
        figures.events_switches = procstat.context_switches(self.pid) - switches
        figures.events_delivered = self.delivered() - delivered
        after_counted, after_messages = self.event_counts()
        figures.events_counted = after_counted - counted
        figures.events_messages = after_messages - messages
        log(
            f"  {figures.events_counted:,} events in {figures.events_seconds:.0f} s, "
            f"{figures.per_event(figures.events_cpu.total, figures.quiet_cpu.total) * 1e6:.1f} "
            "us CPU each (idle subtracted)"
        )
        log(f"  the same with a gzip scrape every {args.events_scrape_interval:g} s")
        counted = after_counted
        cpu_seconds, started = procstat.cpu_seconds(self.pid), time.monotonic()
        end = started + args.events_seconds
        while time.monotonic() < end:
            figures.events_gzip.append(self.scrape().seconds)
            time.sleep(
                max(
                    0.0,
                    min(end, started + len(figures.events_gzip) * args.events_scrape_interval)
                    - time.monotonic(),
                )
            )
        figures.events_scraped_cpu = procstat.cpu_seconds(self.pid) - cpu_seconds
        figures.events_scraped_seconds = time.monotonic() - started
        figures.events_scraped_counted = self.event_counts()[0] - counted
        after = self.scrape(gzip=False)
        figures.events_identity_after = len(after.body)
        figures.events_gzip_after = len(self.scrape().body)
        figures.event_family_bytes, figures.event_series = event_share(after.body)
        self.control.set_event_rates(thumbnail_seconds=0, stream_stats_seconds=0)
        cores = figures.events_scraped_cpu / figures.events_scraped_seconds
        log(f"  exporter CPU {cores:.2f} cores")

    def event_counts(self) -> tuple[int, int]:
        """(events the simulator delivered to the exporter's streams, sum of
        een_stream_messages_total). Not sum(een_camera_events_total): since issue 21 CSSU
        has no count series of its own by default (EEN_CSSU_EVENT_SERIES)."""
        sums = self.sums(MESSAGES)
        return self.delivered(), int(sums[MESSAGES])

    def delivered(self) -> int:
        return sum(int(n) for n in self.control.state()["events"]["delivered"].values())

    def baseline(self) -> None:
        args = self.args
        log(f"prometheus_client generate_latest on the same series, {args.baseline_runs} runs")
        command = [sys.executable, "-m", "bench.promclient_baseline"]
        command += [str(self.workdir / "metrics.txt"), f"--runs={args.baseline_runs}"]
        done = subprocess.run(
            command,
            cwd=ROOT,
            env=child_environment({}),
            capture_output=True,
            timeout=args.baseline_timeout,
            check=False,
        )
        if done.returncode != 0:
            raise BenchError(f"the baseline failed:\n{done.stderr.decode(errors='replace')}")
        self.figures.baseline = json.loads(done.stdout)

    def profiles(self) -> list[str]:
        lines = []
        for path in sorted(self.workdir.glob("profile-*.txt")):
            lines.append(f"py-spy profile of the exporter, phase {path.stem[8:]}:")
            lines += pyspy.summary(path)
        return lines


def readyz(port: int) -> int:
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        connection.request("GET", "/readyz")
        response = connection.getresponse()
        response.read()  # closing with unread data would reset the connection
        return response.status
    except OSError:
        return 0  # not listening yet
    finally:
        connection.close()


# -- the report --------------------------------------------------------------------------------


def table(args: argparse.Namespace, f: Figures) -> list[str]:
    rows: list[tuple[str, str, str, str]] = []

    def row(name: str, value: str, target: str = "", ok: bool | None = None) -> None:
        rows.append((name, value, target, "" if ok is None else verdict(ok)))

    n = f.monitored_accounts
    cold = f.cold_start_seconds
    row(
        f"cold start: all {n} accounts subscribed",
        seconds(cold) if cold is not None else "n/a",
        "< 60 s",
        cold is not None and cold < 60,
    )
    row(
        "cold start: exporter CPU (share of the cold start)",
        f"{f.cold_start_cpu_seconds:.1f} s ({100 * f.cold_start_cpu_seconds / cold:.0f} %)"
        if cold
        else "n/a",
    )
    row(
        "cold start: peak concurrent logins (simulator)",
        f"{f.peak_logins_cold_start} (configured {args.login_concurrency})",
        f"<= {args.login_concurrency}",
        f.peak_logins_cold_start <= args.login_concurrency,
    )
    per_update = f.ingest_per_update
    user = f.per_update(f.ingest_cpu.user, f.quiet_cpu.user)
    system = f.per_update(f.ingest_cpu.system, f.quiet_cpu.system)
    switches = f.per_update(f.ingest_switches, f.quiet_switches)
    row(
        "ingest: updates received",
        f"{f.ingest_updates:,} in {f.ingest_seconds:.0f} s "
        f"(idle CPU {100 * f.idle_cpu_rate:.1f} % over {f.quiet_seconds:.0f} s)",
    )
    row(
        "ingest: exporter CPU per update, idle subtracted",
        f"{per_update * 1e6:.1f} µs (user {user * 1e6:.1f} + system {system * 1e6:.1f}); "
        f"{switches:.1f} context switches",
    )
    gross = f.ingest_cpu.total / f.ingest_updates if f.ingest_updates else math.nan
    row("ingest: the same without subtracting idle (upper bound)", f"{gross * 1e6:.1f} µs")
    row("ingest: floor, json.loads + dict update", f"{f.floor_seconds * 1e6:.2f} µs")
    ratio = per_update / f.floor_seconds
    row("ingest: exporter / floor", times(ratio), "<= 3x", shown(ratio) <= 3)

    id_p50, gz_p50 = statistics.median(f.idle_identity), statistics.median(f.idle_gzip)
    st_id, st_gz = statistics.median(f.static_identity), statistics.median(f.static_gzip)
    row(
        "/metrics idle, identity: p50 / p95, size",
        f"{latency(f.idle_identity)}, {f.identity_size / MB:.1f} MB",
    )
    row(
        "/metrics idle, gzip: p50 / p95, size", f"{latency(f.idle_gzip)}, {f.gzip_size / MB:.2f} MB"
    )
    row(
        "/metrics, first gzip scrape after /readyz (renders and compresses everything)",
        seconds(f.full_render_seconds),
    )
    row("static body, identity: p50 / p95", latency(f.static_identity))
    row("static body, gzip: p50 / p95", latency(f.static_gzip))
    for kind, ratio in (("identity", id_p50 / st_id), ("gzip", gz_p50 / st_gz)):
        row(f"exporter / static, {kind} (p50)", times(ratio), "<= 2x", shown(ratio) <= 2)

    base = f.baseline
    gen = base["generate_latest_median"]
    gen_gz = gen + base["gzip_median"]
    row(
        f"generate_latest, {base['series']:,} series: median, size",
        f"{seconds(gen)}, {base['size'] / MB:.1f} MB",
    )
    row("generate_latest + gzip.compress: median", seconds(gen_gz))
    row(
        "generate_latest / exporter, identity (p50)",
        times(gen / id_p50),
        ">= 20x",
        gen / id_p50 >= 20,
    )
    row(
        "generate_latest+gzip / exporter gzip (p50)",
        times(gen_gz / gz_p50),
        ">= 20x",
        gen_gz / gz_p50 >= 20,
    )
    churn_size = statistics.median(f.churn_gzip_sizes) if f.churn_gzip_sizes else 0
    row(
        f"/metrics during churn, gzip every {args.churn_scrape_interval:g} s: p50 / p95, size",
        f"{latency(f.churn_gzip)}, {churn_size / MB:.2f} MB "
        f"(exporter CPU {100 * f.churn_cpu_rate:.0f} %)",
    )

    row("peak RSS (VmHWM)", f"{f.peak_rss / MB:.0f} MB", "< 400 MB", f.peak_rss < 400 * MB)
    row("threads", str(f.threads))
    rss = [value for _, value in f.rss_samples]
    if len(rss) >= 2:
        mean = statistics.fmean(rss)
        drift = (rss[-1] - rss[0]) / mean
        low, high = min(rss) / mean - 1, max(rss) / mean - 1
        span = f.rss_samples[-1][0] - f.rss_samples[0][0]
        worst = max(abs(drift), abs(low), abs(high))
        row(
            f"RSS during churn with scrapes ({len(rss)} samples over {span / 60:.1f} min): "
            "drift first→last; min / max vs. mean",
            f"{100 * drift:+.1f} %; {100 * low:+.1f} % / {100 * high:+.1f} % "
            f"(mean {mean / MB:.0f} MB)",
            "±10 % over 10 min",
            worst <= 0.10,
        )
    storm = f.storm_scrapes
    row(
        f"reconnect storm ({f.storm_dropped} streams dropped): /metrics p95 during recovery",
        f"{seconds(p95(storm))}, max {seconds(max(storm))} ({len(storm)} gzip scrapes)"
        if storm
        else "n/a",
        "< 1 s",
        bool(storm) and p95(storm) < 1,
    )
    recovery = f.storm_recovery_seconds
    row(
        "reconnect storm: every account back",
        f"{seconds(recovery)} (exporter CPU {f.storm_cpu_seconds:.1f} s)"
        if recovery is not None
        else f"not within {args.recovery_timeout:g} s",
        "< 120 s",
        recovery is not None and recovery < 120,
    )
    rows.append(("peak concurrent logins over the whole run", str(f.peak_logins_run), "", ""))
    rows.extend(event_rows(args, f))

    lines = ["| figure | value | target | result |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return lines


def event_rows(args: argparse.Namespace, f: Figures) -> list[tuple[str, str, str, str]]:
    if not f.events_seconds:
        return []
    rate = f.events_counted / f.events_seconds
    per_event = f.per_event(f.events_cpu.total, f.quiet_cpu.total)
    user = f.per_event(f.events_cpu.user, f.quiet_cpu.user)
    system = f.per_event(f.events_cpu.system, f.quiet_cpu.system)
    switches = f.per_event(f.events_switches, f.quiet_switches)
    cores = f.events_cpu.total / f.events_seconds
    scraped_cores = f.events_scraped_cpu / f.events_scraped_seconds
    without = f.events_identity_after - f.event_family_bytes
    mb = MB
    return [
        (
            f"events: received (PRTH every {args.thumbnail_seconds:g} s, CSSU every "
            f"{args.stream_stats_seconds:g} s per streaming camera)",
            f"{f.events_counted:,} in {f.events_seconds:.0f} s = {rate:,.0f}/s in "
            f"{f.events_messages:,} messages (simulator pushed {f.events_delivered:,})",
            "",
            "",
        ),
        (
            "events: exporter CPU per event, idle subtracted",
            f"{per_event * 1e6:.1f} µs (user {user * 1e6:.1f} + system {system * 1e6:.1f}); "
            f"{switches:.1f} context switches",
            "",
            "",
        ),
        ("events: exporter CPU, no scrapes", f"{cores:.2f} cores", "", ""),
        (
            f"events: exporter CPU with a gzip scrape every {args.events_scrape_interval:g} s",
            f"{scraped_cores:.2f} cores "
            f"({f.events_scraped_counted / f.events_scraped_seconds:,.0f} events/s)",
            "< 0.5 core",
            verdict(scraped_cores < 0.5),
        ),
        (
            "events: /metrics gzip p50 / p95 during events",
            f"{latency(f.events_gzip)}, {f.events_gzip_after / mb:.2f} MB",
            "",
            "",
        ),
        (
            "events: /metrics identity size; of it the event families",
            f"{f.events_identity_after / mb:.1f} MB; {f.event_family_bytes / mb:.1f} MB in "
            f"{f.event_series:,} series (+{f.event_family_bytes / without:.0%} over "
            f"{without / mb:.1f} MB without them); {f.events_identity_before / mb:.1f} MB "
            "before any event",
            "",
            "",
        ),
    ]


def header(args: argparse.Namespace, figures: Figures) -> list[str]:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    version = importlib.metadata.version("prometheus-client")
    return [
        "een-exporter scale benchmark (bench/exporter_scale.py)",
        f"  command:    {' '.join([Path(sys.executable).name, *sys.argv])}",
        f"  world:      {args.accounts} accounts x ({args.bridges} bridges + {args.cameras} "
        f"cameras) = {args.accounts * args.cameras:,} cameras",
        f"  exporter:   shard {args.shard_index} of {args.shard_total}: "
        f"{figures.monitored_accounts} accounts, {figures.monitored_cameras:,} cameras, "
        f"{figures.series:,} series; "
        + (f"pinned to CPU {EXPORTER_CPU}, the rest elsewhere" if args.pin else "unpinned"),
        f"  events:     the exporter subscribes {args.events or 'its default set'}",
        f"  phases:     churn {args.churn_rate:g}/s; quiet and ingest {args.ingest_seconds:g} s "
        f"each; churn with scrapes {args.churn_seconds:g} s; {args.scrapes} idle scrapes each; "
        f"simulator latency {args.latency:g} s; login concurrency {args.login_concurrency}",
        f"  machine:    {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"prometheus_client {version}, {platform.system()} {platform.release()}",
        "  sizes in MB = 10^6 bytes; latencies measured by the bench client (request sent to "
        "last body byte)",
    ]


# -- command line ------------------------------------------------------------------------------


QUICK = {
    "accounts": 100,
    "cameras": 20,
    "ingest_seconds": 20.0,
    "churn_seconds": 10.0,
    "events_seconds": 20.0,
    "scrapes": 10,
    "floor_iterations": 50_000,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--accounts", type=int, default=1000, help="sub-accounts (default 1000)")
    add("--cameras", type=int, default=50, help="cameras per account (default 50)")
    add("--bridges", type=int, default=2, help="bridges per account (default 2)")
    add("--seed", type=int, default=1)
    add(
        "--snapshot",
        choices=("per-camera", "batched"),
        default="per-camera",
        help="the simulator's snapshot reading (default per-camera, as EEN documents it; "
        "figures before issue 14 were measured batched)",
    )
    add("--login-concurrency", type=int, default=4, help="the exporter's (default 4)")
    add("--latency", type=float, default=0.005, help="simulator REST latency (default 0.005 s)")
    add("--churn-rate", type=float, default=200.0, help="status changes per second (default 200)")
    add(
        "--ingest-seconds",
        type=float,
        default=60.0,
        help="quiet and ingest phases, each (default 60: whole rounds of the exporter's "
        "20 s stream pings, which make up most of its idle CPU)",
    )
    add("--churn-seconds", type=float, default=60.0, help="churn with scrapes (default 60)")
    add("--churn-scrape-interval", type=float, default=2.0)
    add("--thumbnail-seconds", type=float, default=10.0, help="events phase: PRTH period")
    add("--stream-stats-seconds", type=float, default=60.0, help="events phase: CSSU period")
    add("--events-seconds", type=float, default=60.0, help="events phase, each half")
    add("--events-scrape-interval", type=float, default=15.0)
    add("--events", metavar="CODES", help="the exporter's EEN_EVENTS (default: its default set)")
    add("--scrapes", type=int, default=30, help="idle scrapes of each kind (default 30)")
    add("--rss-interval", type=float, default=5.0)
    add("--floor-rounds", type=int, default=5)
    add("--floor-iterations", type=int, default=200_000)
    add("--baseline-runs", type=int, default=3, help="generate_latest runs (default 3)")
    add("--cold-start-timeout", type=float, default=300.0)
    add("--recovery-timeout", type=float, default=300.0)
    add("--baseline-timeout", type=float, default=1200.0)
    add("--shard-index", type=int, default=0, help="the exporter's --shard.index (default 0)")
    add("--shard-total", type=int, default=1, help="the exporter's --shard.total (default 1)")
    add(
        "--pin",
        action="store_true",
        help=f"run the exporter on CPU {EXPORTER_CPU} alone and the simulator and the bench on "
        "the other CPUs: what one replica does with one core",
    )
    add("--quick", action="store_true", help="a sanity check: 100 x 20, short phases")
    add("--json", type=Path, metavar="PATH", help="also write every raw figure here")
    add("--py-spy", metavar="PATH", help="profile each phase with this py-spy binary")
    add("--keep", action="store_true", help="keep the work directory (logs, bodies, profiles)")
    args = parser.parse_args(argv)
    if args.quick:
        defaults = {name: parser.get_default(name) for name in QUICK}
        for name, value in QUICK.items():
            if getattr(args, name) == defaults[name]:  # explicit flags still win
                setattr(args, name, value)
    if args.accounts < 1 or args.cameras < 0 or args.scrapes < 1:
        parser.error("--accounts and --scrapes must be >= 1")
    if not 0 <= args.shard_index < args.shard_total:
        parser.error("--shard-index must be from 0 to --shard-total - 1")
    if args.pin and len(os.sched_getaffinity(0) - {EXPORTER_CPU}) < 1:
        parser.error(f"--pin needs CPU {EXPORTER_CPU} and at least one other")
    return args


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the children are always stopped."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.pin:  # the bench and the simulator it starts keep off the exporter's CPU
        os.sched_setaffinity(0, os.sched_getaffinity(0) - {EXPORTER_CPU})
    workdir = Path(tempfile.mkdtemp(prefix="een-bench-"))
    bench = Bench(args, workdir)
    try:
        with terminate_as_interrupt():
            try:
                figures = bench.run()
            finally:
                bench.stop_all()
        lines = ["", *header(args, figures), "", *table(args, figures)]
        if args.py_spy:
            lines += ["", *bench.profiles()]
        print("\n".join(lines), flush=True)
        if args.json:
            args.json.write_text(json.dumps(vars(figures), indent=1, default=str))
        return 0
    except KeyboardInterrupt:
        log("interrupted; both subprocesses stopped")
        return 130
    except (BenchError, ScrapeError, OSError, subprocess.SubprocessError) as exc:
        log(f"benchmark failed: {exc}")
        return 1
    finally:
        if args.keep:
            log(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
