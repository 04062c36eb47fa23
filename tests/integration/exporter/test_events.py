"""Poll-stream events, from the simulator over real sockets to /metrics."""

from __future__ import annotations

import calendar
from collections.abc import Callable
from typing import Any

import pytest
import requests

from exporter.app import Exporter
from exporter.een import events
from exporter.simulator import WorldSpec
from exporter.simulator.client import SimulatorControl
from exporter.simulator.world import Status
from tests.integration.conftest import MakeSimulator
from tests.integration.exporter.conftest import (
    PASSWORD,
    USERNAME,
    StartExporter,
    scrape,
    sub_accounts,
    wait_ready,
)
from tests.support import Sample, series, wait_for

Samples = dict[Sample, float]
# The default set plus thumbnails and forced camera restarts (not in the default).
EVENTS = (*events.DEFAULT, "PRTH", "COBC")


def devices(control: SimulatorControl, kind: str) -> list[dict[str, Any]]:
    return [d for a in sub_accounts(control) for d in a["devices"] if d["type"] == kind]


def wait_metric(
    exporter: Exporter, check: Callable[[Samples], bool], message: str, timeout: float = 10.0
) -> Samples:
    def scraped() -> Samples | None:
        samples = scrape(exporter)
        return samples if check(samples) else None

    return wait_for(scraped, timeout=timeout, interval=0.05, message=message)


def delivered(control: SimulatorControl, code: str) -> int:
    return int(control.state()["events"]["delivered"].get(code, 0))


def test_periodic_thumbnails_and_statistics_reach_metrics(
    make_sim: MakeSimulator, start_exporter: StartExporter
) -> None:
    sim = make_sim(
        WorldSpec(accounts=2, bridges=1, cameras=3, seed=11),
        username=USERNAME,
        password=PASSWORD,
        thumbnail_seconds=0.2,
        stream_stats_seconds=0.3,
    )
    control = SimulatorControl(sim.url)
    cameras = devices(control, "camera")
    lossy = next(c for c in cameras if c["status"] == Status.RECORDING)
    control.set_stream_loss(lossy["id"], 0.25)
    exporter = start_exporter(url=sim.url, events=EVENTS)
    wait_ready(exporter)
    streaming = [c for c in cameras if c["status"] in (Status.RECORDING, Status.ONLINE)]

    def every_streaming_camera_counted(samples: Samples) -> bool:
        # CSSU has no een_camera_events_total series by default (EEN_CSSU_EVENT_SERIES): its
        # packet counters say it came.
        return all(
            (series(samples, "een_camera_events_total", camera_id=c["id"], event="PRTH") or 0) >= 2
            and (
                series(samples, "een_camera_stream_packets_expected_total", camera_id=c["id"]) or 0
            )
            > 0
            for c in streaming
        )

    samples = wait_metric(exporter, every_streaming_camera_counted, "thumbnails and statistics")
    for camera in cameras:
        labels = {"camera_id": camera["id"]}
        expected = series(samples, "een_camera_stream_packets_expected_total", **labels)
        received = series(samples, "een_camera_stream_packets_received_total", **labels)
        assert expected is not None
        assert received is not None
        if camera is lossy:  # 1 - rate(received) / rate(expected) is the loss ratio
            assert 1 - received / expected == pytest.approx(0.25, abs=0.02)
        elif camera in streaming:
            assert received == expected > 0
        else:
            assert received == expected == 0
        if camera in streaming:
            at = series(samples, "een_camera_last_event_timestamp_seconds", **labels, event="PRTH")
            assert at is not None
            assert at > 1.7e9
        else:  # pre-initialised, never increased
            assert series(samples, "een_camera_events_total", **labels, event="PRTH") == 0
            assert (
                series(samples, "een_camera_last_event_timestamp_seconds", **labels, event="PRTH")
                == 0
            )


