"""Every dashboard query, variables set to All, returns data from the live Prometheus."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest

from exporter.app import Exporter
from exporter.simulator.client import SimulatorControl
from tests.e2e.apis import Prometheus, finite_values
from tests.e2e.configs import INTERVAL, RATE_INTERVAL
from tests.e2e.world import sub_accounts
from tests.stack.dashboards import (
    PanelQuery,
    all_selected,
    expand,
    load_dashboards,
    panel_queries,
    variable_query,
)
from tests.support import wait_for

# The availability dashboard reads hourly and daily windows that a run of minutes cannot
# fill: tests/availability/test_month.py runs its queries on a backfilled month instead.
DASHBOARDS = {
    name: dashboard
    for name, dashboard in load_dashboards().items()
    if dashboard["uid"] != "een-availability"
}
QUERIES = [query for dashboard in DASHBOARDS.values() for query in panel_queries(dashboard)]
VARIABLES = [
    (dashboard, variable)
    for dashboard in DASHBOARDS.values()
    for variable in dashboard["templating"]["list"]
    if variable["type"] == "query"
]
# Grafana's own function for variables; Prometheus answers it with its label values API.
LABEL_VALUES = re.compile(r"label_values\((?P<match>.+),\s*(?P<label>\w+)\)")
# What the panels look back over: far longer than the run, so all of it.
TIME_RANGE_SECONDS = 3600
# A range panel is drawn from a range query; a short one ending now is enough here.
RANGE_SECONDS = 10
# rate() over $__rate_interval needs a few scrapes before it has a value.
DATA_SECONDS = 15.0


def query_id(query: PanelQuery) -> str:
    return f"{query.dashboard}/{query.panel}/{query.ref_id}"


@pytest.mark.parametrize("query", QUERIES, ids=query_id)
def test_panel_query_returns_data(scraped: Prometheus, query: PanelQuery) -> None:
    dashboard = next(d for d in DASHBOARDS.values() if d["uid"] == query.dashboard)
    expr = expand(query.expr, all_selected(dashboard), RATE_INTERVAL, f"{TIME_RANGE_SECONDS}s")

    def answer() -> list[dict[str, Any]]:
        if query.instant:
            return scraped.query(expr)
        return scraped.query_range(expr, RANGE_SECONDS, INTERVAL)

    wait_for(
        lambda: finite_values(answer()),
        timeout=DATA_SECONDS,
        interval=0.2,
        message=f"data from {expr}",
    )


@pytest.mark.parametrize(
    ("dashboard", "variable"),
    VARIABLES,
    ids=[f"{d['uid']}/{v['name']}" for d, v in VARIABLES],
)
def test_variable_query_lists_the_world(
    scraped: Prometheus,
    exporter: Exporter,
    control: SimulatorControl,
    dashboard: dict[str, Any],
    variable: dict[str, Any],
) -> None:
    call = LABEL_VALUES.fullmatch(variable_query(variable).strip())
    assert call, f"{variable['name']}: only label_values(...) variables are checked here"
    match = expand(call["match"], all_selected(dashboard))
    values = scraped.label_values(call["label"], match, TIME_RANGE_SECONDS)
    expected = {
        "job": ["een"],
        "instance": [urlsplit(exporter.url).netloc],
        "account_id": sorted(a["id"] for a in sub_accounts(control.state())),
    }
    assert values, f"{variable['name']} lists nothing: {match}"
    if call["label"] in expected:
        assert values == expected[call["label"]]
