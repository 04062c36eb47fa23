"""Decoding of the EEN device status: v1's bitmask (een-api.md §5), v3's connectionStatus
(een-api-v3.md §4.3).

>>> decode_camera(0x1E0037).status
<CameraStatus.ONLINE: 'online'>
>>> decode_camera(0) is None   # "no change": keep the previous state
True
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from exporter.state.model import Status

REGISTERED = 1 << 20  # "camera online": the device has a cloud connection
RECORDING = 1 << 19
STREAMING = 1 << 18
ON = 1 << 17  # user setting
INVALID = 1 << 16  # status unknown: keep the previous one
PASSWORD_NEEDED = 1 << 8
DECODED = REGISTERED | RECORDING | STREAMING | ON | INVALID | PASSWORD_NEEDED  # what is read
MAX_BITMASK = 2**64 - 1  # the widest status EEN sends is status64


# API v3's documented connectionStatus values: een_camera_status's label values in v3 mode.
CONNECTION_STATUSES = (
    "online",
    "deviceOffline",
    "invalidCredentials",
    "bridgeOffline",
    "off",
    "error",
    "unknown",
)
CONNECTED = "online"
# What the store holds for any other value (EEN may add some): one string, however many
# distinct values arrive. /metrics shows it as every undocumented value, 0 in all seven.
UNDOCUMENTED = "undocumented"
_DOCUMENTED = frozenset(CONNECTION_STATUSES)


def documented(connection_status: str) -> str:
    """The value itself if EEN documents it ("" too: not known yet), else UNDOCUMENTED.

    >>> documented("bridgeOffline"), documented("someDayNewValue"), documented("")
    ('bridgeOffline', 'undocumented', '')
    """
    if not connection_status or connection_status in _DOCUMENTED:
        return connection_status
    return UNDOCUMENTED


class CameraStatus(enum.Enum):
    """The overall status EEN's own UI shows for a camera."""

    ONLINE = "online"
    OFFLINE = "offline"
    INTERNET_OFFLINE = "internet_offline"
    PASSWORD_NEEDED = "password_needed"  # noqa: S105 (a status name, not a password)
    OFF = "off"


@dataclass(frozen=True, slots=True)
class CameraState:
    online: bool
    on: bool
    streaming: bool
    recording: bool
    status: CameraStatus


def valid_bitmask(value: object) -> int | None:
    """`value` if it is a status bitmask (an integer from 0 to 2^64 - 1), else None.

    Larger or negative values are malformed, not to be decoded from their low bits.

    >>> valid_bitmask(0x1E0037), valid_bitmask(2**64 + 0x20024), valid_bitmask(-1)
    (1966135, None, None)
    """
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_BITMASK:
        return value
    return None


def is_informative(bitmask: int) -> bool:
    """False for the values EEN uses to mean "no change": 0 and anything with the invalid bit."""
    return bitmask != 0 and not bitmask & INVALID


def is_known(status: Status) -> bool:
    """Whether a status says something: a v3 value (any, "unknown" included) or an
    informative v1 bitmask."""
    return bool(status) if isinstance(status, str) else is_informative(status)


def overall_status(bitmask: int) -> CameraStatus:
    """EEN's UI rule: off, internet offline, online, password needed, else offline."""
    if not bitmask & ON:
        return CameraStatus.OFF
    if not bitmask & REGISTERED:
        return CameraStatus.INTERNET_OFFLINE
    if bitmask & STREAMING:
        return CameraStatus.ONLINE
    if bitmask & PASSWORD_NEEDED:
        return CameraStatus.PASSWORD_NEEDED
    return CameraStatus.OFFLINE


def decode_camera(bitmask: int) -> CameraState | None:
    """The camera's state, or None when the bitmask carries no information."""
    if not is_informative(bitmask):
        return None
    return CameraState(
        online=bool(bitmask & REGISTERED),
        on=bool(bitmask & ON),
        streaming=bool(bitmask & STREAMING),
        recording=bool(bitmask & RECORDING),
        status=overall_status(bitmask),
    )


def decoded_bits(bitmask: int) -> int:
    """The bits decoding reads, plus bit 0 for "not 0": bitmasks equal here decode equally.

    >>> decoded_bits(0x1E0037) == decoded_bits(0x1E0001)  # bits 1, 2, 4 and 5 mean nothing
    True
    >>> decode_camera(decoded_bits(2)) == decode_camera(2)  # informative, though no bit is set
    True
    """
    return bitmask & DECODED | (bitmask != 0)


def decode_bridge(bitmask: int) -> bool | None:
    """Whether a bridge is online (bridges never set the streaming bit); None if unknown."""
    if not is_informative(bitmask):
        return None
    return bool(bitmask & REGISTERED)
