"""v1 bitmask -> v3 connectionStatus (een-api-v3.md §4.4) and the control API's way back."""

from __future__ import annotations

import pytest

from exporter.simulator.v3.status import (
    ConnectionStatus,
    bitmask_for,
    connection_status,
)
from exporter.simulator.world import DeviceType, Status

CAMERA, BRIDGE = DeviceType.CAMERA, DeviceType.BRIDGE


@pytest.mark.parametrize(
    ("device_type", "bitmask", "expected"),
    [
        (CAMERA, Status.RECORDING, "online"),
        (CAMERA, Status.ONLINE, "online"),
        (CAMERA, Status.OFFLINE, "deviceOffline"),
        (CAMERA, Status.PASSWORD_NEEDED, "invalidCredentials"),
        (CAMERA, Status.INTERNET_OFFLINE, "bridgeOffline"),
        (CAMERA, Status.OFF, "off"),
        (CAMERA, 0x120825, "error"),  # camera error bit 11 wins over "offline"
        (CAMERA, 0x1E0037 | 0x010000, "unknown"),  # v1's invalid bit: nothing is known
        (CAMERA, 0, "unknown"),
        (BRIDGE, Status.BRIDGE_ONLINE, "online"),
        (BRIDGE, Status.BRIDGE_OFFLINE, "deviceOffline"),
        (BRIDGE, 0x000001, "off"),
    ],
)
def test_v1_bitmask_maps_to_the_documented_value(
    device_type: DeviceType, bitmask: int, expected: str
) -> None:
    assert connection_status(device_type, int(bitmask)) == expected


@pytest.mark.parametrize("value", list(ConnectionStatus))
def test_every_value_has_a_camera_bitmask_that_maps_back(value: ConnectionStatus) -> None:
    bitmask = bitmask_for(CAMERA, value)
    assert bitmask is not None
    assert connection_status(CAMERA, bitmask) is value


def test_bridges_have_no_credentials_or_bridge_to_go_offline_through() -> None:
    assert bitmask_for(BRIDGE, ConnectionStatus.INVALID_CREDENTIALS) is None
    assert bitmask_for(BRIDGE, ConnectionStatus.BRIDGE_OFFLINE) is None
    for value in set(ConnectionStatus) - {
        ConnectionStatus.INVALID_CREDENTIALS,
        ConnectionStatus.BRIDGE_OFFLINE,
    }:
        bitmask = bitmask_for(BRIDGE, value)
        assert bitmask is not None
        assert connection_status(BRIDGE, bitmask) is value
