"""alertmanager.yml: valid, routes by severity, groups by account, inhibits as documented.

Routing is checked offline with amtool. Grouping and inhibition are behaviour of a running
Alertmanager, so those tests start the real one on a loopback port and post it the alerts
exactly as the rule unit tests expect Prometheus to produce them (tests/rules/*_test.yml).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.stack import tools
from tests.stack.rule_files import ALERTS, load_rule_tests
from tests.stack.tools import REPO, output, run
from tests.support import wait_for

CONFIG = REPO / "alertmanager.yml"
RECEIVER_FOR_SEVERITY = {"critical": "een-page", "warning": "een-webhook", "info": "een-info"}


def routes_test(amtool: str, expected: str, labels: dict[str, str]) -> None:
    result = run(
        [
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={CONFIG}",
            f"--verify.receivers={expected}",
            *(f"{name}={value}" for name, value in labels.items()),
        ]
    )
    assert result.returncode == 0, output(result)
    assert result.stdout.strip() == expected, output(result)


def test_config_is_valid(amtool: str) -> None:
    result = run([amtool, "check-config", str(CONFIG)])
    assert result.returncode == 0, output(result)
    assert "SUCCESS" in result.stdout, output(result)


@pytest.mark.parametrize("rule", ALERTS, ids=lambda rule: rule["alert"])
def test_alert_routes_to_the_receiver_for_its_severity(amtool: str, rule: dict[str, Any]) -> None:
    severity = rule["labels"]["severity"]
    labels = {"alertname": rule["alert"], "severity": severity, "account_id": "11111111"}
    routes_test(amtool, RECEIVER_FOR_SEVERITY[severity], labels)


def test_alert_without_known_severity_reaches_the_default_receiver(amtool: str) -> None:
    routes_test(amtool, "een-webhook", {"alertname": "Something", "severity": "page-me"})


def test_a_receiver_mismatch_is_reported(amtool: str) -> None:
    # Guards the check above: amtool really compares receivers.
    result = run(
        [
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={CONFIG}",
            "--verify.receivers=een-page",
            "alertname=EenCameraOffline",
            "severity=warning",
        ]
    )
    assert result.returncode != 0, output(result)


# --- a running Alertmanager ---------------------------------------------------------------


def expected_alerts() -> dict[str, list[dict[str, str]]]:
    """Label sets of every alert the rule unit tests expect, by alert name."""
    by_name: dict[str, list[dict[str, str]]] = {}
    for test in load_rule_tests():
        for case in test.get("alert_rule_test", []):
            for alert in case["exp_alerts"]:
                labels = {"alertname": case["alertname"], **alert["exp_labels"]}
                if labels not in by_name.setdefault(case["alertname"], []):
                    by_name[case["alertname"]].append(labels)
    return by_name


EXPECTED = expected_alerts()


def alert(alertname: str, on_instance: str, **match: str) -> dict[str, str]:
    """The one expected alert with these labels, moved to `on_instance` to isolate a scenario."""
    found = [
        labels
        for labels in EXPECTED[alertname]
        if all(labels.get(name) == value for name, value in match.items())
    ]
    assert len(found) == 1, f"{alertname} {match}: {found}"
    return {**found[0], "instance": on_instance}


@pytest.fixture(scope="module")
def alertmanager_url(
    tmp_path_factory: pytest.TempPathFactory, release: tools.Release
) -> Iterator[str]:
    binary = release.alertmanager()
    workdir = tmp_path_factory.mktemp("alertmanager")
    config = yaml.safe_load(CONFIG.read_text())
    # The shipped receivers point at a host that does not exist; keep every attempt on
    # loopback (nothing listens on port 9, and group_wait outlasts these tests anyway).
    for receiver in config["receivers"]:
        for webhook in receiver.get("webhook_configs", []):
            webhook["url"] = "http://127.0.0.1:9/"
    config_file = workdir / "alertmanager.yml"
    config_file.write_text(yaml.safe_dump(config))
    log_file = workdir / "alertmanager.log"
    with log_file.open("w") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config_file}",
                f"--storage.path={workdir / 'data'}",
                "--web.listen-address=127.0.0.1:0",
                "--cluster.listen-address=",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        address = wait_for(
            lambda: listening_address(log_file), timeout=10, message="Alertmanager to listen"
        )
        url = f"http://{address}"
        wait_for(lambda: is_ready(url), timeout=10, message="Alertmanager to be ready")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def listening_address(log_file: Path) -> str | None:
    match = re.search(r'msg="Listening on" address=(127\.0\.0\.1:\d+)', log_file.read_text())
    return match.group(1) if match else None


def is_ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/-/ready", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def post(url: str, alerts: list[dict[str, str]]) -> None:
    body = [{"labels": labels, "annotations": {"summary": "test"}} for labels in alerts]
    response = requests.post(f"{url}/api/v2/alerts", json=body, timeout=5)
    assert response.status_code == 200, response.text


def inhibited(url: str, instance: str) -> dict[str, bool]:
    """For every alert of `instance`: is it inhibited? Keyed by the alert's name and device."""
    response = requests.get(
        f"{url}/api/v2/alerts", params={"filter": f'instance="{instance}"'}, timeout=5
    )
    response.raise_for_status()
    return {key(item["labels"]): bool(item["status"]["inhibitedBy"]) for item in response.json()}


