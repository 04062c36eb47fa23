"""The shipped Grafana dashboards and their queries, ready to run against a Prometheus."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tests.stack.tools import REPO

DASHBOARD_DIR = REPO / "grafana" / "dashboards"
# What a variable set to All means in a query: every value.
ALL = ".+"


@dataclass(frozen=True)
class PanelQuery:
    """One target of one panel."""

    dashboard: str
    panel: str
    ref_id: str
    expr: str
    instant: bool


def load_dashboards() -> dict[str, dict[str, Any]]:
    """Every dashboard JSON file by file name."""
    return {
        path.name: json.loads(path.read_text()) for path in sorted(DASHBOARD_DIR.glob("*.json"))
    }


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel that shows data (rows are layout, their collapsed panels are included)."""
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def panel_queries(dashboard: Mapping[str, Any]) -> list[PanelQuery]:
    return [
        PanelQuery(
            dashboard=dashboard["uid"],
            panel=panel["title"],
            ref_id=target["refId"],
            expr=target["expr"],
            instant=bool(target.get("instant")),
        )
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]


def variable_query(variable: Mapping[str, Any]) -> str:
    """The PromQL of a query variable (Grafana stores a string or an object)."""
    query = variable["query"]
    return str(query["query"] if isinstance(query, dict) else query)


def all_selected(dashboard: Mapping[str, Any]) -> dict[str, str]:
    """Every dashboard variable set to All."""
    return {variable["name"]: ALL for variable in dashboard["templating"]["list"]}


def expand(
    expr: str,
    values: Mapping[str, str],
    rate_interval: str = "1m",
    time_range: str = "1h",
) -> str:
    """Substitute variables the way Grafana does before it sends a query.

    `values` maps dashboard variable names to regexes (queries match them with `=~`), e.g.
    `all_selected(dashboard)`; anything else that looks like a variable (`$1` in
    label_replace) is left alone, as Grafana leaves it.
    """
    known = {"__rate_interval": rate_interval, "__range": time_range, "__interval": "15s"}
    known.update(values)

    def replace(match: re.Match[str]) -> str:
        return known.get(match.group(1) or match.group(2), match.group(0))

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", replace, expr)
