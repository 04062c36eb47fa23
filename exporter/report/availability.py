"""Availability per account for a period, and the longest outages, from the recorded series.

Everything is added up from whole-hour values of the 1 h windows (docs/availability.md,
*Windows*): at each whole hour of the period the 1 h value recorded in the minute before it,
so the hours tile the period exactly, to the minute. The outages are found in two steps: the
hours in which a camera was down (its `down_minutes_1h`), then, in the longest stretches of
such hours first, the camera's minute-by-minute series; a stretch is read only while it could
still hold one of the longest outages.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from exporter.report.prometheus import PrometheusAPI, ReportError

HOUR = 3600
MINUTE = 60
RULE = "account:een_camera_status:counted_minutes_1h"
ACCOUNT_SERIES = (
    "sum by (job, account_id) (last_over_time(account:een_camera_status:{}_1h[59s999ms]))"
)
OBJECTIVE = (
    "max by (job, account_id) (last_over_time(account:een_camera_status:objective[59s999ms]))"
)
DOWN_HOURS = "last_over_time(camera:een_camera_status:down_minutes_1h[59s999ms]) > 0"
CAMERA_MINUTES = (
    "min by (job, account_id, camera_id) (last_over_time("
    'camera:een_camera_status:available{{job="{}",account_id="{}",camera_id="{}"}}[59s999ms]))'
)
PERIOD = re.compile(r"(\d{4})-(\d{2})")

AccountKey = tuple[str, str]  # job, account_id


@dataclass(frozen=True)
class Period:
    name: str
    start: int  # unix seconds, whole hours (UTC)
    end: int

    @staticmethod
    def parse(text: str, now: float) -> Period:
        """A month, YYYY-MM (UTC); a month still going on ends at the last whole hour.

        >>> p = Period.parse("2026-11", now=1.9e9)
        >>> datetime.fromtimestamp(p.end, UTC).isoformat()
        '2026-12-01T00:00:00+00:00'
        """
        match = PERIOD.fullmatch(text.strip())
        if not match or not 1 <= int(match[2]) <= 12:
            raise ReportError(f"period {text!r} is not a month written YYYY-MM, e.g. 2026-11")
        year, month = int(match[1]), int(match[2])
        start = calendar.timegm((year, month, 1, 0, 0, 0))
        next_year, next_month = (year + 1, 1) if month == 12 else (year, month + 1)
        end = min(calendar.timegm((next_year, next_month, 1, 0, 0, 0)), int(now) // HOUR * HOUR)
        if end <= start:
            raise ReportError(f"period {text} has no whole hour before now")
        return Period(text.strip(), start, end)


@dataclass(frozen=True)
class Outage:
    job: str
    account_id: str
    camera_id: str
    start: int  # the first minute down (unix seconds)
    end: int  # the first minute after it
    camera_name: str = ""

    @property
    def minutes(self) -> int:
        return (self.end - self.start) // MINUTE


@dataclass
class Account:
    job: str
    account_id: str
    name: str
    counted: float  # camera-minutes counted in the period
    available: float
    objective: float
    outages: list[Outage] = field(default_factory=list)

    @property
    def down(self) -> float:
        return self.counted - self.available

    @property
    def availability(self) -> float:
        return self.available / self.counted

    @property
    def budget_left(self) -> float:
        """Share of the period's error budget left (negative: overspent)."""
        return 1 - self.down / (self.counted * (1 - self.objective))


@dataclass(frozen=True)
class Report:
    period: Period
    accounts: list[Account]


def _hourly_sums(api: PrometheusAPI, expr: str, period: Period) -> dict[AccountKey, float]:
    found = api.query_range(expr, period.start + HOUR, period.end, HOUR)
    return {
        (labels.get("job", ""), labels["account_id"]): sum(v for _, v in points)
        for labels, points in found
    }


