"""The simulated world the e2e run watches, and how tests pick its cameras."""

from __future__ import annotations

from typing import Any

from exporter.simulator import WorldSpec
from exporter.simulator.world import DeviceType, Status

WORLD = WorldSpec(accounts=3, bridges=2, cameras=6, seed=1)
# A world this small is seeded almost all recording, so the first account's last cameras are
# put in every other state a dashboard shows (and that alerts on), before the exporter starts.
DEMO_STATES = (Status.OFF, Status.PASSWORD_NEEDED, Status.INTERNET_OFFLINE, Status.ONLINE)


def sub_accounts(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The accounts of /_sim/state that hold devices (the dealer holds none)."""
    return [account for account in state["accounts"] if account["devices"]]


def cameras(account: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for d in account["devices"] if d["type"] == DeviceType.CAMERA]


def recording_camera(account: dict[str, Any]) -> dict[str, Any]:
    """A camera of the account that is online and recording, i.e. that no alert is about."""
    return next(c for c in cameras(account) if c["status"] == Status.RECORDING)


def event_cameras(state: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(frozen, lossy): recording cameras of the third account that no other e2e test
    touches; before the exporter starts, the frozen ones stop sending thumbnails (one per
    Prometheus release: the frozen-picture test unfreezes its own) and the lossy one's stream
    loses half its packets."""
    third = cameras(sub_accounts(state)[2])
    frozen, lossy = [third[1], third[3]], third[2]
    assert all(camera["status"] == Status.RECORDING for camera in [*frozen, lossy])
    return frozen, lossy
