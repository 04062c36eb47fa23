"""The dashboards' fleet totals count each account once, however many exporters report it.

With shards every account normally comes from one exporter, but while a re-shard rolls out
(or after a mis-set --shard.total) two exporters may report the same account. promtool
evaluates the shipped panel queries over such data: account 22222222 is reported by both
exporter a and exporter b, and must count once. (tests/e2e/test_shards.py checks the same
queries on three live shards.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.stack.dashboards import all_selected, expand, load_dashboards, panel_queries
from tests.stack.tools import output, run

DASHBOARDS = {dashboard["uid"]: dashboard for dashboard in load_dashboards().values()}

# (instance, account, cameras, online cameras, recording, bridges, bridges online, stream up)
ACCOUNTS = [
    ("a:9877", "11111111", 4, 3, 2, 2, 2, 1),
    ("a:9877", "22222222", 2, 1, 1, 1, 0, 1),
    ("b:9877", "22222222", 2, 1, 1, 1, 0, 1),  # the same account, reported twice
    ("b:9877", "33333333", 1, 0, 0, 1, 1, 0),
]


def input_series() -> list[dict[str, str]]:
    found: list[dict[str, str]] = []

    def add(metric: str, instance: str, account: str, value: int, **labels: str) -> None:
        extra = "".join(f',{name}="{label}"' for name, label in labels.items())
        selector = f'{metric}{{job="een",instance="{instance}",account_id="{account}"{extra}}}'
        found.append({"series": selector, "values": f"{value}x5"})

    for instance, account, cameras, online, recording, bridges, up, stream in ACCOUNTS:
        add("account:een_camera_info:count", instance, account, cameras)
        add("account_status:een_camera_status:sum", instance, account, online, status="online")
        add("account_status:een_camera_status:sum", instance, account, cameras - online,
            status="offline")  # fmt: skip
        add("account:een_camera_recording:sum", instance, account, recording)
        add("account:een_bridge_info:count", instance, account, bridges)
        add("account:een_bridge_online:sum", instance, account, up)
        add("een_stream_up", instance, account, stream)
        add("een_account_info", instance, account, 1, name=f"Account {account}")
        for shard in ("0", "1"):  # two exporters, each listing every account
            add("een_exporter_account_shard", f"{shard}:9877", account, 1, shard=shard)
    return found


def query(uid: str, panel: str, ref_id: str = "A") -> str:
    dashboard = DASHBOARDS[uid]
    (found,) = [q for q in panel_queries(dashboard) if (q.panel, q.ref_id) == (panel, ref_id)]
    return expand(found.expr, all_selected(dashboard))


def sample(value: float, **labels: str) -> dict[str, Any]:
    text = ",".join(f'{name}="{label}"' for name, label in sorted(labels.items()))
    return {"labels": f"{{{text}}}", "value": value}


EXPECTED = [
    # 4 + 2 + 1 cameras, not 9.
    (("een-cameras", "Cameras"), [sample(7)]),
    (
        ("een-cameras", "Cameras by status"),
        [sample(4, status="online"), sample(3, status="offline")],
    ),
    (("een-cameras", "Recording"), [sample(3)]),
    (("een-cameras", "Bridges offline"), [sample(1)]),  # 4 bridges, 3 online
    (
        ("een-cameras", "Accounts", "B"),
        [
            sample(4, account_id="11111111", name="Account 11111111"),
            sample(2, account_id="22222222", name="Account 22222222"),
            sample(1, account_id="33333333", name="Account 33333333"),
        ],
    ),
    (("een-exporter-health", "Streams up"), [sample(2)]),
    (("een-exporter-health", "Streams down"), [sample(1)]),
    (("een-exporter-health", "Accounts discovered and monitored", "A"), [sample(3)]),
    (("een-exporter-health", "Accounts discovered and monitored", "B"), [sample(3)]),
    (("een-exporter-health", "Accounts discovered and monitored", "C"), [sample(1)]),
]


def test_fleet_totals_count_an_account_reported_twice_once(promtool: str, tmp_path: Path) -> None:
    rules = tmp_path / "none.yml"
    rules.write_text(yaml.safe_dump({"groups": []}))
    tests = [
        {
            "expr": query(*where),
            "eval_time": "2m",
            "exp_samples": expected,
        }
        for where, expected in EXPECTED
    ]
    test_file = tmp_path / "totals_test.yml"
    test_file.write_text(
        yaml.safe_dump(
            {
                "rule_files": [rules.name],
                "evaluation_interval": "1m",
                "tests": [
                    {
                        "interval": "1m",
                        "input_series": input_series(),
                        "promql_expr_test": tests,
                    }
                ],
            },
            sort_keys=False,
        )
    )
    result = run([promtool, "test", "rules", str(test_file)])
    assert result.returncode == 0, output(result)
    assert "SUCCESS" in result.stdout, output(result)
