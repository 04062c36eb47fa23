"""`een-exporter report --prometheus URL --period YYYY-MM [--format markdown|csv|html]`."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from exporter.report.availability import Period, build
from exporter.report.prometheus import PrometheusAPI, ReportError
from exporter.report.render import Format, render

PROG = "een-exporter report"


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(
        prog=PROG,
        description="Camera availability per account for a month, against each account's "
        "objective, with the longest outages, from the recorded series of "
        "rules/availability.yml (docs/availability.md).",
    )
    result.add_argument(
        "--prometheus",
        required=True,
        metavar="URL",
        help="Prometheus' base URL, e.g. http://127.0.0.1:9090",
    )
    result.add_argument(
        "--period",
        required=True,
        metavar="YYYY-MM",
        help="the month (UTC); the current month ends at the last whole hour",
    )
    result.add_argument(
        "--format",
        default=Format.MARKDOWN.value,
        choices=[f.value for f in Format],
        help="default: markdown",
    )
    result.add_argument(
        "--outages",
        type=int,
        default=5,
        metavar="N",
        help="longest outages to list per account (default 5, 0 = none)",
    )
    result.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="for each call to Prometheus (default 30)",
    )
    return result


def main(argv: Sequence[str], now: float | None = None) -> int:
    arguments = parser().parse_args(argv)
    try:
        if arguments.outages < 0 or arguments.timeout <= 0:
            raise ReportError("--outages must be 0 or more and --timeout more than 0")
        url = arguments.prometheus.strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ReportError(f"--prometheus must be an http or https URL, not {url!r}")
        period = Period.parse(arguments.period, time.time() if now is None else now)
        report = build(PrometheusAPI(url, arguments.timeout), period, arguments.outages)
    except ReportError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(render(report, Format(arguments.format)))
    return 0
