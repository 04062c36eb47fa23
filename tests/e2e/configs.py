"""The shipped prometheus.yml, rule files and alertmanager.yml, derived for a fast loopback run.

Only addresses and timings change: scrape targets, the Alertmanager and webhook addresses,
the scrape and evaluation intervals, Alertmanager's group_wait/group_interval, and each
alert's `for:` / `keep_firing_for:` (time-compressed). Job names, rule expressions, labels,
annotations, routes, grouping and inhibition stay as shipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from tests.stack.rule_files import RULE_FILES
from tests.stack.tools import REPO

SHIPPED_PROMETHEUS = REPO / "prometheus.yml"
SHIPPED_ALERTMANAGER = REPO / "alertmanager.yml"

# Seconds. The camera alerts' keep_firing_for must outlast a stall being noticed (the
# exporter's stream timeout) plus EenStreamDown's `for:`, or the inhibition test has no
# firing camera alert left to inhibit.
INTERVAL = 1
FOR = 2
KEEP_FIRING_FOR = 12
# Grafana's $__rate_interval for a data source scraped every INTERVAL: four scrapes.
RATE_INTERVAL = f"{4 * INTERVAL}s"

RULE_TIMINGS = {"for": f"{FOR}s", "keep_firing_for": f"{KEEP_FIRING_FOR}s"}
ROUTE_TIMINGS = {"group_wait": "0s", "group_interval": f"{INTERVAL}s"}


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def compressed_rules(path: Path) -> dict[str, Any]:
    """One shipped rule file with every `for:`, `keep_firing_for:` and group `interval:` shortened.

    A group's own interval (availability's 1m) would otherwise delay its first evaluation by
    up to a minute, Prometheus slotting it at a hash of its name.
    """
    rules: dict[str, Any] = yaml.safe_load(path.read_text())
    for group in rules["groups"]:
        if "interval" in group:
            group["interval"] = f"{INTERVAL}s"
        for rule in group["rules"]:
            rule.update({key: value for key, value in RULE_TIMINGS.items() if key in rule})
    return rules


def write_compressed_rules(directory: Path) -> list[Path]:
    """Compressed copies of every shipped rule file, under their own names."""
    return [write_yaml(directory / path.name, compressed_rules(path)) for path in RULE_FILES]


def prometheus_config(
    exporter: str | list[str], alertmanager: str, prometheus: str | None
) -> dict[str, Any]:
    """prometheus.yml with loopback targets (host:port) and 1 s intervals.

    `exporter` may be several addresses (shards), all in the `een` job. The rule_files glob
    is kept, so the config must sit next to a `rules/` folder holding the compressed copies.
    `prometheus` (its own address) is None until it listens.
    """
    config: dict[str, Any] = yaml.safe_load(SHIPPED_PROMETHEUS.read_text())
    config["global"].update(
        scrape_interval=f"{INTERVAL}s",
        scrape_timeout=f"{INTERVAL}s",
        evaluation_interval=f"{INTERVAL}s",
    )
    for manager in config["alerting"]["alertmanagers"]:
        manager["static_configs"] = [{"targets": [alertmanager]}]
    targets = {
        "een": [exporter] if isinstance(exporter, str) else exporter,
        "alertmanager": [alertmanager],
        "prometheus": [prometheus] if prometheus else [],
    }
    for job in config["scrape_configs"]:
        name = job["job_name"]
        assert name in targets, f"prometheus.yml has a new job {name!r}: give it a target here"
        job["static_configs"] = [{"targets": targets[name]}]
    return config


def alertmanager_config(webhook: str) -> dict[str, Any]:
    """alertmanager.yml with every receiver on `webhook` (keeping its path), notifying at once."""
    config: dict[str, Any] = yaml.safe_load(SHIPPED_ALERTMANAGER.read_text())
    config["route"].update(ROUTE_TIMINGS)
    _retime_child_routes(config["route"])
    for receiver in config["receivers"]:
        for hook in receiver["webhook_configs"]:
            hook["url"] = webhook + urlsplit(hook["url"]).path
    return config


def _retime_child_routes(route: dict[str, Any]) -> None:
    for child in route.get("routes", []):
        child.update({key: value for key, value in ROUTE_TIMINGS.items() if key in child})
        _retime_child_routes(child)
