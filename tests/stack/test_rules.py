"""prometheus.yml and the rule files: valid for promtool, unit-tested, and true to the contract."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.stack import promql
from tests.stack.contract import METRICS
from tests.stack.rule_files import ALERTS, RECORDS, RULE_FILES, RULE_TESTS, load_rule_tests
from tests.stack.tools import REPO, output, run

RUNBOOK = REPO / "docs" / "runbook.md"
SEVERITIES = {"critical", "warning", "info"}
RECORDED_NAME = re.compile(r"^[a-z_]+:(?P<metric>[a-z_]+):[a-z0-9_]+$")


def test_prometheus_config_is_valid_and_loads_every_rule_file(promtool: str) -> None:
    result = run([promtool, "check", "config", "prometheus.yml"])
    assert result.returncode == 0, output(result)
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in result.stdout, output(result)


def test_rule_files_are_valid(promtool: str) -> None:
    result = run([promtool, "check", "rules", *map(str, RULE_FILES)])
    assert result.returncode == 0, output(result)


@pytest.mark.parametrize("test_file", RULE_TESTS, ids=lambda path: path.name)
def test_rule_unit_tests_pass(promtool: str, test_file: Path) -> None:
    result = run([promtool, "test", "rules", str(test_file)])
    assert result.returncode == 0, output(result)
    assert "SUCCESS" in result.stdout, output(result)


def test_rule_unit_tests_load_every_rule_file() -> None:
    loaded = {
        (test_file.parent / rule_file).resolve()
        for test_file in RULE_TESTS
        for rule_file in yaml.safe_load(test_file.read_text())["rule_files"]
    }
    assert loaded == {path.resolve() for path in RULE_FILES}


def test_every_alert_is_seen_firing_in_a_unit_test() -> None:
    fired = {
        case["alertname"]
        for test in load_rule_tests()
        for case in test.get("alert_rule_test", [])
        if case["exp_alerts"]
    }
    assert {rule["alert"] for rule in ALERTS} <= fired


def test_every_recording_rule_is_checked_in_a_unit_test() -> None:
    checked = {
        name
        for test in load_rule_tests()
        for case in test.get("promql_expr_test", [])
        for name in promql.metric_names(case["expr"])
    }
    assert {rule["record"] for rule in RECORDS} <= checked


@pytest.mark.parametrize("rule", ALERTS, ids=lambda rule: rule["alert"])
def test_alert_has_severity_annotations_and_runbook_entry(rule: dict[str, Any]) -> None:
    name = rule["alert"]
    assert name.startswith("Een"), "alert names share the Een prefix"
    assert rule["labels"]["severity"] in SEVERITIES
    assert rule["annotations"]["summary"].strip()
    assert rule["annotations"]["description"].strip()
    assert rule["annotations"]["runbook_url"] == f"docs/runbook.md#{name.lower()}"
    assert re.search(rf"^## {name}$", RUNBOOK.read_text(), re.MULTILINE), f"no runbook for {name}"
    # The e2e test compresses time by rewriting only these keys, so they must be plain
    # durations on the rule, never inside the expression.
    assert re.fullmatch(r"\d+[smh]", rule["for"])
    assert re.fullmatch(r"\d+[smh]", rule.get("keep_firing_for", "0s"))


def test_runbook_has_a_section_only_for_real_alerts() -> None:
    sections = set(re.findall(r"^## (\w+)$", RUNBOOK.read_text(), re.MULTILINE))
    assert sections == {rule["alert"] for rule in ALERTS}


@pytest.mark.parametrize(
    "rule", ALERTS + RECORDS, ids=lambda rule: rule.get("alert") or rule.get("record")
)
def test_rule_reads_only_contract_metrics(rule: dict[str, Any]) -> None:
    recorded = {record["record"] for record in RECORDS}
    assert promql.metric_names(rule["expr"]) <= METRICS | recorded


@pytest.mark.parametrize("rule", RECORDS, ids=lambda rule: rule["record"])
def test_recording_rule_is_named_level_metric_operations(rule: dict[str, Any]) -> None:
    match = RECORDED_NAME.match(rule["record"])
    assert match, rule["record"]
    assert match.group("metric") in METRICS


def test_rules_watch_the_job_prometheus_scrapes() -> None:
    config = yaml.safe_load((REPO / "prometheus.yml").read_text())
    jobs = {scrape["job_name"] for scrape in config["scrape_configs"]}
    watched = {
        value
        for rule in ALERTS
        for selector in promql.selectors(rule["expr"])
        for label, op, value in selector.matchers
        if label == "job" and op == "="
    }
    assert watched, "EenExporterDown must select the exporter's job"
    assert watched <= jobs
