"""Alerts from the shipped rules reach the webhook through the shipped Alertmanager routing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from exporter.simulator.client import SimulatorControl
from exporter.simulator.world import Status
from tests.e2e.apis import Alertmanager, Prometheus
from tests.e2e.configs import FOR, KEEP_FIRING_FOR
from tests.e2e.webhook import Delivery, WebhookReceiver
from tests.e2e.world import cameras, event_cameras, recording_camera, sub_accounts
from tests.stack.rule_files import ALERTS
from tests.stack.tools import RELEASES, Release
from tests.support import wait_for

POLL = 0.1
# Generous upper bounds: a change needs a scrape, an evaluation, `for:` and a notification.
FIRING_SECONDS = 15.0 + FOR
RESOLVED_SECONDS = 15.0 + KEEP_FIRING_FOR
# The shipped route for each severity (alertmanager.yml), as the path its receiver posts to.
PATH_FOR_SEVERITY = {"critical": "/een/page", "warning": "/een/alerts", "info": "/een/info"}
# The alert each non-healthy camera state of the demo world raises (tests/e2e/world.py).
ALERT_FOR_STATE = {
    Status.INTERNET_OFFLINE: "EenCameraOffline",
    Status.PASSWORD_NEEDED: "EenCameraPasswordNeeded",
    Status.ONLINE: "EenCameraNotRecording",
}
CAMERA_ALERTS = [rule["alert"] for rule in ALERTS if rule["alert"].startswith("EenCamera")]


def delivered(
    webhook: WebhookReceiver, alertname: str, status: str, **labels: str
) -> dict[str, Any]:
    """Wait for an alert with those labels to be posted with that status; return it."""
    found: list[Delivery] = wait_for(
        lambda: webhook.deliveries(alertname, status, **labels),
        timeout=RESOLVED_SECONDS if status == "resolved" else FIRING_SECONDS,
        interval=POLL,
        message=f"a {status} {alertname} {labels} at the webhook",
    )
    for delivery in found:
        assert delivery.path == PATH_FOR_SEVERITY[delivery.alert["labels"]["severity"]], delivery
    return found[0].alert


def held(alertmanager: Alertmanager, alertname: str, state: str, **labels: str) -> dict[str, Any]:
    """Wait until Alertmanager holds that alert in `state` (active, suppressed); return it."""

    def in_state() -> dict[str, Any] | None:
        alerts = alertmanager.alerts(alertname, **labels)
        return next((a for a in alerts if a["status"]["state"] == state), None)

    return wait_for(
        in_state,
        timeout=FIRING_SECONDS,
        interval=POLL,
        message=f"{alertname} {labels} to be {state} in Alertmanager",
    )


@pytest.fixture
def restore(control: SimulatorControl) -> Iterator[dict[str, int]]:
    """Statuses to put back (by ESN) and faults to clear after the test."""
    statuses: dict[str, int] = {}
    yield statuses
    control.reset()
    for esn, status in statuses.items():
        control.set_status(esn, status)


def test_each_camera_state_of_the_demo_world_raises_its_own_alert(
    control: SimulatorControl, scraped: Prometheus, webhook: WebhookReceiver
) -> None:
    account = sub_accounts(control.state())[0]
    camera_in = {camera["status"]: camera for camera in cameras(account)}
    for state, alertname in ALERT_FOR_STATE.items():
        camera = camera_in[state]
        alert = delivered(webhook, alertname, "firing", camera_id=camera["id"])
        assert alert["labels"]["camera_name"] == camera["name"]
        assert alert["labels"]["account_name"] == account["name"]
    # A camera switched off on purpose never alerts.
    switched_off = camera_in[Status.OFF]["id"]
    assert not [a for name in CAMERA_ALERTS for a in scraped.alerts(name, camera_id=switched_off)]


def test_camera_offline_reaches_the_webhook_and_resolves_after_keep_firing_for(
    control: SimulatorControl,
    scraped: Prometheus,
    webhook: WebhookReceiver,
    restore: dict[str, int],
) -> None:
    account = sub_accounts(control.state())[0]
    camera = recording_camera(account)
    restore[camera["id"]] = camera["status"]
    control.set_status(camera["id"], Status.OFFLINE)

    alert = delivered(webhook, "EenCameraOffline", "firing", camera_id=camera["id"])
    assert alert["labels"] == {
        "alertname": "EenCameraOffline",
        "severity": "warning",
        "job": "een",
        "instance": alert["labels"]["instance"],
        "account_id": account["id"],
        "account_name": account["name"],
        "camera_id": camera["id"],
        "camera_name": camera["name"],
        "bridge_id": camera["bridge_id"],
    }
    annotations = alert["annotations"]
    assert annotations["summary"] == f"EEN camera {camera['name']} is offline"
    for text in (camera["name"], account["name"], "(status offline)"):
        assert text in annotations["description"], annotations["description"]

    control.set_status(camera["id"], Status.RECORDING)
    back_at = time.monotonic()
    delivered(webhook, "EenCameraOffline", "resolved", camera_id=camera["id"])
    # Prometheus holds the alert for keep_firing_for after the camera came back.
    assert time.monotonic() - back_at >= KEEP_FIRING_FOR - 1


def test_stream_down_fires_and_inhibits_only_that_accounts_camera_alerts(
    control: SimulatorControl,
    scraped: Prometheus,
    alertmanager: Alertmanager,
    webhook: WebhookReceiver,
    restore: dict[str, int],
) -> None:
    stalled, spared = sub_accounts(control.state())[1:3]
    camera = {account["id"]: recording_camera(account) for account in (stalled, spared)}
    for offline in camera.values():
        restore[offline["id"]] = offline["status"]
        control.set_status(offline["id"], Status.OFFLINE)
    for offline in camera.values():
        held(alertmanager, "EenCameraOffline", "active", camera_id=offline["id"])

    # The exporter notices the stall, reconnects, and gets no answer until the reset.
    assert control.stall_streams(stalled["id"]) == 1
    stream_down = held(alertmanager, "EenStreamDown", "active", account_id=stalled["id"])
    assert stream_down["labels"]["account_name"] == stalled["name"]
    assert scraped.alerts("EenStreamDown", account_id=stalled["id"])[0]["state"] == "firing"
    delivered(webhook, "EenStreamDown", "firing", account_id=stalled["id"])

    # The stalled account's camera alert still fires (keep_firing_for), but silently.
    stale_camera = camera[stalled["id"]]["id"]
    muted = held(alertmanager, "EenCameraOffline", "suppressed", camera_id=stale_camera)
    assert muted["status"]["inhibitedBy"] == [stream_down["fingerprint"]]
    assert scraped.alerts("EenCameraOffline", camera_id=stale_camera)[0]["state"] == "firing"
    other = alertmanager.alerts("EenCameraOffline", camera_id=camera[spared["id"]]["id"])
    assert [(a["status"]["state"], a["status"]["inhibitedBy"]) for a in other] == [("active", [])]
    assert not alertmanager.alerts("EenStreamDown", account_id=spared["id"])

    control.reset()
    wait_for(
        lambda: scraped.query(f'een_stream_up{{job="een",account_id="{stalled["id"]}"}} == 1'),
        timeout=FIRING_SECONDS,
        interval=POLL,
        message="the stalled account's stream to be back after the reset",
    )


def test_a_frozen_picture_fires_and_resolves_with_the_next_thumbnail(
    control: SimulatorControl, scraped: Prometheus, webhook: WebhookReceiver, release: Release
) -> None:
    # The exporter is shared by the releases: each release's run has a camera of its own.
    frozen = event_cameras(control.state())[0][RELEASES.index(release)]
    alert = delivered(webhook, "EenCameraPreviewFrozen", "firing", camera_id=frozen["id"])
    assert alert["labels"]["camera_name"] == frozen["name"]
    assert alert["labels"]["bridge_id"] == frozen["bridge_id"]
    assert "event" not in alert["labels"]
    assert alert["annotations"]["description"].endswith(
        "is online and streaming, but has sent no preview thumbnail since the exporter started."
    )
    control.freeze_previews(frozen["id"], False)
    delivered(webhook, "EenCameraPreviewFrozen", "resolved", camera_id=frozen["id"])


def test_stream_loss_fires_with_the_loss(
    control: SimulatorControl, scraped: Prometheus, webhook: WebhookReceiver
) -> None:
    _, lossy = event_cameras(control.state())
    alert = delivered(webhook, "EenCameraStreamLoss", "firing", camera_id=lossy["id"])
    description = alert["annotations"]["description"]
    assert (
        f"did not receive 50% of the packets it expected from camera {lossy['name']}" in description
    )
    losing = {
        d.alert["labels"]["camera_id"] for d in webhook.deliveries("EenCameraStreamLoss", "firing")
    }
    assert losing == {lossy["id"]}


def test_a_bridge_booting_three_times_fires(
    control: SimulatorControl, scraped: Prometheus, webhook: WebhookReceiver
) -> None:
    account = sub_accounts(control.state())[2]
    bridge = next(d for d in account["devices"] if d["type"] == "bridge")
    for code in ("BBOO", "ABRT"):
        control.emit_event(bridge["id"], code)
    assert not scraped.alerts("EenBridgeRestarting", bridge_id=bridge["id"])
    control.emit_event(bridge["id"], "BBOO")
    alert = delivered(webhook, "EenBridgeRestarting", "firing", bridge_id=bridge["id"])
    assert alert["labels"]["bridge_name"] == bridge["name"]
    assert "booted or restarted 3 times in the last 6 hours" in alert["annotations"]["description"]
