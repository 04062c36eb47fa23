"""What the poll-stream events cost (issue 21): the default EEN_EVENTS against EEN_EVENTS=none,
side by side, on one simulator in one run.

One simulator (`--accounts` x `--cameras`, stream statistics every `--stream-stats-seconds` per
streaming camera, as een-sim does by default) serves two exporters at once: the default event
selection and `none`. Both are waited for until every stream is up, then left to settle for
one statistics period and `--settle` s (every streaming camera has reported once: the default
exporter's cameras have taken their places by phase, see exporter/state/counters.py), scraped
with gzip every 15 s meanwhile (the slowest of those is reported too); then,
for each scrape interval (Prometheus' default 15 s, then 5 s and 2 s), they are scraped with
gzip (what Prometheus asks for), then identity, every interval for `--seconds` (at least four
scrapes), each scrape of one right after the same scrape of the other, so that a shared
machine's load weighs on both alike; then both are left alone for `--seconds` (CPU with no
scrapes). Reported: series, body sizes, median scrape times, peak RSS (VmHWM), idle CPU, and
the ratios of the two.

    .venv/bin/python bench/events_cost.py                      # 1,000 x 50, ~25 min
    .venv/bin/python bench/events_cost.py --accounts 200       # ~12 min

See docs/performance.md ("Events at the cost of what changed").
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import procstat  # noqa: E402
from bench.exporter_scale import (  # noqa: E402
    HOST,
    PASSWORD,
    USERNAME,
    BenchError,
    Child,
    count_series,
    free_port,
    log,
    readyz,
    start_child,
)
from bench.scrape import Scraper, family_sums  # noqa: E402


@dataclass
class Run:
    events: str
    series: int = 0
    identity_bytes: int = 0
    gzip_bytes: int = 0
    ready_seconds: float = 0.0
    identity: dict[str, float] = field(default_factory=dict)  # interval -> median seconds
    gzip: dict[str, float] = field(default_factory=dict)
    settling: list[float] = field(default_factory=list)  # gzip scrapes while settling, seconds
    peak_rss: int = 0
    idle_cpu: float = 0.0  # cores, with no scrapes


@dataclass
class Exporter:
    child: Child
    port: int
    run: Run


def start_exporter(workdir: Path, sim_url: str, run: Run, tunables: str) -> Exporter:
    port = free_port()
    env_file = workdir / "empty.env"
    env_file.write_text("")
    child = start_child(
        workdir,
        f"exporter-{run.events}",
        [
            "-m",
            "exporter",
            f"--env-file={env_file}",
            f"--web.listen-address={HOST}:{port}",
            "--log.level=warning",
            *([f"--een.events={run.events}"] if run.events != "default" else []),
        ],
        {"EEN_URL": sim_url, "EEN_USERNAME": USERNAME, "EEN_PASSWORD": PASSWORD}
        | ({"GLIBC_TUNABLES": tunables} if tunables else {}),
    )
    return Exporter(child, port, run)


def wait_until_streaming(args: argparse.Namespace, exporter: Exporter, started: float) -> None:
    child, port, run = exporter.child, exporter.port, exporter.run
    while readyz(port) != 200:
        child.check()
        if time.monotonic() - started > args.timeout:
            raise BenchError(f"exporter {run.events} not ready in time")
        time.sleep(0.5)
    scraper = Scraper(HOST, port)
    while family_sums(scraper.get(True), ("een_stream_up",))["een_stream_up"] < args.accounts:
        child.check()
        if time.monotonic() - started > args.timeout:
            raise BenchError(f"exporter {run.events}: not every stream up in time")
        time.sleep(1.0)
    scraper.close()
    run.ready_seconds = time.monotonic() - started
    log(f"  {run.events}: every stream up after {run.ready_seconds:.0f} s")


def measure(args: argparse.Namespace, sim_url: str, workdir: Path) -> tuple[Run, Run]:
    """Both exporters at once, each scrape of one followed by the same scrape of the other:
    the machine's load (other work on a shared host) weighs on both alike."""
    runs = (Run("default"), Run("none"))
    started = time.monotonic()
    exporters = [start_exporter(workdir, sim_url, run, args.glibc_tunables) for run in runs]
    try:
        for exporter in exporters:
            wait_until_streaming(args, exporter, started)
        scrapers = [Scraper(HOST, exporter.port) for exporter in exporters]
        settle = args.stream_stats_seconds + args.settle
        log(f"  settling {settle:g} s (a statistics period and {args.settle:g} s), gzip every 15 s")
        scrape_for(scrapers, runs, settle, 15.0, lambda run: run.settling)
        for scraper, run in zip(scrapers, runs, strict=True):
            identity = scraper.get(False)
            run.series = count_series(identity.body)
            run.identity_bytes = len(identity.body)
            run.gzip_bytes = len(scraper.get(True).body)
            del identity
        for interval in args.intervals:
            # As Prometheus would: one kind of scrape every `interval`, for long enough to see
            # a few (gzip, then identity, so each sees one interval's changes).
            duration = max(args.seconds, 4 * interval)
            key = f"{interval:g}"
            for gzip in (True, False):
                times = scrape_for(scrapers, runs, duration, interval, lambda run: [], gzip)
                for run, seconds in zip(runs, times, strict=True):
                    (run.gzip if gzip else run.identity)[key] = statistics.median(seconds)
            log(
                f"  every {key} s: identity {runs[0].identity[key] * 1e3:.0f} / "
                f"{runs[1].identity[key] * 1e3:.0f} ms, gzip {runs[0].gzip[key] * 1e3:.0f} / "
                f"{runs[1].gzip[key] * 1e3:.0f} ms (default / none, {len(times[0])} of each)"
            )
        for scraper in scrapers:
            scraper.close()
        cpu = [procstat.cpu_seconds(exporter.child.pid) for exporter in exporters]
        quiet_started = time.monotonic()
        time.sleep(args.seconds)
        quiet = time.monotonic() - quiet_started
        for exporter, before in zip(exporters, cpu, strict=True):
            pid = exporter.child.pid
            exporter.run.idle_cpu = (procstat.cpu_seconds(pid) - before) / quiet
            exporter.run.peak_rss = procstat.memory(pid).peak_rss
            exporter.child.check()
    finally:
        for exporter in exporters:
            exporter.child.stop()
    return runs


