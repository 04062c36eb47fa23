"""The values the real cloud sends that carry no news (status 0, "No Change", and anything with
the invalid bit 16, "use whatever status bits were set previously": EENCloud/api-docs
`_api_poll.md`, een-api.md §5) change nothing in /metrics. The simulator's churn sends them
over the exporter's real poll streams."""

from __future__ import annotations

from exporter.simulator.client import SimulatorControl
from tests.integration.exporter.conftest import StartExporter, scrape, sub_accounts, wait_ready
from tests.support import Sample, wait_for

# What a status update may move; een_stream_* counters are left out (the noise is messages).
DEVICE_FAMILIES = {
    "een_camera_online",
    "een_camera_on",
    "een_camera_streaming",
    "een_camera_recording",
    "een_camera_status",
    "een_camera_last_update_timestamp_seconds",
    "een_bridge_online",
}
REGISTERED, ON, STREAMING, RECORDING = 1 << 20, 1 << 17, 1 << 18, 1 << 19


def device_samples(samples: dict[Sample, float]) -> dict[Sample, float]:
    return {key: value for key, value in samples.items() if key[0] in DEVICE_FAMILIES}


def messages(samples: dict[Sample, float]) -> float:
    return sum(v for (name, _), v in samples.items() if name == "een_stream_messages_total")


def updates(samples: dict[Sample, float]) -> dict[Sample, float]:
    name = "een_camera_last_update_timestamp_seconds"
    return {key: value for key, value in samples.items() if key[0] == name}


def world_bits(control: SimulatorControl) -> dict[tuple[str, str], float]:
    """(family, device id) -> the value /metrics must show, from /_sim/state."""
    expected: dict[tuple[str, str], float] = {}
    for account in sub_accounts(control):
        for device in account["devices"]:
            status, esn = device["status"], device["id"]
            if device["type"] == "bridge":
                expected["een_bridge_online", esn] = float(bool(status & REGISTERED))
                continue
            for family, bit in (
                ("een_camera_online", REGISTERED),
                ("een_camera_on", ON),
                ("een_camera_streaming", STREAMING),
                ("een_camera_recording", RECORDING),
            ):
                expected[family, esn] = float(bool(status & bit))
    return expected


def metric_bits(samples: dict[Sample, float]) -> dict[tuple[str, str], float]:
    shown: dict[tuple[str, str], float] = {}
    for (name, labels), value in samples.items():
        ids = dict(labels)
        esn = ids.get("camera_id") or ids.get("bridge_id")
        if esn is not None and name in DEVICE_FAMILIES - {
            "een_camera_status",
            "een_camera_last_update_timestamp_seconds",
        }:
            shown[name, esn] = value
    return shown


def test_status_0_and_invalid_bit_updates_change_nothing_in_metrics(
    start_exporter: StartExporter, control: SimulatorControl
) -> None:
    exporter = start_exporter()
    wait_ready(exporter)
    before = scrape(exporter)
    assert metric_bits(before) == world_bits(control)
    world_before = sub_accounts(control)
    control.set_churn(400, noise=1.0)  # every update is noise: no real change
    try:
        wait_for(
            lambda: messages(scrape(exporter)) >= messages(before) + 100,
            message="the exporter to receive 100 noise updates",
        )
    finally:
        control.set_churn(0)
    after = scrape(exporter)
    assert device_samples(after) == device_samples(before)
    assert sub_accounts(control) == world_before


def test_noise_mixed_into_real_changes_loses_no_change(
    start_exporter: StartExporter, control: SimulatorControl
) -> None:
    exporter = start_exporter()
    wait_ready(exporter)
    before = scrape(exporter)
    control.set_churn(300, noise=0.5)
    try:
        wait_for(
            lambda: messages(scrape(exporter)) >= messages(before) + 150,
            message="the exporter to receive 150 updates",
        )
    finally:
        control.set_churn(0)

    def agrees() -> dict[Sample, float] | None:
        samples = scrape(exporter)
        return samples if metric_bits(samples) == world_bits(control) else None

    after = wait_for(agrees, timeout=5.0, message="/metrics to match /_sim/state")
    # Real changes went through too (a camera's status may have come back to where it was,
    # but its last update moved).
    assert updates(after) != updates(before)
