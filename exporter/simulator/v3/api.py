"""The v3 REST resources on the API host (een-api-v3.md §2-4): clientSettings, accounts, the
current user, cameras and bridges with status, filters and pagination."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from exporter.simulator.http import Request, Response
from exporter.simulator.v3.cloud import V3Cloud
from exporter.simulator.v3.readings import BridgeIdReading
from exporter.simulator.v3.status import ConnectionStatus, connection_status
from exporter.simulator.v3.tokens import AccessToken
from exporter.simulator.v3.wire import ApiError, Key, bad_argument, descending, paginate
from exporter.simulator.world import Account, Device, DeviceType, World

# The world has no creation times; one fixed value keeps listings the same for a seed.
CREATED = "2024-01-15T09:00:00.000+00:00"

# -- small resources -----------------------------------------------------------------------------


def client_settings(request: Request, v3: V3Cloud, token: AccessToken) -> Response:
    return Response.json({"httpsBaseUrl": v3.base_url()})


# -- accounts and the current user (user_and_accounts_category.yaml) ---------------------------

ACCOUNT_INCLUDES = frozenset({
    "effectivePermissions", "timeZone", "workingHours", "security", "passwordManagementRules",
    "firstResponders", "defaultCameraSettings", "videoPrivacy", "bridgeSettings",
    "cameraSettings", "brandingInfo", "resourceCounts", "resourceStatusCounts",
    "deviceAnomalyCounts", "statistics", "packages", "roleSettings",
})  # fmt: skip
USER_INCLUDES = frozenset({
    "loginDetails", "locationSummary", "contactDetails", "timeZone", "support", "status",
    "permissions", "layoutSettings", "previewSettings", "effectivePermissions", "timeSettings",
})  # fmt: skip
# The world has no editions; one documented-looking id for every account.
EDITION_ID = "simulated"
USER_LANGUAGE = "en"


def accounts(request: Request, v3: V3Cloud, token: AccessToken) -> Response:
    """The token's own account first, then (for a reseller) its end-user accounts (§3.1)."""
    params = request.query
    # The OAS lists only include and sort, but answers with page tokens: paging is accepted
    # too (one page holds every account here).
    _refuse_unexpected(params, {"include", "sort", "pageSize", "pageToken"})
    includes = _names(params.get("include", ""), ACCOUNT_INCLUDES)
    world = v3.cloud.world
    own = world.accounts.get(token.account_id)
    if own is None:
        raise ApiError(404, "resourceNotFound", "the token's account no longer exists")
    others = []
    if own.is_master:
        others = [a for a in world.accounts.values() if a.id != own.id]
    if "sort" in params:  # sort1: only +name or -name, one of them
        if params["sort"].replace(" ", "+") not in ("+name", "-name"):
            raise bad_argument('sort: one of "+name" or "-name"')
        others.sort(key=lambda a: a.name.casefold(), reverse=params["sort"] == "-name")
    results = [_account(v3, world, account, includes) for account in [own, *others]]
    return Response.json(
        {"results": results, "nextPageToken": "", "prevPageToken": "", "totalSize": len(results)}
    )


def _account(v3: V3Cloud, world: World, account: Account, includes: frozenset[str]) -> Any:
    kind = v3.readings.master_type.value if account.is_master else "endUserAccount"
    body: dict[str, Any] = {
        "id": account.id,
        "name": account.name,
        "editionId": EDITION_ID,
        "type": kind,
        "status": "active",
        "customerId": account.customer_id,
    }
    devices = [world.devices[esn] for esn in account.device_esns]
    cameras = [d for d in devices if d.type is DeviceType.CAMERA]
    bridges = [d for d in devices if d.type is DeviceType.BRIDGE]
    if "timeZone" in includes:
        body["timeZone"] = {"timeZone": account.timezone}  # TimeZone1
    if "packages" in includes:
        body["packages"] = []
    if "effectivePermissions" in includes:
        body["effectivePermissions"] = {"read": True, "edit": True}
    if "resourceCounts" in includes:
        body["resourceCounts"] = {"cameras": len(cameras), "bridges": len(bridges)}
    if "resourceStatusCounts" in includes:
        body["resourceStatusCounts"] = {
            "cameras": _status_counts(cameras, CAMERA_STATUSES),
            "bridges": _status_counts(bridges, BRIDGE_STATUSES),
        }
    return body


