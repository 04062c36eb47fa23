"""Grafana dashboards and provisioning: the conventions of exporter-practice.md §4.

The rule names in the test names are grafana/dashboard-linter's; their checks are
reimplemented here over the JSON. Every query's PromQL is also parsed by promtool.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.stack import promql
from tests.stack.contract import ACCOUNT_METRICS, METRICS
from tests.stack.dashboards import (
    PanelQuery,
    all_selected,
    expand,
    load_dashboards,
    panel_queries,
    panels,
    variable_query,
)
from tests.stack.rule_files import RECORDS
from tests.stack.tools import REPO, output, run

DASHBOARDS = load_dashboards()
EXPECTED_DASHBOARDS = {
    "een-cameras.json": ("een-cameras", "EEN cameras"),
    "een-exporter-health.json": ("een-exporter-health", "EEN exporter health"),
    "een-availability.json": ("een-availability", "EEN availability"),
}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
QUERY_VARIABLES = ("job", "instance", "account_id")
RECORDED = {rule["record"] for rule in RECORDS}
# Recorded series keep account_id when they are per account or per camera.
RECORDED_WITH_ACCOUNT = {name for name in RECORDED if name.startswith(("account", "camera"))}
# Grafana unit ids used here or likely next (a typo renders as a plain number).
KNOWN_UNITS = {
    "none",
    "short",
    "percentunit",
    "s",
    "ms",
    "bytes",
    "ops",
    "reqps",
    "cps",
    "opm",
    "reqpm",
    "cpm",
    "dateTimeAsIso",
    "dateTimeFromNow",
    "m",
}

PANELS = [(name, panel) for name, dashboard in DASHBOARDS.items() for panel in panels(dashboard)]
QUERIES = [query for dashboard in DASHBOARDS.values() for query in panel_queries(dashboard)]


def panel_id(item: tuple[str, dict[str, Any]]) -> str:
    return f"{item[0]}:{item[1]['title']}"


def query_id(query: PanelQuery) -> str:
    return f"{query.dashboard}:{query.panel}:{query.ref_id}"


def provisioned_datasource() -> dict[str, Any]:
    path = REPO / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
    sources = yaml.safe_load(path.read_text())["datasources"]
    assert len(sources) == 1
    return dict(sources[0])


def test_the_dashboards_exist_with_fixed_uids_and_titles() -> None:
    found = {name: (d["uid"], d["title"]) for name, d in DASHBOARDS.items()}
    assert found == EXPECTED_DASHBOARDS


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_uneditable_dashboard(name: str) -> None:
    dashboard = DASHBOARDS[name]
    assert dashboard["editable"] is False
    assert dashboard["id"] is None, "a provisioned dashboard must not carry a database id"
    assert "een" in dashboard["tags"]
    assert isinstance(dashboard["schemaVersion"], int)
    assert "__inputs" not in dashboard, "import-style ${DS_...} inputs break file provisioning"


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_template_datasource_rule(name: str) -> None:
    variables = {v["name"]: v for v in DASHBOARDS[name]["templating"]["list"]}
    datasource = variables["datasource"]
    assert datasource["type"] == "datasource"
    assert datasource["query"] == "prometheus"
    assert datasource["current"]["value"] == provisioned_datasource()["uid"]


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
@pytest.mark.parametrize("variable_name", QUERY_VARIABLES)
def test_template_job_instance_account_rules(name: str, variable_name: str) -> None:
    variables = {v["name"]: v for v in DASHBOARDS[name]["templating"]["list"]}
    variable = variables[variable_name]
    assert variable["type"] == "query"
    assert variable["datasource"] == DATASOURCE
    assert variable["multi"] is True
    assert variable["includeAll"] is True
    # template-on-time-change-reload-rule: new exporters and accounts show up by themselves.
    assert variable["refresh"] == 2
    query = variable_query(variable)
    assert query.startswith("label_values("), query
    assert query.endswith(f", {variable_name})"), query
    selector = query.removeprefix("label_values(").removesuffix(f", {variable_name})")
    assert promql.metric_names(selector) <= METRICS
    # Each variable is scoped by the ones before it.
    earlier = QUERY_VARIABLES[: QUERY_VARIABLES.index(variable_name)]
    for earlier_name in earlier:
        assert f'{earlier_name}=~"${earlier_name}"' in selector, query


@pytest.mark.parametrize("item", PANELS, ids=panel_id)
def test_panel_datasource_title_description_units_targets(item: tuple[str, dict[str, Any]]) -> None:
    _, panel = item
    assert panel["datasource"] == DATASOURCE
    assert panel["title"].strip()
    assert panel.get("description", "").strip(), "panel-title-description-rule"
    assert panel["fieldConfig"]["defaults"].get("unit") in KNOWN_UNITS, "panel-units-rule"
    targets = panel.get("targets", [])
    assert targets, "panel-no-targets-rule"
    ref_ids = [target["refId"] for target in targets]
    assert len(set(ref_ids)) == len(ref_ids)
    for target in targets:
        assert target["datasource"] == DATASOURCE
        assert target["expr"].strip()


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_panels_have_unique_ids_and_do_not_overlap(name: str) -> None:
    layout = [(p["id"], p["gridPos"]) for p in DASHBOARDS[name]["panels"]]
    ids = [panel_id for panel_id, _ in layout]
    assert len(set(ids)) == len(ids)
    cells: dict[tuple[int, int], int] = {}
    for panel_id, grid in layout:
        assert grid["w"] > 0, (panel_id, grid)
        assert grid["h"] > 0, (panel_id, grid)
        assert grid["x"] >= 0, (panel_id, grid)
        assert grid["y"] >= 0, (panel_id, grid)
        assert grid["x"] + grid["w"] <= 24, (panel_id, grid)
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"panels {cells[x, y]} and {panel_id} overlap"
                cells[x, y] = panel_id


@pytest.mark.parametrize("query", QUERIES, ids=query_id)
def test_target_reads_only_contract_metrics(query: PanelQuery) -> None:
    assert promql.metric_names(query.expr) <= METRICS | RECORDED


@pytest.mark.parametrize("query", QUERIES, ids=query_id)
def test_target_job_instance_account_rules(query: PanelQuery) -> None:
    assert not promql.bare_metrics(query.expr), "every metric needs a selector with matchers"
    for selector in promql.selectors(query.expr):
        assert selector.matcher("job") == ("=~", "$job"), selector
        assert selector.matcher("instance") == ("=~", "$instance"), selector
        if selector.metric in ACCOUNT_METRICS | RECORDED_WITH_ACCOUNT:
            assert selector.matcher("account_id") == ("=~", "$account_id"), selector


@pytest.mark.parametrize("query", QUERIES, ids=query_id)
def test_target_counter_agg_and_rate_interval_rules(query: PanelQuery) -> None:
    for counter in {name for name in promql.metric_names(query.expr) if name.endswith("_total")}:
        assert not promql.counter_outside_rate(query.expr, counter), counter
    for window in promql.rate_windows(query.expr):
        assert window == "$__rate_interval"


def test_target_promql_rule(promtool: str, tmp_path: Path) -> None:
    """Every query and variable query, variables expanded, is valid PromQL for promtool."""
    exprs = [
        expand(query.expr, all_selected(dashboard))
        for dashboard in DASHBOARDS.values()
        for query in panel_queries(dashboard)
    ]
    exprs += [
        expand(variable_query(v), all_selected(dashboard))
        .removeprefix("label_values(")
        .rsplit(",", 1)[0]
        for dashboard in DASHBOARDS.values()
        for v in dashboard["templating"]["list"]
        if v["type"] == "query"
    ]
    rules = {
        "groups": [
            {
                "name": "dashboard-queries",
                "rules": [
                    {"record": f"dashboard:query:{i}", "expr": e} for i, e in enumerate(exprs)
                ],
            }
        ]
    }
    rule_file = tmp_path / "dashboard-queries.yml"
    rule_file.write_text(yaml.safe_dump(rules))
    result = run([promtool, "check", "rules", str(rule_file)])
    assert result.returncode == 0, output(result)
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout, output(result)


def test_a_broken_query_fails_the_promql_check(promtool: str, tmp_path: Path) -> None:
    # Guards the check above: promtool really parses what we hand it.
    rule_file = tmp_path / "broken.yml"
    rule_file.write_text(
        yaml.safe_dump(
            {"groups": [{"name": "g", "rules": [{"record": "a:b:c", "expr": "sum(rate(x[1m])"}]}]}
        )
    )
    assert run([promtool, "check", "rules", str(rule_file)]).returncode != 0


def test_provisioning_points_grafana_at_prometheus() -> None:
    datasource = provisioned_datasource()
    assert datasource["type"] == "prometheus"
    assert datasource["uid"] == "een-prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    providers = yaml.safe_load(
        (REPO / "grafana" / "provisioning" / "dashboards" / "een.yml").read_text()
    )["providers"]
    assert [p["type"] for p in providers] == ["file"]
    assert providers[0]["options"]["path"]