def test_event_timestamps_are_eens_own_to_the_millisecond(
    start_exporter: StartExporter, control: SimulatorControl
) -> None:
    exporter = start_exporter(events=EVENTS)
    wait_ready(exporter)
    esn = devices(control, "camera")[0]["id"]
    control.emit_event(esn, "PRTH", timestamp="20240229235959.999")
    line = wait_for(
        lambda: next(
            (
                line
                for line in requests.get(exporter.url + "/metrics", timeout=5).text.splitlines()
                if line.startswith("een_camera_last_event_timestamp_seconds{")
                and f'camera_id="{esn}",event="PRTH"' in line
                and not line.endswith(" 0.000")
            ),
            None,
        ),
        message="the PRTH timestamp",
    )
    assert line.endswith(f" {calendar.timegm((2024, 2, 29, 23, 59, 59))}.999")


def test_bridge_boots_restarts_and_cloud_disconnects(
    start_exporter: StartExporter, control: SimulatorControl
) -> None:
    exporter = start_exporter()
    wait_ready(exporter)
    esn = devices(control, "bridge")[0]["id"]
    for code in ("BBOO", "ABRT", "ABRT", "CCLD"):
        control.emit_event(esn, code, seconds=42.5)
    control.emit_event(esn, "CCLD", seconds=7)
    samples = wait_metric(
        exporter,
        lambda s: series(s, "een_bridge_cloud_disconnects_total", bridge_id=esn) == 2,
        "two disconnects",
    )
    assert series(samples, "een_bridge_boots_total", bridge_id=esn) == 1
    assert series(samples, "een_bridge_restarts_total", bridge_id=esn) == 2
    assert series(samples, "een_bridge_last_cloud_disconnect_duration_seconds", bridge_id=esn) == 7
    # A real outage, as the churn makes them: the bridge reports it when it is back.
    control.set_status(esn, Status.BRIDGE_OFFLINE)
    control.set_status(esn, Status.BRIDGE_ONLINE)
    wait_metric(
        exporter,
        lambda s: series(s, "een_bridge_cloud_disconnects_total", bridge_id=esn) == 3,
        "the disconnect reported on return",
    )
    other = devices(control, "bridge")[1]["id"]
    assert series(scrape(exporter), "een_bridge_boots_total", bridge_id=other) == 0


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"code": "PRTH", "timestamp": "2024-02-29T23:59:59Z"}, "is not YYYYMMDDhhmmss.xxx"),
        ({"code": "PRTH", "timestamp": "20240230120000.000"}, "has no such date"),
        ({"code": "CSSU", "delta_rcvd": -5}, "delta_rcvd -5 is not a count"),
    ],
)
def test_a_malformed_event_is_one_log_line_and_the_stream_stays(
    start_exporter: StartExporter,
    control: SimulatorControl,
    log_lines: Callable[[], str],
    fields: dict[str, Any],
    reason: str,
) -> None:
    exporter = start_exporter(events=EVENTS, cssu_event_series=True)  # CSSU's count shown
    wait_ready(exporter)
    esn = devices(control, "camera")[0]["id"]
    control.emit_event(esn, **fields)
    control.emit_event(esn, "COBC")  # the next event of the same stream still counts
    samples = wait_metric(
        exporter,
        lambda s: series(s, "een_camera_events_total", camera_id=esn, event="COBC") == 1,
        "the event after the malformed one",
    )
    code = fields["code"]
    assert series(samples, "een_camera_events_total", camera_id=esn, event=code) == 0
    assert (
        series(samples, "een_stream_disconnects_total", account_id=_account_of(control, esn)) == 0
    )
    lines = [line for line in log_lines().splitlines() if "malformed event ignored" in line]
    assert len(lines) == 1, lines
    assert f"device_id={esn}" in lines[0]
    assert f"event={code}" in lines[0]
    assert reason in lines[0]


def _account_of(control: SimulatorControl, esn: str) -> str:
    return str(
        next(a["id"] for a in sub_accounts(control) if any(d["id"] == esn for d in a["devices"]))
    )