def current_user(request: Request, v3: V3Cloud, token: AccessToken) -> Response:
    params = request.query
    _refuse_unexpected(params, {"include"})
    includes = _names(params.get("include", ""), USER_INCLUDES)
    world = v3.cloud.world
    user = world.user
    account = world.accounts.get(token.account_id)
    body: dict[str, Any] = {
        "id": user.id,
        "accountId": token.account_id,
        "email": user.email,
        "firstName": user.first_name,
        "lastName": user.last_name,
        "createTimestamp": CREATED,
        "locationId": None,
        "language": USER_LANGUAGE,
        "employeeId": None,
    }
    values: dict[str, Any] = {
        "timeZone": {"timeZone": account.timezone if account else "UTC"},
        "status": {"loginStatus": "active"},
        "loginDetails": {"lastLogin": v3.started_at},
        "contactDetails": {"alternateEmail": user.email},
        "support": {"pin": "000000"},
        "permissions": {"administrator": True},
        "layoutSettings": {"rotationInterval": 0, "rotationOrder": []},
        "previewSettings": {"showMotionBoxes": False, "showAnalytics": False},
        "effectivePermissions": {"read": True, "edit": True, "delete": False},
        "timeSettings": {"showMilliseconds": False, "format": "24h"},
    }
    # locationSummary: the user has no location (locationId null), so there is none to show.
    body.update({name: value for name, value in values.items() if name in includes})
    return Response.json(body)


def _refuse_unexpected(params: dict[str, str], allowed: set[str] | frozenset[str]) -> None:
    unexpected = sorted(set(params) - set(allowed))
    if unexpected:
        raise ApiError(400, "unexpectedArgument", f"Unexpected argument: {unexpected[0]}")


def _names(value: str, allowed: frozenset[str], what: str = "include") -> frozenset[str]:
    names = frozenset(name for name in value.split(",") if name)
    unknown = sorted(names - allowed)
    if unknown:
        raise bad_argument(f"{what}: unknown value {unknown[0]}")
    return names


# -- cameras and bridges (devices_category.yaml) ----------------------------------------------

_SHARED_INCLUDES = {
    "status", "locationSummary", "deviceAddress", "timeZone", "notes", "tags", "devicePosition",
    "networkInfo", "deviceInfo", "effectivePermissions", "qRelevance",
}  # fmt: skip
CAMERA_INCLUDES = frozenset(_SHARED_INCLUDES | {
    "firmware", "visibleByBridges", "capabilities", "shareDetails", "analog", "packages",
    "dewarpConfig", "adminCredentials", "publicSafetySharing", "enabledAnalytics",
})  # fmt: skip
BRIDGE_INCLUDES = frozenset(_SHARED_INCLUDES | {"resourceCounts", "resourceStatusCounts"})
_PAGING = frozenset({"pageSize", "pageToken", "include", "sort"})
# Every documented query parameter of GET /cameras and GET /bridges (devices_category.yaml).
BRIDGE_PARAMS = _PAGING | {
    "locationId__in", "tags__contains", "tags__any", "name__contains", "name__in", "name",
    "id__in", "id__contains", "q", "qRelevance__gte", "status__in", "status__ne",
}  # fmt: skip
CAMERA_PARAMS = BRIDGE_PARAMS | {
    "bridgeId__in", "multiCameraId", "multiCameraId__ne", "multiCameraId__in",
    "packages__contains", "layoutId", "id__notIn", "shareDetails.shared",
    "shareDetails.accountId", "shareDetails.firstResponder", "deviceInfo.directToCloud",
    "speakerId__in", "enabledAnalytics__contains",
}  # fmt: skip
CAMERA_SORTS = frozenset({"name", "locationSummary.name", "bridgeSummary.name", "qRelevance"})
BRIDGE_SORTS = frozenset({"name", "locationSummary.name", "qRelevance"})
MAX_SORTS = 3
CAMERA_STATUSES = [status.value for status in ConnectionStatus]
BRIDGE_STATUSES = ["online", "deviceOffline", "unknown"]  # BridgeStatusCounts


