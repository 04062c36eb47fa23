"""A soak: the exporter for an hour under churn, topology changes and faults (issue 8).

Starts the simulated EEN cloud and the exporter as two subprocesses (as
bench/exporter_scale.py does) and, for --minutes:

- the simulator churns camera statuses at --churn-rate per second;
- every --change-interval seconds one change of the world: a camera added, deleted or
  renamed, an account added (with cameras), deleted or renamed; the number of accounts stays
  within --accounts ± ACCOUNT_SWING;
- every --fault-interval seconds one fault, in turn: every stream dropped, every stream
  stalled, every session invalidated (auth lost), a burst of 503 answers, a burst of 429
  answers; each is reset --fault-hold seconds later;
- a gzip scrape of /metrics every --scrape-interval seconds (as Prometheus would);
- every --sample-interval seconds the exporter's RSS, threads and open file descriptors,
  with the load average of the machine (it is shared).

Then churn and changes stop, faults are reset, and it waits (up to a deadline) until
/metrics matches /_sim/state exactly: every account present with its name, every camera
present with its name and its four gauges (online, on, streaming, recording), nothing extra.

Flat means: after the warm-up (--warmup, default 10 % of the run), the mean of the last
quarter of the samples is within ±10 % of the mean of the first quarter, for RSS, threads and
open fds each.

    .venv/bin/python bench/soak.py                   # 200 accounts x 10 cameras, 60 minutes
    .venv/bin/python bench/soak.py --minutes 2 --cameras 2 --fault-interval 20

Exit status 0 when the final comparison matches and every figure is flat, 1 otherwise.
See docs/performance.md for the figures of a full run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere, without the package installed
    sys.path.insert(0, str(ROOT))

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from bench import procstat  # noqa: E402
from bench.exporter_scale import (  # noqa: E402
    HOST,
    PASSWORD,
    USERNAME,
    BenchError,
    Child,
    free_port,
    log,
    readyz,
    start_child,
    terminate_as_interrupt,
)
from bench.scrape import ScrapeError, Scraper  # noqa: E402
from exporter.simulator.client import SimulatorControl, SimulatorControlError  # noqa: E402
from exporter.state.status import ON, RECORDING, REGISTERED, STREAMING, is_informative  # noqa: E402

ACCOUNT_SWING = 10  # accounts added or deleted by the changes stay within --accounts ± this
FLAT = 0.10  # the most the last quarter may differ from the first, as a fraction
CONTROL_TIMEOUT = 60.0
POLL_INTERVAL = 1.0  # between comparisons while waiting for the exporter to catch up
MAX_SHOWN = 20  # differences printed
MB = 1e6
# The image's (Dockerfile): no per-thread malloc cache. With a stream thread per account each
# thread's cache fills as it meets new paths (reconnects, re-logins), which showed as RSS
# creeping up over an hour (docs/performance.md, "Soak").
IMAGE_GLIBC_TUNABLES = "glibc.malloc.tcache_count=0"
GAUGES = {
    "een_camera_online": REGISTERED,
    "een_camera_on": ON,
    "een_camera_streaming": STREAMING,
    "een_camera_recording": RECORDING,
}


class Fault(Enum):
    DROP = "drop"
    STALL = "stall"
    AUTH_LOST = "auth-lost"
    HTTP_5XX = "5xx-burst"
    HTTP_429 = "429-burst"


class Change(Enum):
    ADD_CAMERA = "add-camera"
    DELETE_CAMERA = "delete-camera"
    RENAME_CAMERA = "rename-camera"
    ADD_ACCOUNT = "add-account"
    DELETE_ACCOUNT = "delete-account"
    RENAME_ACCOUNT = "rename-account"


@dataclass
class Sample:
    seconds: float  # since the soak began
    rss: int
    threads: int
    fds: int
    load1: float
    accounts: int  # in the simulator


@dataclass
class Drift:
    """The last quarter of the post-warm-up samples against the first quarter."""

    name: str
    first: float  # mean of the first quarter
    last: float  # mean of the last quarter
    low: float  # min and max over every post-warm-up sample
    high: float

    @property
    def ratio(self) -> float:
        return self.last / self.first - 1 if self.first else 0.0

    @property
    def flat(self) -> bool:
        return abs(self.ratio) <= FLAT


@dataclass
class Result:
    samples: list[Sample] = field(default_factory=list)
    faults: list[tuple[float, str]] = field(default_factory=list)  # (seconds, fault)
    changes: dict[str, int] = field(default_factory=dict)
    change_errors: int = 0  # changes the simulator refused (a race with another change)
    scrapes: list[float] = field(default_factory=list)  # seconds each
    scrape_failures: list[str] = field(default_factory=list)
    cold_start_seconds: float = 0.0
    converged_seconds: float | None = None  # after the end of the soak, until all matched
    differences: list[str] = field(default_factory=list)  # at the end; empty = exact match
    compared_accounts: int = 0
    compared_cameras: int = 0
    warmup_seconds: float = 0.0

    def drifts(self) -> list[Drift]:
        after = [s for s in self.samples if s.seconds >= self.warmup_seconds]
        if len(after) < 4:
            return []
        quarter = len(after) // 4
        figures: dict[str, Callable[[Sample], float]] = {
            "RSS (MB)": lambda s: s.rss / MB,
            "threads": lambda s: s.threads,
            "open fds": lambda s: s.fds,
        }
        drifts = []
        for name, value in figures.items():
            values = [value(s) for s in after]
            drifts.append(
                Drift(
                    name,
                    statistics.fmean(values[:quarter]),
                    statistics.fmean(values[-quarter:]),
                    min(values),
                    max(values),
                )
            )
        return drifts

    @property
    def passed(self) -> bool:
        drifts = self.drifts()
        return (
            not self.differences
            and not self.scrape_failures
            and bool(drifts)
            and all(d.flat for d in drifts)
        )


# -- the final comparison ----------------------------------------------------------------------


def expected_gauges(status: int) -> dict[str, float] | None:
    """The four gauges a camera with this status has, or None if the status says nothing."""
    if not is_informative(status):
        return None
    return {name: float(bool(status & bit)) for name, bit in GAUGES.items()}


def compare(state: dict[str, Any], metrics: str) -> tuple[list[str], int, int]:
    """Differences between the simulator's world and the exporter's /metrics (every account
    present, named and its stream up; every camera present, named, its four gauges), and how
    many accounts and cameras were compared."""
    user = state["user"]
    want_accounts = {
        a["id"]: a["name"]
        for a in state["accounts"]
        # The exporter leaves out a dealer's own account while it holds no devices.
        if a["devices"] or not (user["is_master"] and a["id"] == user["owner_account_id"])
    }
    want_cameras: dict[tuple[str, str], tuple[str, dict[str, float] | None]] = {
        (a["id"], d["id"]): (d["name"], expected_gauges(d["status"]))
        for a in state["accounts"]
        for d in a["devices"]
        if d["type"] == "camera"
    }
    have_accounts: dict[str, str] = {}
    streams_up: dict[str, float] = {}
    have_cameras: dict[tuple[str, str], str] = {}
    have_gauges: dict[tuple[str, str], dict[str, float]] = {}
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "een_account_info":
                have_accounts[labels["account_id"]] = labels["name"]
            elif sample.name == "een_stream_up":
                streams_up[labels["account_id"]] = sample.value
            elif sample.name == "een_camera_info":
                have_cameras[labels["account_id"], labels["camera_id"]] = labels["name"]
            elif sample.name in GAUGES:
                key = (labels["account_id"], labels["camera_id"])
                have_gauges.setdefault(key, {})[sample.name] = sample.value

    differences = []
    for account_id in sorted(want_accounts.keys() | have_accounts.keys()):
        want, have = want_accounts.get(account_id), have_accounts.get(account_id)
        if want != have:
            differences.append(f"account {account_id}: simulator {want!r}, exporter {have!r}")
        elif streams_up.get(account_id) != 1:
            differences.append(f"account {account_id}: stream not up")
    for key in sorted(want_cameras.keys() | have_cameras.keys() | have_gauges.keys()):
        name, gauges = want_cameras.get(key, (None, None))
        label = f"camera {key[1]} of account {key[0]}"
        if name != have_cameras.get(key):
            differences.append(f"{label}: name {name!r}, exporter {have_cameras.get(key)!r}")
        if (gauges or {}) != have_gauges.get(key, {}):
            differences.append(f"{label}: gauges {gauges}, exporter {have_gauges.get(key)}")
    return differences, len(want_accounts), len(want_cameras)


# -- the run -----------------------------------------------------------------------------------


class Soak:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.result = Result(warmup_seconds=args.warmup * 60)
        self.random = random.Random(args.seed)
        self.children: list[Child] = []
        self.exporter: Child | None = None
        self.port = 0
        self.sim_url = ""
        self._control: SimulatorControl | None = None
        self._scraper: Scraper | None = None
        self._names = 0  # for unique names of what the changes add or rename

    @property
    def control(self) -> SimulatorControl:
        assert self._control is not None
        return self._control

    @property
    def pid(self) -> int:
        assert self.exporter is not None
        return self.exporter.pid

    def stop_all(self) -> None:
        if self._scraper is not None:
            self._scraper.close()
        if self._control is not None:
            self._control.close()
        for child in reversed(self.children):
            child.stop()

    def run(self) -> Result:
        self.start_simulator()
        self.start_exporter()
        self.soak()
        self.converge()
        return self.result

    # -- processes -----------------------------------------------------------------------------

    def start_simulator(self) -> None:
        args = self.args
        log(f"simulator: {args.accounts} accounts x ({args.bridges} + {args.cameras}) devices")
        sim = start_child(
            self.workdir,
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
                f"--username={USERNAME}",
                f"--password={PASSWORD}",
            ],
        )
        self.children.append(sim)
        url = sim.read_line("een-sim listening on ").rsplit(" ", 1)[1]
        self._control = SimulatorControl(url, timeout=CONTROL_TIMEOUT)
        self.sim_url = url

    def start_exporter(self) -> None:
        args = self.args
        self.port = free_port()
        env_file = self.workdir / "empty.env"  # never read a developer's ./.env
        env_file.write_text("")
        started = time.monotonic()
        self.exporter = start_child(
            self.workdir,
            "exporter",
            [
                "-m",
                "exporter",
                f"--env-file={env_file}",
                f"--web.listen-address={HOST}:{self.port}",
                "--log.level=warning",
                f"--een.device-refresh={args.device_refresh:g}",
                f"--een.stream-timeout={args.stream_timeout:g}",
                f"--een.backoff-max={args.backoff_max:g}",
            ],
            {
                "EEN_URL": self.sim_url,
                "EEN_USERNAME": USERNAME,
                "EEN_PASSWORD": PASSWORD,
                "GLIBC_TUNABLES": args.glibc_tunables,
            },
        )
        self.children.append(self.exporter)
        deadline = started + args.startup_timeout
        while readyz(self.port) != 200:
            self.exporter.check()
            if time.monotonic() > deadline:
                raise BenchError(f"the exporter was not ready within {args.startup_timeout:g} s")
            time.sleep(0.25)
        self._scraper = Scraper(HOST, self.port)
        self.result.cold_start_seconds = time.monotonic() - started
        log(f"exporter ready after {self.result.cold_start_seconds:.1f} s")

    # -- the soak ------------------------------------------------------------------------------

    def soak(self) -> None:
        args, result = self.args, self.result
        log(
            f"soak: {args.minutes:g} min; churn {args.churn_rate:g}/s, a change every "
            f"{args.change_interval:g} s, a fault every {args.fault_interval:g} s "
            f"(held {args.fault_hold:g} s), warm-up {args.warmup:g} min"
        )
        self.control.set_churn(args.churn_rate)
        faults = itertools.cycle(Fault)
        begin = time.monotonic()
        end = begin + args.minutes * 60
        due = {
            "sample": begin,
            "scrape": begin,
            "change": begin + args.change_interval,
            "fault": begin + args.fault_interval / 2,
        }
        reset_at: float | None = None
        while (now := time.monotonic()) < end:
            assert self.exporter is not None
            self.exporter.check()
            if now >= due["sample"]:
                self.sample(now - begin)
                due["sample"] += args.sample_interval
            if now >= due["scrape"]:
                self.scrape()
                due["scrape"] += args.scrape_interval
            if now >= due["change"]:
                self.change()
                due["change"] += args.change_interval
            if now >= due["fault"]:
                fault = next(faults)
                log(f"fault: {fault.value}")
                self.inject(fault)
                result.faults.append((now - begin, fault.value))
                reset_at = now + args.fault_hold
                due["fault"] += args.fault_interval
            if reset_at is not None and now >= reset_at:
                self.control.reset()
                reset_at = None
            wake = min([*due.values(), end] + ([reset_at] if reset_at is not None else []))
            time.sleep(max(0.0, wake - time.monotonic()))
        self.control.set_churn(0)
        self.control.reset()

    def sample(self, seconds: float) -> None:
        memory = procstat.memory(self.pid)
        sample = Sample(
            seconds,
            memory.rss,
            memory.threads,
            procstat.open_fds(self.pid),
            os.getloadavg()[0],
            len(self.control.state()["accounts"]),
        )
        self.result.samples.append(sample)
        scrapes = self.result.scrapes[-10:]
        print(
            f"t={seconds:7.0f}s rss={sample.rss / MB:6.1f}MB threads={sample.threads:4d} "
            f"fds={sample.fds:4d} load1={sample.load1:5.2f} accounts={sample.accounts} "
            f"scrape_p50={1000 * statistics.median(scrapes) if scrapes else 0:.0f}ms",
            flush=True,
        )

    def scrape(self) -> None:
        assert self._scraper is not None
        try:
            self.result.scrapes.append(self._scraper.get(gzip=True).seconds)
        except ScrapeError as exc:
            log(f"scrape failed: {exc}")
            self.result.scrape_failures.append(str(exc))

    def inject(self, fault: Fault) -> None:
        control, burst = self.control, self.args.http_burst
        if fault is Fault.DROP:
            control.drop_streams()
        elif fault is Fault.STALL:
            control.stall_streams()
        elif fault is Fault.AUTH_LOST:
            control.auth_lost()
        elif fault is Fault.HTTP_5XX:
            control.http_fault(503, burst)
        else:
            control.http_fault(429, burst)

    # -- changes of the world ------------------------------------------------------------------

    def name(self, kind: str) -> str:
        self._names += 1
        return f"Soak {kind} {self._names}"

    def change(self) -> None:
        state = self.control.state()
        owner = state["user"]["owner_account_id"]
        accounts = [a for a in state["accounts"] if a["id"] != owner]
        change = self.pick(len(accounts))
        try:
            self.apply(change, accounts)
        except SimulatorControlError as exc:  # e.g. the account went meanwhile: not ours
            log(f"change {change.value} refused: {exc}")
            self.result.change_errors += 1
            return
        self.result.changes[change.value] = self.result.changes.get(change.value, 0) + 1

    def pick(self, accounts: int) -> Change:
        target = self.args.accounts
        if accounts <= target - ACCOUNT_SWING:
            return Change.ADD_ACCOUNT
        if accounts >= target + ACCOUNT_SWING:
            return Change.DELETE_ACCOUNT
        return self.random.choice(list(Change))

    def apply(self, change: Change, accounts: list[dict[str, Any]]) -> None:
        control, account = self.control, self.random.choice(accounts)
        cameras = [d for d in account["devices"] if d["type"] == "camera"]
        if change is Change.ADD_ACCOUNT:
            added = control.add_account(self.name("Account"))
            for _ in range(self.args.cameras):
                control.add_device(added, "camera", self.name("Camera"))
        elif change is Change.DELETE_ACCOUNT:
            control.delete_account(account["id"])
        elif change is Change.RENAME_ACCOUNT:
            control.rename_account(account["id"], self.name("Account"))
        elif change is Change.ADD_CAMERA:
            bridges = [d["id"] for d in account["devices"] if d["type"] == "bridge"]
            bridge = self.random.choice(bridges) if bridges else None
            control.add_device(account["id"], "camera", self.name("Camera"), bridge)
        elif not cameras:
            control.add_device(account["id"], "camera", self.name("Camera"))
        elif change is Change.DELETE_CAMERA:
            control.delete_device(self.random.choice(cameras)["id"])
        else:
            control.rename_device(self.random.choice(cameras)["id"], self.name("Camera"))

    # -- the end -------------------------------------------------------------------------------

    def converge(self) -> None:
        """Until /readyz is 200 and /metrics matches /_sim/state exactly, or the deadline."""
        args, result = self.args, self.result
        assert self.exporter is not None
        log(f"faults reset, churn stopped: comparing, for up to {args.converge_timeout:g} s")
        started = time.monotonic()
        deadline = started + args.converge_timeout
        state = self.control.state()  # nothing changes any more
        scraper = Scraper(HOST, self.port)
        try:
            while True:
                self.exporter.check()
                if readyz(self.port) == 200:
                    body = scraper.get(gzip=False).body.decode()
                    differences, accounts, cameras = compare(state, body)
                    result.differences = differences
                    result.compared_accounts, result.compared_cameras = accounts, cameras
                    if not differences:
                        result.converged_seconds = time.monotonic() - started
                        return
                if time.monotonic() > deadline:
                    return
                time.sleep(POLL_INTERVAL)
        finally:
            scraper.close()


# -- the report --------------------------------------------------------------------------------


def report(args: argparse.Namespace, result: Result) -> list[str]:
    lines = [
        "",
        "een-exporter soak (bench/soak.py)",
        f"  world:    {args.accounts} accounts x ({args.bridges} bridges + {args.cameras} "
        f"cameras), seed {args.seed}",
        f"  run:      {args.minutes:g} min, churn {args.churn_rate:g}/s, a change every "
        f"{args.change_interval:g} s, a fault every {args.fault_interval:g} s held "
        f"{args.fault_hold:g} s, a gzip scrape every {args.scrape_interval:g} s",
        f"  exporter: --een.device-refresh={args.device_refresh:g} "
        f"--een.stream-timeout={args.stream_timeout:g} --een.backoff-max={args.backoff_max:g}, "
        f"GLIBC_TUNABLES={args.glibc_tunables!r}",
        f"  machine:  {os.cpu_count()} cores, shared; load average (1 min) over the run "
        + load_summary(result.samples),
        f"  cold start: ready after {result.cold_start_seconds:.1f} s",
    ]
    counts: dict[str, int] = {}
    for _, fault in result.faults:
        counts[fault] = counts.get(fault, 0) + 1
    lines.append(
        f"  faults:   {len(result.faults)}: " + ", ".join(f"{k} {v}" for k, v in counts.items())
    )
    lines.append(
        f"  changes:  {sum(result.changes.values())}: "
        + ", ".join(f"{k} {v}" for k, v in sorted(result.changes.items()))
        + f"; {result.change_errors} refused"
    )
    if result.scrapes:
        ordered = sorted(result.scrapes)
        p95 = ordered[max(0, int(0.95 * len(ordered)) - 1)]
        lines.append(
            f"  scrapes:  {len(result.scrapes)} gzip, p50 {1000 * statistics.median(ordered):.0f}"
            f" ms, p95 {1000 * p95:.0f} ms, max {1000 * ordered[-1]:.0f} ms; "
            f"{len(result.scrape_failures)} failed"
        )
    lines += [
        "",
        f"drift after a {result.warmup_seconds / 60:g}-minute warm-up: mean of the last quarter "
        f"of the samples vs. the first quarter (flat = within ±{FLAT:.0%})",
        "| figure | first quarter | last quarter | drift | min / max | flat |",
        "|---|---|---|---|---|---|",
    ]
    for d in result.drifts():
        lines.append(
            f"| {d.name} | {d.first:.1f} | {d.last:.1f} | {100 * d.ratio:+.1f} % "
            f"| {d.low:.1f} / {d.high:.1f} | {'yes' if d.flat else 'NO'} |"
        )
    lines.append("")
    if result.differences:
        lines.append(
            f"final comparison: {len(result.differences)} differences after "
            f"{args.converge_timeout:g} s (first {MAX_SHOWN}):"
        )
        lines += [f"  {d}" for d in result.differences[:MAX_SHOWN]]
    else:
        lines.append(
            f"final comparison: exact match, {result.compared_accounts} accounts and "
            f"{result.compared_cameras} cameras x 4 gauges, "
            f"{result.converged_seconds:.1f} s after the faults were reset"
        )
    lines.append(f"result: {'PASS' if result.passed else 'FAIL'}")
    return lines


def load_summary(samples: list[Sample]) -> str:
    if not samples:
        return "n/a"
    loads = [s.load1 for s in samples]
    return f"mean {statistics.fmean(loads):.2f}, max {max(loads):.2f}"


# -- command line ------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--minutes", type=float, default=60.0, help="length of the soak (default 60)")
    add("--warmup", type=float, help="minutes left out of the drift (default 10 %% of the run)")
    add("--accounts", type=int, default=200, help="sub-accounts (default 200)")
    add("--cameras", type=int, default=10, help="cameras per account (default 10)")
    add("--bridges", type=int, default=1, help="bridges per account (default 1)")
    add("--seed", type=int, default=1)
    add(
        "--snapshot",
        choices=("per-camera", "batched"),
        default="per-camera",
        help="the simulator's snapshot reading (default per-camera, as EEN documents it; "
        "figures before issue 14 were measured batched)",
    )
    add("--churn-rate", type=float, default=20.0, help="status changes per second (default 20)")
    add("--change-interval", type=float, default=5.0, help="seconds between world changes")
    add("--fault-interval", type=float, default=180.0, help="seconds between faults (180)")
    add("--fault-hold", type=float, default=30.0, help="seconds until a fault is reset (30)")
    add("--http-burst", type=int, default=20, help="REST calls each 5xx/429 burst fails (20)")
    add("--scrape-interval", type=float, default=15.0, help="seconds between scrapes (15)")
    add("--sample-interval", type=float, default=30.0, help="seconds between samples (30)")
    add("--device-refresh", type=float, default=60.0, help="the exporter's, seconds (60)")
    add("--stream-timeout", type=float, default=30.0, help="the exporter's, seconds (30)")
    add("--backoff-max", type=float, default=10.0, help="the exporter's, seconds (10)")
    add(
        "--glibc-tunables",
        default=IMAGE_GLIBC_TUNABLES,
        metavar="TUNABLES",
        help=f"the exporter's GLIBC_TUNABLES (default, as in the image: {IMAGE_GLIBC_TUNABLES}; "
        "'' for glibc's defaults)",
    )
    add("--startup-timeout", type=float, default=300.0)
    add("--converge-timeout", type=float, help="seconds (default: 3 device refreshes + 60)")
    add("--json", type=Path, metavar="PATH", help="also write every sample and figure here")
    add("--keep", action="store_true", help="keep the work directory (both logs)")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.accounts < 1 or args.cameras < 1:
        parser.error("--minutes must be > 0, --accounts and --cameras >= 1")
    if args.warmup is None:
        args.warmup = args.minutes / 10
    if args.converge_timeout is None:
        args.converge_timeout = 3 * args.device_refresh + 60
    return args


def soak(args: argparse.Namespace, workdir: Path) -> Result:
    """One soak; both subprocesses are always stopped."""
    bench = Soak(args, workdir)
    try:
        return bench.run()
    finally:
        bench.stop_all()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="een-soak-"))
    try:
        with terminate_as_interrupt():
            result = soak(args, workdir)
        print("\n".join(report(args, result)), flush=True)
        if args.json:
            args.json.write_text(json.dumps(asdict(result), indent=1))
        return 0 if result.passed else 1
    except KeyboardInterrupt:
        log("interrupted; both subprocesses stopped")
        return 130
    except (BenchError, ScrapeError, SimulatorControlError, OSError) as exc:
        log(f"soak failed: {exc}")
        return 1
    finally:
        if args.keep:
            log(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