def key(labels: dict[str, str]) -> str:
    device = labels.get("camera_name") or labels.get("bridge_name") or labels.get("account_name")
    return f"{labels['alertname']}/{device or labels['instance']}"


def settle(url: str, instance: str, expected: dict[str, bool]) -> None:
    """Wait until the inhibitor has seen the source alerts, then compare everything."""
    wait_for(
        lambda: inhibited(url, instance) == expected,
        timeout=5,
        message=f"inhibition of the alerts of {instance} to be {expected}",
    )


def test_stream_down_inhibits_its_accounts_camera_and_bridge_alerts(alertmanager_url: str) -> None:
    instance = "stream-down:9877"
    post(
        alertmanager_url,
        [
            alert("EenStreamDown", instance, account_name="Beta Shop"),
            alert("EenCameraOffline", instance, camera_name="Front till"),
            alert("EenCameraOffline", instance, camera_name="Lobby"),
            alert("EenStreamFlapping", instance, account_name="Acme HQ"),
        ],
    )
    settle(
        alertmanager_url,
        instance,
        {
            "EenStreamDown/Beta Shop": False,
            "EenCameraOffline/Front till": True,
            "EenCameraOffline/Lobby": False,
            "EenStreamFlapping/Acme HQ": False,
        },
    )
    instance = "stream-down-bridge:9877"
    post(
        alertmanager_url,
        [
            alert("EenStreamDown", instance, account_name="Beta Shop"),
            alert("EenBridgeOffline", instance, bridge_name="Shop bridge"),
            alert("EenBridgeOffline", instance, bridge_name="Annex bridge"),
        ],
    )
    settle(
        alertmanager_url,
        instance,
        {
            "EenStreamDown/Beta Shop": False,
            "EenBridgeOffline/Shop bridge": True,
            "EenBridgeOffline/Annex bridge": False,
        },
    )


def test_stream_down_inhibits_its_accounts_availability_alerts(alertmanager_url: str) -> None:
    """While an account's stream is down its time is not counted, so a burn-rate alert of that
    account (from the minutes before) is held back; another account's is not."""
    instance = "stream-down-availability:9877"
    beta_shop = {"account_id": "22222222", "account_name": "Beta Shop"}
    post(
        alertmanager_url,
        [
            alert("EenStreamDown", instance, account_name="Beta Shop"),
            {**alert("EenAvailabilityBudgetBurnFast", instance), **beta_shop},
            {**alert("EenAvailabilityBudgetBurnSlow", instance), **beta_shop},
            alert("EenAvailabilityBudgetBurnFast", instance, account_name="Acme HQ"),
        ],
    )

    def by_account() -> dict[str, bool]:
        response = requests.get(
            f"{alertmanager_url}/api/v2/alerts",
            params={"filter": f'instance="{instance}"'},
            timeout=5,
        )
        response.raise_for_status()
        return {
            f"{item['labels']['alertname']}/{item['labels']['account_name']}": bool(
                item["status"]["inhibitedBy"]
            )
            for item in response.json()
        }

    expected = {
        "EenStreamDown/Beta Shop": False,
        "EenAvailabilityBudgetBurnFast/Beta Shop": True,
        "EenAvailabilityBudgetBurnSlow/Beta Shop": True,
        "EenAvailabilityBudgetBurnFast/Acme HQ": False,
    }
    wait_for(lambda: by_account() == expected, timeout=5, message=f"inhibition {expected}")


