"""Records shared by the EEN transport and the state store."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class DeviceKind(enum.Enum):
    CAMERA = "camera"
    BRIDGE = "bridge"


@dataclass(frozen=True, slots=True)
class AccountInfo:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """A device as the device list describes it; `status` is the bitmask at listing time."""

    id: str
    kind: DeviceKind
    name: str
    bridge_id: str  # the camera's bridge; "" for bridges and unattached cameras
    status: int
