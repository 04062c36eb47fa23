"""Values EEN may add later (OAS: "new values might be added in the future, clients are
advised to handle unknown values"): an undocumented connectionStatus, at discovery and through
the stream, and an event of a type the exporter never asked for. /metrics keeps equal to the
world: a camera in an undocumented status shows 0 in every documented status (stream.py
`Undocumented`), and the stream passes over the unknown event."""

from __future__ import annotations

from typing import Any

import requests

from exporter.simulator import Simulator
from tests.integration.v3.conftest import (
    StartExporter,
    expected,
    scrape,
    set_status,
    shown,
    truth,
    wait_ready,
)
from tests.support import wait_for

TIMEOUT = 10


def overrides(sim: Simulator) -> dict[str, str]:
    state = requests.get(f"{sim.url}/_sim/v3/state", timeout=TIMEOUT).json()
    return dict(state["status_overrides"])


def world_now(sim: Simulator) -> dict[str, dict[str, tuple[str, str]]]:
    """expected(truth) with the cameras in an undocumented status left out: no documented
    status of theirs is 1."""
    hidden = overrides(sim)
    return {
        account: {esn: value for esn, value in devices.items() if esn not in hidden}
        for account, devices in expected(truth(sim)).items()
    }


def wait_equal(exporter: Any, sim: Simulator) -> None:
    wait_for(
        lambda: shown(scrape(exporter)) == world_now(sim),
        timeout=10.0,
        message="/metrics to equal the world, undocumented statuses left out",
    )


def set_undocumented(sim: Simulator, esn: str, status: str) -> None:
    response = requests.put(
        f"{sim.url}/_sim/v3/devices/{esn}/status",
        json={"connectionStatus": status, "undocumented": True},
        timeout=TIMEOUT,
    )
    assert response.status_code == 204, response.text


def cameras_of(sim: Simulator) -> list[tuple[str, str]]:
    """(account id, camera id) of every camera, in the world's order."""
    return [
        (account, esn)
        for account, devices in truth(sim).items()
        for esn, (kind, _) in devices.items()
        if kind == "camera"
    ]


def test_undocumented_statuses_and_event_types(
    sim: Simulator, start_exporter: StartExporter
) -> None:
    (account, first), (_, second), (_, third) = cameras_of(sim)[:3]
    set_undocumented(sim, first, "hibernating")  # seen first by the REST listing at discovery
    exporter = start_exporter()
    wait_ready(exporter)
    wait_equal(exporter, sim)
    assert overrides(sim) == {first: "hibernating"}

    set_undocumented(sim, second, "napping")  # seen first through the stream
    wait_equal(exporter, sim)
    assert shown(scrape(exporter))[account].get(second) is None

    future = {
        "id": "future-1",
        "type": "een.futureDeviceThingEvent.v9",
        "actorType": "camera",
        "actorId": third,
        "actorAccountId": account,
        "startTimestamp": "2026-01-01T00:00:00.000+00:00",
        "endTimestamp": None,
        "span": False,
        "data": [{"type": "een.futureThing.v9", "newStatus": {"connectionStatus": "online"}}],
    }
    response = requests.post(
        f"{sim.url}/_sim/faults/v3/sse-event",
        json={"account_id": account, "event": future},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    assert response.json()["streams"] >= 1
    # The stream lives on: documented changes still arrive, the undocumented ones end.
    for esn, status in ((first, "online"), (second, "off"), (third, "deviceOffline")):
        set_status(sim, esn, status)
    wait_equal(exporter, sim)
    assert overrides(sim) == {}
    assert shown(scrape(exporter))[account][third] == ("camera", "deviceOffline")