def list_devices(device_type: DeviceType) -> Callable[[Request, V3Cloud, AccessToken], Response]:
    def handler(request: Request, v3: V3Cloud, token: AccessToken) -> Response:
        world = v3.cloud.world
        params = request.query
        camera = device_type is DeviceType.CAMERA
        _refuse_unexpected(params, CAMERA_PARAMS if camera else BRIDGE_PARAMS)
        includes = _includes(params.get("include", ""), device_type)
        sort = _sort(params, CAMERA_SORTS if camera else BRIDGE_SORTS)
        query = _Query(params)
        devices = _account_devices(world, token.account_id, device_type)
        total = len(devices)
        selected = [d for d in devices if query.matches(d, v3.events.status_of(d))]
        order = ",".join(f"{'-' if down else '+'}{name}" for name, down in sort)
        page, next_token, prev_token = paginate(
            selected, params, lambda d: _sort_key(world, d, sort, query), order
        )
        results = [device_json(v3, device, includes, query) for device in page]
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
        _refuse_unexpected(request.query, {"include"})
        device = world.devices.get(device_id)
        if device is None or device.account_id != token.account_id:
            raise ApiError(404, "resourceNotFound", "The resource was not found")
        if device.type is not device_type:
            raise ApiError(404, "resourceNotFound", "The resource was not found")
        # includeForSingle: the list's values but qRelevance (and, for cameras, the two
        # sharing ones: adminCredentials and publicSafetySharing are list-only in the OAS).
        includes = _includes(request.query.get("include", ""), device_type, single=True)
        return Response.json(device_json(v3, device, includes, None))

    return handler


_SINGLE_ONLY_OUT = frozenset({"qRelevance", "adminCredentials", "publicSafetySharing"})


def _includes(value: str, device_type: DeviceType, single: bool = False) -> frozenset[str]:
    allowed = CAMERA_INCLUDES if device_type is DeviceType.CAMERA else BRIDGE_INCLUDES
    if single:
        allowed = allowed - _SINGLE_ONLY_OUT
    return _names(value, allowed)


def _sort(params: dict[str, str], fields: frozenset[str]) -> list[tuple[str, bool]]:
    """The `sort` parameter as (field, descending) pairs, refused as the OAS describes: empty,
    repeated or contradicting fields, more than three, qRelevance without q."""
    value = params.get("sort")
    if value is None:
        return [("name", False)]
    spec: list[tuple[str, bool]] = []
    items = value.split(",")
    if len(items) > MAX_SORTS:
        raise bad_argument(f"sort: at most {MAX_SORTS} fields")
    for item in items:
        # A raw "+" in a query string decodes to a space; take it as the "+" it was meant as.
        sign, name = item[:1].replace(" ", "+"), item[1:]
        if sign not in ("+", "-") or name not in fields:
            raise bad_argument(f"sort: unknown value {item!r}")
        if any(name == seen for seen, _ in spec):
            raise bad_argument(f"sort: {name} given twice")
        if name == "qRelevance" and "q" not in params:
            raise bad_argument("sort: qRelevance needs the q parameter")
        spec.append((name, sign == "-"))
    return spec


def _sort_key(world: World, device: Device, sort: list[tuple[str, bool]], query: _Query) -> Key:
    parts: list[Any] = []
    for name, down in sort:
        if name == "qRelevance":
            relevance = query.relevance(device)
            parts.append(-relevance if down else relevance)
            continue
        if name == "name":
            text = device.name.casefold()
        elif name == "bridgeSummary.name":
            bridge = world.devices.get(device.bridge_id or "")
            text = bridge.name.casefold() if bridge is not None else ""
        else:  # locationSummary.name: no simulated device has a location
            text = ""
        parts.append(descending(text) if down else text)
    return (*parts, device.esn)


def _account_devices(world: World, account_id: str, device_type: DeviceType) -> list[Device]:
    account = world.accounts.get(account_id)
    if account is None:
        raise ApiError(404, "resourceNotFound", "the token's account no longer exists")
    devices = (world.devices[esn] for esn in account.device_esns)
    return [device for device in devices if device.type is device_type]


