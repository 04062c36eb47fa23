"""A month of histories with known outages, backfilled into Prometheus 2 and 3: the recorded
windows, the alerts' expressions and the report give the availability computed in Python from
the same histories (tests/availability/history.py), to the minute."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import pytest
import requests
import yaml

from exporter.report import cli
from tests.availability import backfill, history
from tests.availability.history import MINUTES, Expected, day, expected
from tests.e2e.apis import Prometheus
from tests.stack.dashboards import all_selected, expand, load_dashboards, panel_queries

pytestmark = pytest.mark.slow
TOLERANCE = 1e-9
# Counted and available camera-minutes of each window, as docs/availability.md defines them.
KINDS = ("counted", "available")


def instant(prometheus: Prometheus, expr: str, at: int) -> dict[str, float]:
    """An instant query at `at`, by account_id."""
    response = requests.get(
        f"{prometheus.url}/api/v1/query", params={"query": expr, "time": str(at)}, timeout=10
    )
    body = response.json()
    assert body["status"] == "success", body
    return {s["metric"]["account_id"]: float(s["value"][1]) for s in body["data"]["result"]}


def minutes(found: dict[str, Expected], kind: str) -> dict[str, float]:
    return {
        account_id: float(e.counted if kind == "counted" else e.counted - e.down)
        for account_id, e in found.items()
        if e.counted
    }


def window(at_minute: int, window_minutes: int) -> dict[str, Expected]:
    return expected(max(0, at_minute - window_minutes + 1), at_minute)


# (window, evaluated at minute, the minutes it covers): rolling windows end at the minute,
# 1d at the last whole hour, 7d and 30d at the last midnight.
AT = day(20, 15, 37)
WINDOWS = [
    ("30d", MINUTES, (1, MINUTES)),
    ("7d", MINUTES, (MINUTES - 7 * 1440 + 1, MINUTES)),
    ("1d", MINUTES, (MINUTES - 1440 + 1, MINUTES)),
    ("6h", MINUTES, (MINUTES - 359, MINUTES)),
    ("1h", MINUTES, (MINUTES - 59, MINUTES)),
    ("30d", AT, (0, day(20))),  # 20 days so far: the tiles at midnight, minute 0 included
    ("7d", AT, (day(13) + 1, day(20))),
    ("1d", AT, (day(19, 15) + 1, day(20, 15))),
    ("6h", AT, (AT - 359, AT)),
    ("1h", AT, (AT - 59, AT)),
    ("30m", AT, (AT - 29, AT)),
    ("5m", AT, (AT - 4, AT)),
    ("1h", day(20, 3, 50), (day(20, 2, 51), day(20, 3, 50))),  # across the exporter's outage
    ("1h", day(14, 7, 0), (day(14, 6, 1), day(14, 7, 0))),  # Dock down
]


@pytest.mark.parametrize(
    ("name", "at_minute", "covers"), WINDOWS, ids=[f"{w[0]}@{w[1]}" for w in WINDOWS]
)
def test_recorded_windows_count_the_minutes_of_the_histories(
    month: Prometheus, name: str, at_minute: int, covers: tuple[int, int]
) -> None:
    truth = expected(*covers)
    at = history.at(at_minute)
    for kind in KINDS:
        got = instant(month, f"account:een_camera_status:{kind}_minutes_{name}", at)
        assert got == minutes(truth, kind), kind
    ratios = instant(month, f"account:een_camera_status:availability_{name}", at)
    assert ratios.keys() == {a for a, e in truth.items() if e.counted}
    for account_id, ratio in ratios.items():
        assert ratio == pytest.approx(truth[account_id].availability, abs=TOLERANCE)


def test_error_budget_left_at_the_end_of_the_month(month: Prometheus) -> None:
    truth = expected()
    got = instant(month, "account:een_camera_status:error_budget_remaining_30d", history.END)
    assert got == pytest.approx({a: e.budget_left for a, e in truth.items()}, abs=TOLERANCE)
    objectives = instant(month, "account:een_camera_status:objective", history.END)
    assert objectives == {a: e.objective for a, e in truth.items()}


def alert_expressions() -> dict[str, tuple[str, str, str, float]]:
    """Each burn-rate alert: its expression, its two windows and its threshold."""
    rules = yaml.safe_load(backfill.RULES.read_text())["groups"]
    exprs = {r["alert"]: r["expr"] for g in rules for r in g["rules"] if "alert" in r}
    return {
        "EenAvailabilityBudgetBurnFast": (exprs["EenAvailabilityBudgetBurnFast"], "1h", "5m", 14.4),
        "EenAvailabilityBudgetBurnSlow": (exprs["EenAvailabilityBudgetBurnSlow"], "6h", "30m", 6),
    }


WINDOW_MINUTES = {"5m": 5, "30m": 30, "1h": 60, "6h": 360}


def alert_times() -> list[int]:
    """Minutes around every outage and excluded stretch of the histories."""
    spans = [span for a in history.ACCOUNTS for c in a.cameras for span in c.down]
    spans += [span for a in history.ACCOUNTS for span in a.stream_down]
    spans += [span for e in history.EXPORTERS for span in e.down]
    found: set[int] = set()
    for first, last in spans:
        found.update(first + m for m in (0, 4, 9, 14, 30, 61, 200))
        found.update(last + m for m in (1, 3, 6, 25, 31, 59, 61, 300))
    return sorted(m for m in found if 360 <= m <= MINUTES)


@pytest.mark.parametrize("alertname", sorted(alert_expressions()))
def test_alert_expressions_fire_on_the_burn_rates_of_the_histories(
    month: Prometheus, alertname: str
) -> None:
    """The expression (not `for:`, which needs a live Prometheus) matches exactly the accounts
    whose burn rate passes the threshold over both windows, with the long window's rate."""
    expr, long, short, threshold = alert_expressions()[alertname]
    checked = 0
    fired = 0
    for minute in alert_times():
        burn: dict[str, dict[str, float]] = {}
        for name in (long, short):
            for account_id, e in window(minute, WINDOW_MINUTES[name]).items():
                if e.counted:
                    burn.setdefault(account_id, {})[name] = e.down / e.counted / (1 - e.objective)
        want = {
            account_id: rates[long]
            for account_id, rates in burn.items()
            if len(rates) == 2 and min(rates.values()) > threshold
        }
        got = instant(month, expr, history.at(minute))
        assert got == pytest.approx(want, abs=TOLERANCE), f"minute {minute}"
        checked += 1
        fired += bool(want)
    assert fired >= 5, "the histories must make the alert fire"
    assert checked - fired >= 5, "and keep it quiet too"


