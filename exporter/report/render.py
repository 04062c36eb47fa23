"""The report as Markdown (the default), CSV or HTML."""

from __future__ import annotations

import csv
import enum
import html
import io
from datetime import UTC, datetime

from exporter.report.availability import Account, Outage, Report

NOTE = (
    "Cameras switched off, and time with the exporter or an account's stream down, are not "
    "counted (docs/availability.md)."
)


class Format(enum.Enum):
    MARKDOWN = "markdown"
    CSV = "csv"
    HTML = "html"


def render(report: Report, output: Format) -> str:
    if output is Format.CSV:
        return _csv(report)
    if output is Format.HTML:
        return _html(report)
    return _markdown(report)


def _time(stamp: int) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M")


def _percent(ratio: float, digits: int) -> str:
    return f"{ratio * 100:.{digits}f} %"


def _account(account: Account) -> str:
    return f"{account.name} ({account.account_id})" if account.name else account.account_id


def _camera(outage: Outage) -> str:
    return f"{outage.camera_name} ({outage.camera_id})" if outage.camera_name else outage.camera_id


def _rows(report: Report) -> tuple[list[list[str]], list[list[str]]]:
    accounts = [
        [
            _account(a),
            _percent(a.availability, 3),
            _percent(a.objective, 3),
            _percent(a.budget_left, 1),
            f"{a.down:,.0f}",
            f"{a.counted:,.0f}",
        ]
        for a in report.accounts
    ]
    outages = [
        [_account(a), _camera(o), _time(o.start), _time(o.end), f"{o.minutes:,}"]
        for a in report.accounts
        for o in a.outages
    ]
    return accounts, outages


ACCOUNT_HEADER = [
    "Account",
    "Availability",
    "Objective",
    "Budget left",
    "Minutes down",
    "Minutes counted",
]
OUTAGE_HEADER = ["Account", "Camera", "Start (UTC)", "End (UTC)", "Minutes"]


def _markdown(report: Report) -> str:
    accounts, outages = _rows(report)
    period = report.period
    lines = [
        f"# Camera availability, {period.name}",
        "",
        f"{_time(period.start)} to {_time(period.end)} UTC, in camera-minutes. {NOTE}",
        "",
        *_markdown_table(ACCOUNT_HEADER, accounts, right=range(1, 6)),
        "",
        "## Longest outages",
        "",
        *(
            _markdown_table(OUTAGE_HEADER, outages, right=range(4, 5))
            if outages
            else ["None: no camera counted in the period was down."]
        ),
    ]
    return "\n".join(lines) + "\n"


def _markdown_table(header: list[str], rows: list[list[str]], right: range) -> list[str]:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    rule = ["---:" if i in right else "---" for i in range(len(header))]
    return ["| " + " | ".join(cell(c) for c in row) + " |" for row in [header, rule, *rows]]


def _csv(report: Report) -> str:
    """One table: a row per account, then a row per outage (`row` says which)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "row",
            "period",
            "job",
            "account_id",
            "account_name",
            "availability",
            "objective",
            "budget_left",
            "minutes_down",
            "minutes_counted",
            "camera_id",
            "camera_name",
            "start",
            "end",
            "minutes",
        ]
    )
    name = report.period.name
    for a in report.accounts:
        writer.writerow(
            [
                "account",
                name,
                a.job,
                a.account_id,
                a.name,
                f"{a.availability:.6f}",
                f"{a.objective:g}",
                f"{a.budget_left:.4f}",
                f"{a.down:.0f}",
                f"{a.counted:.0f}",
                "",
                "",
                "",
                "",
                "",
            ]
        )
    for a in report.accounts:
        for o in a.outages:
            writer.writerow(
                [
                    "outage",
                    name,
                    a.job,
                    a.account_id,
                    a.name,
                    "",
                    "",
                    "",
                    "",
                    "",
                    o.camera_id,
                    o.camera_name,
                    _iso(o.start),
                    _iso(o.end),
                    o.minutes,
                ]
            )
    return out.getvalue()


def _iso(stamp: int) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _html(report: Report) -> str:
    accounts, outages = _rows(report)
    period = report.period

    def table(header: list[str], rows: list[list[str]]) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>\n" for row in rows
        )
        return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>"

    title = html.escape(f"Camera availability, {period.name}")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8">'
        f"<title>{title}</title>\n"
        "<style>table{border-collapse:collapse}th,td{border:1px solid #999;padding:2px 6px}"
        "td:not(:first-child){text-align:right}</style></head>\n<body>\n"
        f"<h1>{title}</h1>\n<p>{html.escape(_time(period.start))} to "
        f"{html.escape(_time(period.end))} UTC, in camera-minutes. {html.escape(NOTE)}</p>\n"
        f"{table(ACCOUNT_HEADER, accounts)}\n<h2>Longest outages</h2>\n"
        + (table(OUTAGE_HEADER, outages) if outages else "<p>None.</p>")
        + "\n</body>\n</html>\n"
    )