def _csv(params: dict[str, str], name: str) -> set[str] | None:
    value = params.get(name)
    return None if value is None else {item for item in value.split(",") if item}


def _casefolded(params: dict[str, str], name: str) -> set[str] | None:
    values = _csv(params, name)
    return None if values is None else {value.casefold() for value in values}


def _boolean(params: dict[str, str], name: str) -> bool | None:
    value = params.get(name)
    if value is None:
        return None
    if value.lower() not in ("true", "false"):
        raise bad_argument(f"{name} must be true or false")
    return value.lower() == "true"


def _statuses(params: dict[str, str], name: str) -> set[str] | None:
    values = _csv(params, name)
    if values is None:
        return None
    valid = {status.value for status in ConnectionStatus}
    unknown = sorted(values - valid)
    if unknown:
        raise bad_argument(f"{name}: {unknown[0]} is not a connectionStatus value")
    return values


_ABSENT_LISTS = (
    "locationId__in", "tags__contains", "tags__any", "multiCameraId__in", "packages__contains",
    "speakerId__in", "enabledAnalytics__contains",
)  # fmt: skip


class _Query:
    """The filters of one listing, checked once. The world has no tags, locations, layouts,
    shares, speakers, packages, analytics or multi-cameras: filters on those are honoured
    against that (a list of tags matches no device, `shareDetails.shared=false` every one)."""

    def __init__(self, params: dict[str, str]) -> None:
        self.ids = _casefolded(params, "id__in")
        self.not_ids = _casefolded(params, "id__notIn")
        self.id_part = params.get("id__contains", "").casefold()
        self.bridges = _casefolded(params, "bridgeId__in")
        self.status_in = _statuses(params, "status__in")
        self.status_ne = _statuses(params, "status__ne")
        self.name = params["name"].casefold() if "name" in params else None
        self.names = _casefolded(params, "name__in")
        self.name_part = params.get("name__contains", "").casefold()
        self.direct = _boolean(params, "deviceInfo.directToCloud")
        self.q = params["q"].casefold() if "q" in params else None
        self.min_relevance = self._relevance_threshold(params.get("qRelevance__gte"))
        # Lists of things no simulated device has: a non-empty one matches nothing.
        self.impossible = any(_csv(params, name) for name in _ABSENT_LISTS)
        self.impossible |= "layoutId" in params or "shareDetails.accountId" in params
        self.impossible |= bool(_boolean(params, "shareDetails.shared"))
        self.impossible |= bool(_boolean(params, "shareDetails.firstResponder"))
        # multiCameraId: every simulated camera has multiCameraId null.
        multi = params.get("multiCameraId")
        self.impossible |= multi is not None and multi != "null"
        self.impossible |= params.get("multiCameraId__ne") == "null"

    @staticmethod
    def _relevance_threshold(value: str | None) -> float:
        if value is None:
            return 0.5  # the OAS default
        try:
            threshold = float(value)
        except ValueError:
            raise bad_argument("qRelevance__gte must be a number") from None
        if not 0.0 <= threshold <= 1.0:
            raise bad_argument("qRelevance__gte must be between 0 and 1")
        return threshold

    def relevance(self, device: Device) -> float:
        """1 when q is found in the device's id, name or bridge id; 0 otherwise."""
        if self.q is None:
            return 0.0
        fields = (device.esn, device.name, device.bridge_id or "", device.account_id)
        return 1.0 if any(self.q in field.casefold() for field in fields) else 0.0

    def matches(self, device: Device, status: str) -> bool:
        if self.impossible:
            return False
        esn, name = device.esn.casefold(), device.name.casefold()
        checks = (
            self.ids is None or esn in self.ids,
            self.not_ids is None or esn not in self.not_ids,
            self.id_part in esn,
            self.bridges is None or (device.bridge_id or "").casefold() in self.bridges,
            self.status_in is None or status in self.status_in,
            self.status_ne is None or status not in self.status_ne,
            self.name is None or name == self.name,
            self.names is None or name in self.names,
            self.name_part in name,
            self.direct is None or (device.bridge_id is None) == self.direct,
            self.q is None or self.relevance(device) >= self.min_relevance,
        )
        return all(checks)


