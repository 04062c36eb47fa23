"""The v3 REST resources on the API host (een-api-v3.md §2-4): clientSettings, accounts, the
current user, cameras and bridges with status, filters and pagination."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from exporter.simulator.http import Request, Response
from exporter.simulator.v3.cloud import V3Cloud
from exporter.simulator.v3.status import ConnectionStatus, connection_status
from exporter.simulator.v3.tokens import AccessToken
from exporter.simulator.v3.wire import ApiError, Key, bad_argument, paginate
from exporter.simulator.world import Account, Device, DeviceType, World

# The world has no creation times; one fixed value keeps listings the same for a seed.
CREATED = "2024-01-15T09:00:00.000+00:00"

# -- small resources -----------------------------------------------------------------------------


def client_settings(request: Request, v3: V3Cloud, token: AccessToken) -> Response:
    return Response.json({"httpsBaseUrl": {"hostname": v3.host, "port": v3.port}})


def accounts(request: Request, v3: V3Cloud, token: AccessToken) -> Response:
    """The token's own account first, then (for a reseller) its end-user accounts (§3.1)."""
    world = v3.cloud.world
    own = world.accounts.get(token.account_id)
    if own is None:
        raise ApiError(404, "resourceNotFound", "the token's account no longer exists")
    visible = [own]
    if own.is_master:
        visible += [a for a in world.accounts.values() if a.id != own.id]
    results = [_account(account) for account in visible]
    return Response.json(
        {"results": results, "nextPageToken": "", "prevPageToken": "", "totalSize": len(results)}
    )


def _account(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "type": "reseller" if account.is_master else "endUser",
        "status": "active",
    }


def current_user(request: Request, v3: V3Cloud, token: AccessToken) -> Response:
    user = v3.cloud.world.user
    return Response.json(
        {
            "id": user.id,
            "accountId": token.account_id,
            "email": user.email,
            "firstName": user.first_name,
            "lastName": user.last_name,
        }
    )


# -- cameras and bridges -------------------------------------------------------------------------

_SHARED_INCLUDES = {
    "status", "locationSummary", "deviceAddress", "timeZone", "notes", "tags", "devicePosition",
    "networkInfo", "deviceInfo", "effectivePermissions", "qRelevance",
}  # fmt: skip
CAMERA_INCLUDES = frozenset(_SHARED_INCLUDES | {
    "firmware", "visibleByBridges", "capabilities", "shareDetails", "analog", "packages",
    "dewarpConfig", "adminCredentials", "publicSafetySharing", "enabledAnalytics",
})  # fmt: skip
BRIDGE_INCLUDES = frozenset(_SHARED_INCLUDES | {"resourceCounts", "resourceStatusCounts"})
_COMMON_PARAMS = frozenset({"pageSize", "pageToken", "include", "sort"})
_BRIDGE_FILTERS = frozenset(
    {"id__in", "id__notIn", "name", "name__in", "name__contains", "status__in", "status__ne"}
)
_CAMERA_FILTERS = _BRIDGE_FILTERS | {"bridgeId__in"}


def list_devices(device_type: DeviceType) -> Callable[[Request, V3Cloud, AccessToken], Response]:
    def handler(request: Request, v3: V3Cloud, token: AccessToken) -> Response:
        world = v3.cloud.world
        params = request.query
        filters = _CAMERA_FILTERS if device_type is DeviceType.CAMERA else _BRIDGE_FILTERS
        unexpected = sorted(set(params) - _COMMON_PARAMS - filters)
        if unexpected:
            raise ApiError(400, "unexpectedArgument", f"Unexpected argument: {unexpected[0]}")
        includes = _includes(params.get("include", ""), device_type)
        devices = _account_devices(world, token.account_id, device_type)
        total = len(devices)
        selected = [d for d in devices if _matches(d, params)]
        page, next_token, prev_token = paginate(selected, params, _device_key)
        results = [device_json(world, device, includes) for device in page]
        return Response.json(
            {
                "results": results,
                "nextPageToken": next_token,
                "prevPageToken": prev_token,
                "totalSize": total,  # the account's devices, not the filtered ones (§4.2)
            }
        )

    return handler


