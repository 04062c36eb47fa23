"""v3's `connectionStatus` values (een-api-v3.md §4.3) and how the simulator derives them from
the world's v1 status bitmasks (§4.4), and back for the control API."""

from __future__ import annotations

import enum

from exporter.simulator.world import Bit, DeviceType, Status

CAMERA_ERROR = 0x000800  # v1 bit 11 "camera error" (een-api.md §5)


class ConnectionStatus(enum.StrEnum):
    ONLINE = "online"
    DEVICE_OFFLINE = "deviceOffline"
    INVALID_CREDENTIALS = "invalidCredentials"
    BRIDGE_OFFLINE = "bridgeOffline"
    OFF = "off"
    ERROR = "error"
    UNKNOWN = "unknown"


def connection_status(device_type: DeviceType, status: int) -> ConnectionStatus:
    """The v3 value for a device's v1 bitmask.

    >>> connection_status(DeviceType.CAMERA, 0x1E0037)
    <ConnectionStatus.ONLINE: 'online'>
    >>> connection_status(DeviceType.CAMERA, 0x020024)
    <ConnectionStatus.BRIDGE_OFFLINE: 'bridgeOffline'>
    >>> connection_status(DeviceType.BRIDGE, 0x020000)
    <ConnectionStatus.DEVICE_OFFLINE: 'deviceOffline'>
    """
    if status == 0 or status & Bit.INVALID:
        return ConnectionStatus.UNKNOWN
    if status & CAMERA_ERROR:
        return ConnectionStatus.ERROR
    if not status & Bit.ON:
        return ConnectionStatus.OFF
    if device_type is DeviceType.BRIDGE:
        registered = status & Bit.REGISTERED
        return ConnectionStatus.ONLINE if registered else ConnectionStatus.DEVICE_OFFLINE
    if not status & Bit.REGISTERED:
        return ConnectionStatus.BRIDGE_OFFLINE  # v1's "Internet Offline": no cloud link
    if status & Bit.STREAMING:
        return ConnectionStatus.ONLINE
    if status & Bit.PASSWORD_NEEDED:
        return ConnectionStatus.INVALID_CREDENTIALS
    return ConnectionStatus.DEVICE_OFFLINE


# One realistic v1 bitmask per v3 value, for the control API's PUT .../v3/.../status.
_CAMERA_BITMASKS = {
    ConnectionStatus.ONLINE: int(Status.RECORDING),
    ConnectionStatus.DEVICE_OFFLINE: int(Status.OFFLINE),
    ConnectionStatus.INVALID_CREDENTIALS: int(Status.PASSWORD_NEEDED),
    ConnectionStatus.BRIDGE_OFFLINE: int(Status.INTERNET_OFFLINE),
    ConnectionStatus.OFF: int(Status.OFF),
    ConnectionStatus.ERROR: int(Status.OFFLINE) | CAMERA_ERROR,
    ConnectionStatus.UNKNOWN: int(Bit.INVALID),
}
_BRIDGE_BITMASKS = {
    ConnectionStatus.ONLINE: int(Status.BRIDGE_ONLINE),
    ConnectionStatus.DEVICE_OFFLINE: int(Status.BRIDGE_OFFLINE),
    ConnectionStatus.OFF: int(Bit.DEPRECATED_ONLINE),
    ConnectionStatus.ERROR: int(Status.BRIDGE_ONLINE) | CAMERA_ERROR,
    ConnectionStatus.UNKNOWN: int(Bit.INVALID),
}


def bitmask_for(device_type: DeviceType, value: ConnectionStatus) -> int | None:
    """A v1 bitmask that maps to `value`, or None when that device type cannot have it."""
    table = _CAMERA_BITMASKS if device_type is DeviceType.CAMERA else _BRIDGE_BITMASKS
    return table.get(value)