def device_json(
    v3: V3Cloud, device: Device, includes: Iterable[str], query: _Query | None
) -> dict[str, Any]:
    world = v3.cloud.world
    account = world.accounts[device.account_id]
    body: dict[str, Any] = {
        "id": device.esn,
        "accountId": device.account_id,
        "name": device.name,
        "locationId": None,
        "createTimestamp": CREATED,
    }
    if device.type is DeviceType.CAMERA:
        if device.bridge_id is not None:
            body["bridgeId"] = device.bridge_id
        elif v3.readings.bridge_id is BridgeIdReading.NULL:
            body["bridgeId"] = None  # required by ApiCameraMain; see readings.py
        body["multiCameraId"] = None
    for name in includes:
        if name == "qRelevance":
            if query is not None and query.q is not None:
                body[name] = query.relevance(device)
            continue
        value = _include_value(world, device, account, name)
        if name == "status":
            value = {"connectionStatus": v3.events.status_of(device)}
        if value is not None:
            body[name] = value
    return body


_CAMERA_PERMISSIONS = (
    "read", "addToLayout", "viewPreviewVideo", "viewLiveVideo", "viewHistoricVideo", "turnOnOff",
    "controlPTZ", "editPTZStations", "downloadVideo", "delete", "editBillingSettings",
    "editNoBillingSettings", "editMotionAreas", "talkDown",
)  # fmt: skip


_BRIDGE_PERMISSIONS = ("read", "delete", "editBillingSettings", "editNoBillingSettings")


def _include_value(world: World, device: Device, account: Account, name: str) -> Any:
    """The simulated value of one `include`; None leaves it out (dewarpConfig: no simulated
    camera is a fisheye; locationSummary: no device has a location)."""
    camera = device.type is DeviceType.CAMERA
    fixed: dict[str, Any] = {
        "tags": [],
        "notes": "",
        "deviceAddress": {},
        "devicePosition": {},
        "timeZone": {"zone": account.timezone},
        "firmware": {"currentVersion": "een-sim"},
        "capabilities": {
            "ptz": {"capable": False},
            "audio": {},
            "imageTuning": {},
            "io": {"capable": False},
            "varifocal": False,
        },
        "shareDetails": {
            "shared": False,
            "firstResponder": False,
            "accountId": None,
            "accountName": None,
        },
        "analog": {"input": None},
        "packages": [],
        "adminCredentials": {},
        "publicSafetySharing": {"enabled": False},
        "enabledAnalytics": [],
    }
    if name in fixed:
        return fixed[name]
    if name == "status":
        return {"connectionStatus": connection_status(device.type, device.status).value}
    if name == "networkInfo":
        return {"ipUsedByBridge": device.ip_address, "adapters": []}
    if name == "visibleByBridges":
        return [device.bridge_id] if device.bridge_id is not None else []
    if name == "effectivePermissions":
        if camera:
            return dict.fromkeys(_CAMERA_PERMISSIONS, True)
        return dict.fromkeys(_BRIDGE_PERMISSIONS, True)
    if name == "deviceInfo":
        if device.type is DeviceType.BRIDGE:
            return {"icon": "bridge", "serialNumber": device.serial_number, "guid": device.guid}
        direct = device.bridge_id is None
        return {"icon": "securityCamera", "directToCloud": direct, "make": "Simulated",
                "model": "SIM-CAM", "guid": device.guid}  # fmt: skip
    if name == "resourceCounts":
        return {"cameras": len(device.camera_esns), "speakers": 0, "multiCameras": 0}
    if name == "resourceStatusCounts":
        cameras = [world.devices[esn] for esn in device.camera_esns]
        counts = _status_counts(cameras, CAMERA_STATUSES)
        return {"cameras": counts, "multiCameras": dict.fromkeys(counts, 0)}
    return None


def _status_counts(devices: list[Device], statuses: list[str]) -> dict[str, int]:
    counts = dict.fromkeys(statuses, 0)
    for device in devices:
        status = connection_status(device.type, device.status).value
        counts[status if status in counts else "unknown"] += 1
    return counts