def get_device(
    device_type: DeviceType,
) -> Callable[[Request, V3Cloud, AccessToken, str], Response]:
    def handler(request: Request, v3: V3Cloud, token: AccessToken, device_id: str) -> Response:
        world = v3.cloud.world
        device = world.devices.get(device_id)
        if device is None or device.account_id != token.account_id:
            raise ApiError(404, "resourceNotFound", "The resource was not found")
        if device.type is not device_type:
            raise ApiError(404, "resourceNotFound", "The resource was not found")
        includes = _includes(request.query.get("include", ""), device_type)
        return Response.json(device_json(world, device, includes))

    return handler


def _includes(value: str, device_type: DeviceType) -> frozenset[str]:
    allowed = CAMERA_INCLUDES if device_type is DeviceType.CAMERA else BRIDGE_INCLUDES
    names = frozenset(name for name in value.split(",") if name)
    unknown = sorted(names - allowed)
    if unknown:
        raise bad_argument(f"include: unknown value {unknown[0]}")
    return names


def _account_devices(world: World, account_id: str, device_type: DeviceType) -> list[Device]:
    account = world.accounts.get(account_id)
    if account is None:
        raise ApiError(404, "resourceNotFound", "the token's account no longer exists")
    devices = (world.devices[esn] for esn in account.device_esns)
    return [device for device in devices if device.type is device_type]


def _csv(params: dict[str, str], name: str) -> set[str] | None:
    value = params.get(name)
    return None if value is None else {item for item in value.split(",") if item}


def _statuses(params: dict[str, str], name: str) -> set[str] | None:
    values = _csv(params, name)
    if values is None:
        return None
    valid = {status.value for status in ConnectionStatus}
    unknown = sorted(values - valid)
    if unknown:
        raise bad_argument(f"{name}: {unknown[0]} is not a connectionStatus value")
    return values


def _matches(device: Device, params: dict[str, str]) -> bool:
    status = connection_status(device.type, device.status).value
    name = device.name.casefold()
    checks: list[tuple[set[str] | None, Callable[[set[str]], bool]]] = [
        (_csv(params, "id__in"), lambda ids: device.esn in ids),
        (_csv(params, "id__notIn"), lambda ids: device.esn not in ids),
        (_csv(params, "bridgeId__in"), lambda ids: device.bridge_id in ids),
        (_statuses(params, "status__in"), lambda values: status in values),
        (_statuses(params, "status__ne"), lambda values: status not in values),
        (_csv(params, "name__in"), lambda names: name in {n.casefold() for n in names}),
    ]
    if "name" in params and name != params["name"].casefold():
        return False
    if "name__contains" in params and params["name__contains"].casefold() not in name:
        return False
    return all(wanted is None or check(wanted) for wanted, check in checks)


def device_json(world: World, device: Device, includes: Iterable[str]) -> dict[str, Any]:
    account = world.accounts[device.account_id]
    body: dict[str, Any] = {
        "id": device.esn,
        "accountId": device.account_id,
        "name": device.name,
        "locationId": None,
        "createTimestamp": CREATED,
    }
    is_camera = device.type is DeviceType.CAMERA
    if is_camera:
        if device.bridge_id is not None:  # absent for cameras without a bridge (§4.1)
            body["bridgeId"] = device.bridge_id
        body["multiCameraId"] = None
    for name in includes:
        value = _include_value(world, device, account, name)
        if value is not None:
            body[name] = value
    return body


def _include_value(world: World, device: Device, account: Account, name: str) -> Any:
    """The simulated value of one `include`; None for those the simulator does not model."""
    if name == "status":
        return {"connectionStatus": connection_status(device.type, device.status).value}
    if name == "tags":
        return []
    if name == "timeZone":
        return {"zone": account.timezone}
    if name == "deviceInfo":
        if device.type is DeviceType.BRIDGE:
            return {"icon": "bridge", "serialNumber": device.serial_number, "guid": device.guid}
        direct = device.bridge_id is None
        return {"icon": "securityCamera", "directToCloud": direct, "make": "Simulated",
                "model": "SIM-CAM", "guid": device.guid}  # fmt: skip
    if name == "resourceCounts":
        return {"cameras": len(device.camera_esns), "speakers": 0, "multiCameras": 0}
    if name == "resourceStatusCounts":
        counts = dict.fromkeys((status.value for status in ConnectionStatus), 0)
        for esn in device.camera_esns:
            camera = world.devices[esn]
            counts[connection_status(camera.type, camera.status).value] += 1
        return {"cameras": counts, "multiCameras": dict.fromkeys(counts, 0)}
    return None


# -- pagination -----------------------------------------------------------------------------------


def _device_key(device: Device) -> Key:
    return (device.name.casefold(), device.esn)