def run_report(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str, str]:
    code = cli.main(["--prometheus", url, *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_report_gives_the_availability_and_the_longest_outages_of_the_month(
    month: Prometheus, capsys: pytest.CaptureFixture[str], record_property: Any
) -> None:
    started = time.monotonic()
    code, out, err = run_report(capsys, month.url, "--period", history.PERIOD, "--format", "csv")
    seconds = time.monotonic() - started
    record_property("report_seconds", seconds)
    print(f"report for {history.PERIOD}: {seconds:.2f} s")
    assert (code, err) == (0, "")
    rows = list(csv.DictReader(io.StringIO(out)))
    truth = expected()
    accounts = {r["account_id"]: r for r in rows if r["row"] == "account"}
    assert accounts.keys() == truth.keys()
    for account_id, e in truth.items():
        row = accounts[account_id]
        assert row["account_name"] == e.account.name
        assert int(row["minutes_counted"]) == e.counted
        assert int(row["minutes_down"]) == e.down
        assert float(row["availability"]) == pytest.approx(e.availability, abs=1e-6)
        assert float(row["objective"]) == e.objective
        assert float(row["budget_left"]) == pytest.approx(e.budget_left, abs=1e-4)
    for account_id, e in truth.items():
        longest = sorted(e.outages, key=lambda o: (-o.minutes, o.start, o.camera_id))[:5]
        want = [
            (o.camera_id, o.camera_name, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(o.start)),
             time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(o.end)), str(o.minutes))
            for o in longest
        ]  # fmt: skip
        got = [
            (r["camera_id"], r["camera_name"], r["start"], r["end"], r["minutes"])
            for r in rows
            if r["row"] == "outage" and r["account_id"] == account_id
        ]
        assert got == want, account_id