def test_the_default_set_leaves_thumbnails_out(
    start_exporter: StartExporter, control: SimulatorControl
) -> None:
    exporter = start_exporter()  # the default set
    wait_ready(exporter)
    camera, bridge = devices(control, "camera")[0]["id"], devices(control, "bridge")[0]["id"]
    assert control.emit_event(camera, "PRTH")["streams"] == 0
    assert control.emit_event(camera, "CSSU")["streams"] == 1
    assert control.emit_event(bridge, "BBOO")["streams"] == 1
    samples = wait_metric(
        exporter,
        lambda s: series(s, "een_bridge_boots_total", bridge_id=bridge) == 1,
        "the boot",
    )
    events_shown = {
        dict(labels)["event"] for name, labels in samples if name == "een_camera_events_total"
    }
    # CSSU is counted by the packet counters; its own per-code series are off by default
    # (issue 21: 100,000 series at 50,000 cameras saying what the counters say).
    assert events_shown == set()
    assert series(samples, "een_camera_stream_packets_expected_total", camera_id=camera) is not None


def test_cssu_event_series_come_back_with_their_setting(
    start_exporter: StartExporter, control: SimulatorControl
) -> None:
    exporter = start_exporter(cssu_event_series=True)  # the default set, CSSU series on
    wait_ready(exporter)
    camera = devices(control, "camera")[0]["id"]
    assert control.emit_event(camera, "CSSU")["streams"] == 1
    samples = wait_metric(
        exporter,
        lambda s: series(s, "een_camera_events_total", camera_id=camera, event="CSSU") == 1,
        "the CSSU count",
    )
    at = series(samples, "een_camera_last_event_timestamp_seconds", camera_id=camera, event="CSSU")
    assert at is not None
    assert at > 1.7e9


def test_only_the_configured_codes_are_subscribed_and_shown(
    start_exporter: StartExporter, control: SimulatorControl
) -> None:
    exporter = start_exporter(events=("COBC",))
    wait_ready(exporter)
    camera, bridge = devices(control, "camera")[0]["id"], devices(control, "bridge")[0]["id"]
    assert control.emit_event(camera, "PRTH")["streams"] == 0
    assert control.emit_event(bridge, "BBOO")["streams"] == 0
    assert control.emit_event(camera, "COBC")["streams"] == 1
    samples = wait_metric(
        exporter,
        lambda s: series(s, "een_camera_events_total", camera_id=camera, event="COBC") == 1,
        "the COBC",
    )
    events = {
        dict(labels)["event"] for name, labels in samples if name == "een_camera_events_total"
    }
    assert events == {"COBC"}
    assert not [
        name
        for name, _ in samples
        if name.startswith(("een_bridge_boots", "een_camera_stream_packets"))
    ]


def test_without_events_the_subscription_is_status_only(
    start_exporter: StartExporter, control: SimulatorControl
) -> None:
    exporter = start_exporter(events=())
    wait_ready(exporter)
    camera = devices(control, "camera")[0]
    assert control.emit_event(camera["id"], "PRTH")["streams"] == 0
    samples = scrape(exporter)
    assert not [
        name for name, _ in samples if "event" in name or name.startswith("een_bridge_boots")
    ]
    assert series(samples, "een_camera_online", camera_id=camera["id"]) == 1


def test_new_devices_are_subscribed_to_their_events(
    start_exporter: StartExporter, control: SimulatorControl
) -> None:
    exporter = start_exporter(device_refresh_seconds=0.5, events=EVENTS)
    wait_ready(exporter)
    account = sub_accounts(control)[0]
    bridge = next(d["id"] for d in account["devices"] if d["type"] == "bridge")
    added = control.add_device(account["id"], "camera", "Side Gate", bridge_id=bridge)
    samples = wait_metric(
        exporter,
        lambda s: series(s, "een_camera_events_total", camera_id=added, event="PRTH") == 0,
        "the new camera's event series",
    )
    assert samples
    wait_for(lambda: control.emit_event(added, "PRTH")["streams"] == 1, message="subscribed")
    wait_metric(
        exporter,
        lambda s: (series(s, "een_camera_events_total", camera_id=added, event="PRTH") or 0) >= 1,
        "the new camera's thumbnail counted",
    )