def build(api: PrometheusAPI, period: Period, outages: int = 5) -> Report:
    counted = _hourly_sums(api, ACCOUNT_SERIES.format("counted_minutes"), period)
    if not counted:
        rules = api.recording_rules()
        if not rules or RULE not in rules:
            raise ReportError(
                f"Prometheus at {api.url} has no availability data and no recording rule "
                f"{RULE}: load rules/availability.yml (docs/availability.md)"
            )
        raise ReportError(
            f"no availability data in Prometheus at {api.url} for {period.name} "
            f"({_iso(period.start)} to {_iso(period.end)} UTC): nothing was counted then"
        )
    available = _hourly_sums(api, ACCOUNT_SERIES.format("available_minutes"), period)
    objectives = {
        (labels.get("job", ""), labels["account_id"]): points[-1][1]
        for labels, points in api.query_range(OBJECTIVE, period.start + HOUR, period.end, HOUR)
    }
    names = _names(api, "een_account_info", period, {})
    accounts = [
        Account(
            job,
            account_id,
            names.get((job, account_id, ""), ""),
            minutes,
            available.get((job, account_id), 0.0),
            objectives.get((job, account_id), 0.995),
        )
        for (job, account_id), minutes in sorted(counted.items())
        if minutes > 0
    ]
    if outages > 0:
        _find_outages(api, period, accounts, outages)
    accounts.sort(key=lambda a: (a.name or a.account_id, a.account_id, a.job))
    return Report(period, accounts)


def _names(
    api: PrometheusAPI, metric: str, period: Period, match: dict[str, str]
) -> dict[tuple[str, str, str], str]:
    """The `name` label of an _info metric, by (job, account_id, camera_id or "")."""
    selector = ",".join(f'{label}=~"{_string(value)}"' for label, value in match.items())
    selector = selector or 'job=~".+"'
    found = api.series(f"{metric}{{{selector}}}", period.start, period.end)
    return {
        (s.get("job", ""), s.get("account_id", ""), s.get("camera_id", "")): s.get("name", "")
        for s in sorted(found, key=lambda s: s.get("name", ""))
    }


def _find_outages(api: PrometheusAPI, period: Period, accounts: list[Account], keep: int) -> None:
    """The `keep` longest outages of each account, longest first."""
    by_account = {(a.job, a.account_id): a for a in accounts}
    stretches: dict[AccountKey, list[tuple[float, str, int, int]]] = {}
    for labels, points in api.query_range(DOWN_HOURS, period.start + HOUR, period.end, HOUR):
        key = (labels.get("job", ""), labels["account_id"])
        if key not in by_account:
            continue
        hours = sorted(dict(points).items())
        run: list[tuple[int, float]] = []
        for stamp, value in [*hours, (-1, 0.0)]:
            if run and stamp != run[-1][0] + HOUR:
                bound = sum(v for _, v in run)
                stretches.setdefault(key, []).append(
                    (bound, labels["camera_id"], run[0][0] - HOUR, run[-1][0])
                )
                run = []
            if stamp >= 0:
                run.append((stamp, value))
    for key, found in stretches.items():
        account = by_account[key]
        longest: list[Outage] = []
        for bound, camera_id, first, last in sorted(found, key=lambda s: (-s[0], s[2], s[1])):
            if len(longest) >= keep and bound <= longest[keep - 1].minutes:
                break
            longest.extend(_outages_in(api, account, camera_id, first, last))
            longest.sort(key=lambda o: (-o.minutes, o.start, o.camera_id))
        account.outages = longest[:keep]
    _name_cameras(api, period, accounts)


def _outages_in(
    api: PrometheusAPI, account: Account, camera_id: str, first: int, last: int
) -> list[Outage]:
    """Runs of minutes down of one camera in (first, last]; a minute not counted ends one."""
    expr = CAMERA_MINUTES.format(
        _string(account.job), _string(account.account_id), _string(camera_id)
    )
    minutes: dict[int, float] = {}
    for _, points in api.query_range(expr, first + MINUTE, last, MINUTE):
        minutes.update(points)
    found: list[Outage] = []
    start: int | None = None
    for stamp in range(first + MINUTE, last + 2 * MINUTE, MINUTE):
        down = minutes.get(stamp) == 0.0
        if down and start is None:
            start = stamp
        elif not down and start is not None:
            found.append(Outage(account.job, account.account_id, camera_id, start, stamp))
            start = None
    return found


def _name_cameras(api: PrometheusAPI, period: Period, accounts: list[Account]) -> None:
    for account in accounts:
        if not account.outages:
            continue
        ids = "|".join(sorted({re.escape(o.camera_id) for o in account.outages}))
        match = {"job": re.escape(account.job), "account_id": re.escape(account.account_id)}
        names = _names(api, "een_camera_info", period, {**match, "camera_id": ids})
        account.outages = [
            Outage(
                o.job,
                o.account_id,
                o.camera_id,
                o.start,
                o.end,
                names.get((o.job, o.account_id, o.camera_id), ""),
            )
            for o in account.outages
        ]


def _string(value: str) -> str:
    """`value` inside a PromQL double-quoted string."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _iso(stamp: int) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M")