@pytest.mark.parametrize("output", ["markdown", "html"])
def test_report_formats_name_every_account(
    month: Prometheus, capsys: pytest.CaptureFixture[str], output: str
) -> None:
    code, out, _ = run_report(capsys, month.url, "--period", history.PERIOD, "--format", output)
    assert code == 0
    for account in history.ACCOUNTS:
        assert f"{account.name} ({account.id})" in out
    assert "Dock (100a0004)" in out


def test_report_says_when_the_period_holds_no_data(
    month: Prometheus, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_report(capsys, month.url, "--period", "2026-09")
    assert (code, out) == (1, "")
    assert err.startswith("een-exporter report: error: no availability data in Prometheus")
    assert "2026-09" in err
    assert err.count("\n") == 1


# --- the availability dashboard on the month ----------------------------------------------

DASHBOARD = next(d for d in load_dashboards().values() if d["uid"] == "een-availability")
MONTH_RANGE = f"{history.END - history.START}s"


def panel_query(panel: str, ref_id: str = "A") -> str:
    (found,) = [q for q in panel_queries(DASHBOARD) if (q.panel, q.ref_id) == (panel, ref_id)]
    return expand(found.expr, all_selected(DASHBOARD), time_range=MONTH_RANGE)


def test_dashboard_table_gives_each_accounts_month(month: Prometheus) -> None:
    """The dashboard set to the month (its time range ending at the month's end)."""
    truth = expected()
    columns = {
        "A": {a: e.availability for a, e in truth.items()},
        "B": {a: e.objective for a, e in truth.items()},
        "C": {a: e.budget_left for a, e in truth.items()},
        "D": {a: float(e.down) for a, e in truth.items()},
        "E": {a: float(e.counted) for a, e in truth.items()},
    }
    for ref_id, want in columns.items():
        got = instant(month, panel_query("Availability per account", ref_id), history.END)
        assert got == pytest.approx(want, abs=TOLERANCE), ref_id
    names = instant(month, panel_query("Availability per account", "F"), history.END)
    assert names.keys() == truth.keys()


def test_dashboard_worst_cameras_are_those_down_longest(month: Prometheus) -> None:
    truth = expected()
    down: dict[str, int] = {}
    for e in truth.values():
        for outage in e.outages:
            down[outage.camera_id] = down.get(outage.camera_id, 0) + outage.minutes
    response = requests.get(
        f"{month.url}/api/v1/query",
        params={"query": panel_query("Worst cameras"), "time": str(history.END)},
        timeout=10,
    )
    result = response.json()["data"]["result"]
    got = {s["metric"]["camera_id"]: float(s["value"][1]) for s in result}
    assert got == {camera: float(m) for camera, m in down.items()}  # 10 cameras or fewer
    names = {c.id: c.name for a in history.ACCOUNTS for c in a.cameras}
    removed = {c.id for a in history.ACCOUNTS for c in a.cameras if c.removed is not None}
    for series in result:
        camera = series["metric"]["camera_id"]
        assert series["metric"].get("name") == (None if camera in removed else names[camera])


def test_dashboard_budget_burn_down_ends_at_the_months_budget(month: Prometheus) -> None:
    truth = expected()
    got = instant(month, panel_query("Error budget left (30 days)"), history.END)
    assert got == pytest.approx({a: e.budget_left for a, e in truth.items()}, abs=TOLERANCE)
    at = day(14, 7, 0)  # Dock down since 06:01
    e = window(at, 60)
    got = instant(month, panel_query("Burn rate (1 h)"), history.at(at))
    assert got == pytest.approx(
        {a: x.down / x.counted / (1 - x.objective) for a, x in e.items() if x.counted},
        abs=TOLERANCE,
    )