def test_bridge_offline_inhibits_only_its_own_cameras(alertmanager_url: str) -> None:
    instance = "bridge-offline:9877"
    post(
        alertmanager_url,
        [
            alert("EenBridgeOffline", instance, bridge_name="Shop bridge"),
            alert("EenCameraOffline", instance, camera_name="Front till"),
            alert("EenBridgeOffline", instance, bridge_name="Annex bridge"),
            alert("EenCameraOffline", instance, camera_name="Lobby"),
            alert("EenCameraPasswordNeeded", instance, camera_name="Parking"),
            alert("EenCameraNotRecording", instance, camera_name="Storage"),
        ],
    )
    settle(
        alertmanager_url,
        instance,
        {
            "EenBridgeOffline/Shop bridge": False,
            "EenCameraOffline/Front till": True,
            "EenBridgeOffline/Annex bridge": False,
            "EenCameraOffline/Lobby": False,
            "EenCameraPasswordNeeded/Parking": False,
            "EenCameraNotRecording/Storage": False,
        },
    )


def test_exporter_down_inhibits_everything_from_that_exporter(alertmanager_url: str) -> None:
    instance = "exporter-down:9877"
    everything = [
        {**labels, "instance": instance}
        for name, label_sets in EXPECTED.items()
        if name != "EenExporterDown"
        for labels in label_sets
    ]
    other_exporter = alert("EenCameraOffline", "other-exporter:9877", camera_name="Lobby")
    post(
        alertmanager_url,
        [alert("EenExporterDown", instance, instance="exporter-a:9877"), *everything],
    )
    post(alertmanager_url, [other_exporter])
    expected = {key(labels): True for labels in everything}
    expected[f"EenExporterDown/{instance}"] = False
    settle(alertmanager_url, instance, expected)
    assert inhibited(alertmanager_url, "other-exporter:9877") == {"EenCameraOffline/Lobby": False}


def test_notifications_are_grouped_by_alert_and_account(alertmanager_url: str) -> None:
    instance = "grouping:9877"
    post(
        alertmanager_url,
        [
            alert("EenCameraOffline", instance, camera_name="Lobby"),
            alert("EenCameraOffline", instance, camera_name="Yard"),
            alert("EenCameraOffline", instance, camera_name="Front till"),
            alert("EenCameraPasswordNeeded", instance, camera_name="Parking"),
        ],
    )

    def groups() -> dict[tuple[str, str, str], set[str]]:
        response = requests.get(
            f"{alertmanager_url}/api/v2/alerts/groups",
            params={"filter": f'instance="{instance}"'},
            timeout=5,
        )
        response.raise_for_status()
        return {
            (
                group["receiver"]["name"],
                group["labels"]["alertname"],
                group["labels"]["account_id"],
            ): {item["labels"]["camera_name"] for item in group["alerts"]}
            for group in response.json()
        }

    expected = {
        ("een-webhook", "EenCameraOffline", "11111111"): {"Lobby", "Yard"},
        ("een-webhook", "EenCameraOffline", "22222222"): {"Front till"},
        ("een-webhook", "EenCameraPasswordNeeded", "11111111"): {"Parking"},
    }
    wait_for(lambda: groups() == expected, timeout=5, message=f"groups {expected}")
