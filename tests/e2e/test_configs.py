"""The derived configs stay true to the shipped ones and pass promtool/amtool; so does /metrics.

The shipped prometheus.yml, rule files, rule unit tests and alertmanager.yml are checked
with promtool and amtool in tests/stack; here the checks cover what only this run has.
"""

from __future__ import annotations

import re
import subprocess
from typing import Any
from urllib.parse import urlsplit

import requests
import yaml

from exporter.app import Exporter
from tests.e2e.apis import Alertmanager, Prometheus
from tests.e2e.configs import (
    FOR,
    INTERVAL,
    KEEP_FIRING_FOR,
    ROUTE_TIMINGS,
    RULE_TIMINGS,
    SHIPPED_ALERTMANAGER,
    SHIPPED_PROMETHEUS,
)
from tests.stack.rule_files import RULE_FILES, load_rules
from tests.stack.tools import Release, output, run
from tests.support import wait_for


def flat(expr: str) -> str:
    """An expression the way Prometheus prints it back: one line, no padding in parentheses."""
    expr = re.sub(r"\s+", " ", expr.strip())
    return expr.replace("( ", "(").replace(" )", ")")


def test_compressed_rule_files_change_only_timings(prometheus: Prometheus) -> None:
    for shipped_file in RULE_FILES:
        shipped = yaml.safe_load(shipped_file.read_text())
        copy_file = prometheus.config_file.parent / "rules" / shipped_file.name
        compressed = yaml.safe_load(copy_file.read_text())
        for group, shipped_group in zip(compressed["groups"], shipped["groups"], strict=True):
            if "interval" in shipped_group:
                assert group["interval"] == f"{INTERVAL}s"
                group["interval"] = shipped_group["interval"]
            for rule, shipped_rule in zip(group["rules"], shipped_group["rules"], strict=True):
                for key in RULE_TIMINGS.keys() & shipped_rule.keys():
                    assert rule[key] == RULE_TIMINGS[key]
                    rule[key] = shipped_rule[key]
        assert compressed == shipped


def test_prometheus_evaluates_the_shipped_rules_without_errors(scraped: Prometheus) -> None:
    def evaluated() -> list[dict[str, Any]] | None:
        rules = scraped.rules()
        return rules if all(r["health"] != "unknown" for r in rules) else None

    loaded = wait_for(evaluated, message="every rule evaluated")
    shipped = load_rules()
    names = sorted(rule.get("alert") or rule["record"] for rule in shipped)
    assert sorted(rule["name"] for rule in loaded) == names
    live = {rule["name"]: rule for rule in loaded}
    for rule in shipped:
        running = live[rule.get("alert") or rule["record"]]
        assert (running["health"], running.get("lastError", "")) == ("ok", ""), running
        assert running["query"] == flat(rule["expr"])
        if "alert" in rule:
            assert running["duration"] == FOR
            assert running["keepFiringFor"] == (KEEP_FIRING_FOR if "keep_firing_for" in rule else 0)
            assert running["labels"] == rule["labels"]
            assert running["annotations"] == rule["annotations"]


def test_derived_prometheus_config_keeps_jobs_rules_and_alerting(
    prometheus: Prometheus, release: Release
) -> None:
    shipped = yaml.safe_load(SHIPPED_PROMETHEUS.read_text())
    derived = yaml.safe_load(prometheus.config_file.read_text())
    assert derived["rule_files"] == shipped["rule_files"]
    assert [job["job_name"] for job in derived["scrape_configs"]] == [
        job["job_name"] for job in shipped["scrape_configs"]
    ]
    assert len(derived["alerting"]["alertmanagers"]) == len(shipped["alerting"]["alertmanagers"])

    result = run([release.promtool(), "check", "config", str(prometheus.config_file)])
    assert result.returncode == 0, output(result)
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in result.stdout, output(result)


def test_derived_alertmanager_config_keeps_routes_grouping_and_inhibition(
    alertmanager: Alertmanager, release: Release
) -> None:
    shipped = yaml.safe_load(SHIPPED_ALERTMANAGER.read_text())
    derived = yaml.safe_load(alertmanager.config_file.read_text())
    # Undo what may differ (timings, webhook addresses), then nothing else may.
    for timing in ROUTE_TIMINGS:
        derived["route"][timing] = shipped["route"].get(timing)
    for receiver, shipped_receiver in zip(derived["receivers"], shipped["receivers"], strict=True):
        hooks = zip(receiver["webhook_configs"], shipped_receiver["webhook_configs"], strict=True)
        for hook, shipped_hook in hooks:
            assert urlsplit(hook["url"]).path == urlsplit(shipped_hook["url"]).path
            hook["url"] = shipped_hook["url"]
    assert derived == shipped

    result = run([release.amtool(), "check-config", str(alertmanager.config_file)])
    assert result.returncode == 0, output(result)


def test_live_exposition_passes_promtool_check_metrics(
    exporter: Exporter, release: Release
) -> None:
    response = requests.get(f"{exporter.url}/metrics", timeout=10)
    response.raise_for_status()
    assert "een_camera_status{" in response.text
    result = subprocess.run(
        [release.promtool(), "check", "metrics"],
        input=response.text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, output(result)