def scrape_for(
    scrapers: list[Scraper],
    runs: tuple[Run, Run],
    duration: float,
    interval: float,
    into: Callable[[Run], list[float]],
    gzip: bool = True,
) -> list[list[float]]:
    """Scrape both every `interval` for `duration`, one right after the other; the seconds
    each scrape took, per run (appended to `into(run)` too)."""
    times: list[list[float]] = [into(run) for run in runs]
    end = time.monotonic() + duration
    while time.monotonic() < end:
        before = time.monotonic()
        for scraper, seconds in zip(scrapers, times, strict=True):
            seconds.append(scraper.get(gzip).seconds)
        time.sleep(max(0.0, interval - (time.monotonic() - before)))
    return times


def report(args: argparse.Namespace, default: Run, none: Run) -> list[str]:
    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}x" if b else "-"

    rows = [
        ("series", f"{default.series:,}", f"{none.series:,}", ratio(default.series, none.series)),
        (
            "body, identity",
            f"{default.identity_bytes / 1e6:.1f} MB",
            f"{none.identity_bytes / 1e6:.1f} MB",
            ratio(default.identity_bytes, none.identity_bytes),
        ),
        (
            "body, gzip",
            f"{default.gzip_bytes / 1e6:.2f} MB",
            f"{none.gzip_bytes / 1e6:.2f} MB",
            ratio(default.gzip_bytes, none.gzip_bytes),
        ),
    ]
    rows.append(
        (
            "/metrics gzip while settling (every 15 s), the slowest",
            f"{max(default.settling) * 1e3:.0f} ms",
            f"{max(none.settling) * 1e3:.0f} ms",
            ratio(max(default.settling), max(none.settling)),
        )
    )
    for interval in args.intervals:
        key = f"{interval:g}"
        for kind, a, b in (
            ("identity", default.identity[key], none.identity[key]),
            ("gzip", default.gzip[key], none.gzip[key]),
        ):
            rows.append(
                (
                    f"/metrics {kind}, median, scraped every {key} s",
                    f"{a * 1e3:.0f} ms",
                    f"{b * 1e3:.0f} ms",
                    ratio(a, b),
                )
            )
    rows.append(
        (
            "peak RSS",
            f"{default.peak_rss / 1e6:.0f} MB",
            f"{none.peak_rss / 1e6:.0f} MB",
            ratio(default.peak_rss, none.peak_rss),
        )
    )
    rows.append(
        (
            "CPU with no scrapes",
            f"{default.idle_cpu:.3f} core",
            f"{none.idle_cpu:.3f} core",
            ratio(default.idle_cpu, none.idle_cpu),
        )
    )
    lines = [
        f"{args.accounts:,} accounts x {args.cameras} cameras, stream statistics every "
        f"{args.stream_stats_seconds:g} s per streaming camera; "
        f"GLIBC_TUNABLES={args.glibc_tunables or '(unset)'}; load average before: {args.load}",
        "| | EEN_EVENTS default | EEN_EVENTS=none | ratio |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--cameras", type=int, default=50)
    parser.add_argument("--bridges", type=int, default=2)
    parser.add_argument("--stream-stats-seconds", type=float, default=60.0)
    parser.add_argument(
        "--intervals", type=float, nargs="+", default=[15.0, 5.0, 2.0], help="scrape intervals"
    )
    parser.add_argument(
        "--seconds", type=float, default=60.0, help="per interval and kind, and idle"
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=20.0,
        help="seconds after every stream is up and one statistics period, before measuring "
        "(every streaming camera has reported once)",
    )
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument(
        "--glibc-tunables",
        default="",
        metavar="TUNABLES",
        help="both exporters' GLIBC_TUNABLES (default: none, glibc's defaults; the image's: "
        "glibc.malloc.tcache_count=0)",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    with open("/proc/loadavg") as loadavg:
        args.load = " ".join(loadavg.read().split()[:3])
    with tempfile.TemporaryDirectory(prefix="events-cost-") as tmp:
        workdir = Path(tmp)
        sim: Child = start_child(
            workdir,
            "simulator",
            [
                "-m",
                "exporter.simulator.cli",
                f"--listen={HOST}:0",
                f"--accounts={args.accounts}",
                f"--bridges={args.bridges}",
                f"--cameras={args.cameras}",
                f"--stream-stats-seconds={args.stream_stats_seconds}",
                "--thumbnail-seconds=0",
                f"--username={USERNAME}",
                f"--password={PASSWORD}",
            ],
        )
        try:
            sim_url = sim.read_line("een-sim listening on ").rsplit(" ", 1)[1]
            log(f"simulator: {args.accounts} x {args.cameras} at {sim_url}")
            default, none = measure(args, sim_url, workdir)
        finally:
            sim.stop()
    lines = report(args, default, none)
    print("\n".join(lines))
    if args.json:
        args.json.write_text(
            json.dumps({"default": asdict(default), "none": asdict(none), "table": lines})
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
