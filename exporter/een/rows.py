"""Parsing of the EEN v1 list endpoints, which answer arrays of arrays (een-api.md §2.2, §3.1).

Rows are read by index and may be longer or (within reason) shorter than documented.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from exporter.state.model import AccountInfo, DeviceInfo, DeviceKind
from exporter.state.status import valid_bitmask

log = logging.getLogger(__name__)


class ProtocolError(Exception):
    """The API answered something that does not have the documented shape."""


# Account list indexes.
ACCOUNT_ID, ACCOUNT_NAME = 0, 1
# Device list indexes.
DEV_ID, DEV_NAME, DEV_TYPE, DEV_LINKS, DEV_SERVICE, DEV_STATUS, DEV_SHARED = 1, 2, 3, 4, 5, 10, 15
ATTACHED = "ATTD"
# Ids are keys and label values: one longer than this, or holding characters that are not
# printable (controls, separators, lone surrogates), would reach /metrics altered
# (exposition.escape, which cuts at the same length) and might then equal another's.
ID_LIMIT = 256


def parse_accounts(payload: object) -> list[AccountInfo]:
    """`GET /g/account/list` → accounts; rows without an id are skipped."""
    rows = _rows(payload, "account list")
    accounts = []
    for row in rows:
        account_id = _id_at(row, ACCOUNT_ID, "account list")
        if account_id:
            accounts.append(AccountInfo(account_id, _str_at(row, ACCOUNT_NAME) or account_id))
    return accounts


def parse_devices(payload: object) -> list[DeviceInfo]:
    """`GET /g/device/list` → the cameras and bridges this account should monitor.

    Cameras count when attached (`ATTD`) and owned by the account (not shared in from another,
    which is monitored where it belongs), as in EEN's own examples.
    """
    devices = []
    for row in _rows(payload, "device list"):
        device = _device(row)
        if device is not None:
            devices.append(device)
    return devices


def _device(row: Sequence[object]) -> DeviceInfo | None:
    esn = _id_at(row, DEV_ID, "device list")
    kind = _kind(_str_at(row, DEV_TYPE))
    if not esn or kind is None:
        return None
    status = _at(row, DEV_STATUS)
    bitmask = valid_bitmask(status)
    if bitmask is None:
        if status is not None:
            log.warning(
                "device list: malformed device status ignored (not an integer from 0 to 2^64-1)",
                extra={"device_id": esn, "status": str(status)[:40]},
            )
        bitmask = 0
    name = _str_at(row, DEV_NAME) or esn
    if kind is DeviceKind.BRIDGE:
        return DeviceInfo(esn, kind, name, "", bitmask)
    if _str_at(row, DEV_SERVICE) != ATTACHED or _at(row, DEV_SHARED) in (1, True):
        return None
    return DeviceInfo(esn, kind, name, _camera_bridge(_at(row, DEV_LINKS)), bitmask)


def _kind(device_type: str) -> DeviceKind | None:
    if device_type == "bridge":
        return DeviceKind.BRIDGE
    # "camera" and the later variants (mobile_camera, multiview_camera, mca_camera).
    if device_type.endswith("camera"):
        return DeviceKind.CAMERA
    return None


def _camera_bridge(links: object) -> str:
    """The bridge a camera is attached to: idx 4 is `[[bridge_esn, service_status], ...]`."""
    if not isinstance(links, list):
        return ""
    pairs: list[tuple[str, object]] = [
        (link[0], link[1] if len(link) > 1 else None)
        for link in links
        if isinstance(link, list) and link and isinstance(link[0], str)
    ]
    attached = [esn for esn, service in pairs if service == ATTACHED]
    return (attached or [esn for esn, _ in pairs] or [""])[0]


def _rows(payload: object, what: str) -> list[list[object]]:
    if not isinstance(payload, list):
        raise ProtocolError(f"{what}: expected a JSON array, got {type(payload).__name__}")
    return [row for row in payload if isinstance(row, list)]


def _at(row: Sequence[object], index: int) -> object:
    return row[index] if index < len(row) else None


def _str_at(row: Sequence[object], index: int) -> str:
    value = _at(row, index)
    return value if isinstance(value, str) else ""


def _id_at(row: Sequence[object], index: int, what: str) -> str:
    """The id at `index`; "" when there is none, or when it is unusable (see ID_LIMIT)."""
    value = _str_at(row, index)
    if value.isprintable() and len(value) <= ID_LIMIT:
        return value
    log.warning(
        f"{what}: row skipped, its id is not printable text of at most {ID_LIMIT} characters",
        extra={"id": value[:40]},
    )
    return ""
