"""A real Prometheus holding a backfilled month: the history's samples, then the shipped
availability rules evaluated over them by `promtool tsdb create-blocks-from rules`.

promtool evaluates each recording rule against a running Prometheus and does not see the
other rules' results of the same run, so the rules go in stages (docs/availability.md,
*Backfilling*): the rules that read only scraped series, then those that read them, and so
on; after each stage the new blocks join the data and Prometheus is started again on it.
Every Prometheus is a child process on an ephemeral loopback port, stopped by its PID.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests
import yaml

from tests.availability import history
from tests.e2e import daemons
from tests.stack import promql
from tests.stack.tools import REPO, Release, output, run

RULES = REPO / "rules" / "availability.yml"
# Larger blocks than promtool's default 2 h: it reads the whole input once per block.
MAX_BLOCK_DURATION = "744h"
BACKFILL_TIMEOUT = 120
STEP_SECONDS = 60  # the group's interval
CHUNK_SECONDS = 7 * 24 * 3600  # 10,080 steps: under a range query's 11,000 points


def stages(rules_file: Path = RULES) -> list[list[dict[str, Any]]]:
    """The recording rules in the order they can be backfilled: a rule comes one stage after
    the last rule it reads."""
    records = [
        rule
        for group in yaml.safe_load(rules_file.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    ]
    names = {rule["record"] for rule in records}
    level: dict[str, int] = {}
    for rule in records:  # the file lists a rule after those it reads
        reads = promql.metric_names(rule["expr"]) & names
        assert reads <= level.keys(), f"{rule['record']} reads a rule defined after it"
        level[rule["record"]] = 1 + max((level[name] for name in reads), default=-1)
    found: list[list[dict[str, Any]]] = [[] for _ in range(max(level.values()) + 1)]
    for rule in records:
        found[level[rule["record"]]].append(rule)
    return found


def start_prometheus(
    release: Release,
    home: Path,
    data: Path,
    rule_files: list[Path],
    name: str,
    *flags: str,
) -> daemons.Daemon:
    config = {"global": {"evaluation_interval": "1m"}, "rule_files": [str(p) for p in rule_files]}
    config_file = home / f"prometheus-{name}.yml"
    config_file.write_text(yaml.safe_dump(config))
    command = [
        release.prometheus(),
        f"--config.file={config_file}",
        f"--storage.tsdb.path={data}",
        "--storage.tsdb.retention.time=100y",
        "--web.listen-address=127.0.0.1:0",
        *flags,
    ]
    return daemons.start(f"Prometheus ({name})", command, home / f"{name}.log")


def import_openmetrics(release: Release, samples: Path, data: Path) -> None:
    result = run(
        [
            release.promtool(),
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            f"--max-block-duration={MAX_BLOCK_DURATION}",
            str(samples),
            str(data),
        ],
        timeout=BACKFILL_TIMEOUT,
    )
    assert result.returncode == 0, output(result)
    samples.unlink()


def evaluate(url: str, rules: list[dict[str, Any]], path: Path, start: int, end: int) -> Path:
    """Each rule evaluated once a minute from start to end, as OpenMetrics in `path`.

    What `promtool tsdb create-blocks-from rules` does (a range query per rule, step = the
    group's interval, from `start`), in 7-day range queries instead of one per rule and 2 h.
    """
    with path.open("w") as out:
        for rule in rules:
            name = rule["record"]
            out.write(f"# TYPE {name} gauge\n")
            series: dict[tuple[tuple[str, str], ...], list[tuple[float, str]]] = {}
            for first in range(start, end + 1, CHUNK_SECONDS):
                last = min(end, first + CHUNK_SECONDS - STEP_SECONDS)
                response = requests.get(
                    f"{url}/api/v1/query_range",
                    params={
                        "query": rule["expr"],
                        "start": first,
                        "end": last,
                        "step": STEP_SECONDS,
                    },
                    timeout=BACKFILL_TIMEOUT,
                )
                body = response.json()
                assert body["status"] == "success", f"{name}: {body}"
                for found in body["data"]["result"]:
                    labels = {**found["metric"], **rule.get("labels", {})}
                    labels.pop("__name__", None)
                    key = tuple(sorted(labels.items()))
                    series.setdefault(key, []).extend(found["values"])
            for key, values in series.items():
                text = ",".join(f'{label}="{value}"' for label, value in key)
                out.writelines(f"{name}{{{text}}} {value} {stamp}\n" for stamp, value in values)
        out.write("# EOF\n")
    return path


def backfill(release: Release, home: Path) -> Path:
    """The month, its rules and all, in `home`/data; returns that directory."""
    data = home / "data"
    data.mkdir(parents=True)
    import_openmetrics(release, history.write_openmetrics(home / "history.om"), data)
    for number, rules in enumerate(stages()):
        prometheus = start_prometheus(release, home, data, [], f"stage{number}")
        try:
            samples = evaluate(
                prometheus.url, rules, home / f"stage{number}.om", history.START, history.END
            )
        finally:
            prometheus.stop()
        import_openmetrics(release, samples, data)
    return data
