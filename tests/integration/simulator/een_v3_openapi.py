"""What EEN's v3 OpenAPI files say about the answers een-sim gives, as JSON Schemas of our own.

Facts (field names, types, enums, required lists, ranges) taken from EEN's public repository
EENCloud/VMS-Developer-Portal, "Open API Specifications/":
  [UA]  user_and_accounts_category.yaml, commit 3c52fe03f9fa734d79efb16b8a2048231ded53e3
  [DEV] devices_category.yaml, commit e7fc2c8ae9db70bb6b8eabf2a692def99c4b9950
  [EV]  events_category.yaml, commit e7fc2c8ae9db70bb6b8eabf2a692def99c4b9950
  [CS]  client-settings.yaml (repository root), commit d5d7376300a62535421d66772a89794fd61e0d44
  [RES] resellers_account_switching_category.yaml, commit 3c52fe03f9fa734d79efb16b8a2048231ded53e3
The OAuth endpoints have no OpenAPI file; their answers come from EEN's guide
  [AS1] "Agent Skills/een-api/01-authenticate.md", commit 9c04f130ae5d78a681eade542c66245f7d788d0b
and, where that is silent (error body, revocation), RFC 6749 §5.2 and RFC 7009 §2.2.
`OPERATIONS` at the end names, for every v3 route een-sim serves, the answer it is checked
against; test_v3_openapi.py fails for a served route missing there.
That repository has no licence: nothing here is its text; descriptions and examples are left
out, OpenAPI's `nullable: true` is written as JSON Schema's `["type", "null"]`, and `allOf`
compositions are flattened into one object each. Properties the files do not close
(`additionalProperties`) stay open, as there.

Known contradictions inside the files are not resolved here but in the test
(test_v3_openapi.py, `SPEC_CONTRADICTIONS`) and in docs/een-api-v3.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

Schema = dict[str, Any]


def _nullable(kind: str, **more: Any) -> Schema:
    return {"type": [kind, "null"], **more}


def _obj(properties: dict[str, Schema], required: list[str] | None = None) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _booleans(*names: str) -> Schema:
    return _obj({name: {"type": "boolean"} for name in names})


def _counts(*names: str) -> Schema:
    return _obj({name: {"type": "integer"} for name in names})


STRING: Schema = {"type": "string"}
STRINGS: Schema = {"type": "array", "items": STRING}
TIMESTAMP: Schema = {"type": "string"}  # format: date-time (not checked: formats are advisory)
ESN_PATTERN = "^(?:0[xX])?[0-9a-fA-F]{8}$"  # [DEV] BridgeId, visibleByBridges items

# -- shared: errors and paging ([UA] and [DEV] alike) -----------------------------------------

ERROR_STATUSES = [
    "cancelled", "unknown", "invalidArgument", "deadlineExceeded", "notFound", "conflict",
    "permissionDenied", "resourceExhausted", "failedPrecondition", "aborted", "outOfRange",
    "unimplemented", "internal", "unavailable", "dataLoss", "unauthenticated",
    "mediaTypeNotSupported", "acceptNotSupported", "methodNotSupported", "tooManyRequests",
]  # fmt: skip
ERROR_REASONS = [
    "unauthenticated", "unexpectedArgument", "missingRequiredArgument", "wrongArgumentValue",
    "invalidPermission", "wrongEdition", "wrongAccountType", "resourceNotFound",
    "endpointNotFound", "methodNotSupported", "unexpectedError", "acceptNotSupported",
    "alreadyExists", "foreignKeyConflict", "childDevicesExist", "contentNotSupported",
    "deadlineExpired", "tooManyRequests", "deviceUnavailable", "serviceUnavailable",
    "invalidJSON", "resourceLocked", "notSupportedOnBridge", "outOfRetention",
    "deviceIdentificationFailed", "credentialValidationFailed", "credentialSetupFailed",
    "localUrlValidationFailed", "hwRegistrationFailed", "failedAddingCameraAfterValidation",
    "neverConnected", "reconnectFailed", "unsupportedModel", "purged", "userBlocked",
    "userTemporarilyBlocked", "quotaExceeded",
]  # fmt: skip
API_ERROR = _obj(
    {
        "code": {"type": "integer"},
        "status": {"type": "string", "enum": ERROR_STATUSES},
        "message": STRING,
        "details": {
            "type": "array",
            "items": _obj(
                {
                    "type": {"enum": ["errorInfo", "badRequest", "resourceInfo"]},
                    "reason": {"type": "string", "enum": ERROR_REASONS},
                    "domain": STRING,
                    "metadata": _obj({"path": STRING, "method": STRING}),
                },
                ["type"],
            ),
        },
    },
    ["code", "status", "message", "details"],
)


def paginated(item: Schema) -> Schema:
    """PaginatedResponseWithSize around `item`s."""
    return _obj(
        {
            "nextPageToken": _nullable("string"),
            "prevPageToken": _nullable("string"),
            "totalSize": {"type": "integer"},
            "results": {"type": "array", "items": item},
        },
        ["nextPageToken", "prevPageToken", "results", "totalSize"],
    )


# -- accounts [UA] AccountGet (AccountSelfGet + AccountSelfPatch) ------------------------------

ACCOUNT_TYPES = ["distributor", "reseller", "endUserAccount"]
STATUS_COUNTS_CAMERA = _counts(
    "online", "deviceOffline", "off", "bridgeOffline", "invalidCredentials", "error", "unknown"
)
ACCOUNT = _obj(
    {
        "id": {"type": "string", "minLength": 1, "maxLength": 12},
        "name": {"type": "string", "minLength": 1, "maxLength": 126},
        "editionId": {"type": "string", "minLength": 1},
        "type": {"type": "string", "enum": ACCOUNT_TYPES},
        "status": {"type": "string", "enum": ["active", "accountDisabled", "loginDisabled"]},
        "customerId": {"type": "string", "maxLength": 120},
        "timeZone": _obj({"timeZone": STRING}),
        "packages": STRINGS,
        "effectivePermissions": _booleans(
            "read",
            "edit",
            "upgradeEdition",
            "addBridgesCameras",
            "addSpeakers",
            "addLayouts",
            "addUsers",
            "viewAuditLog",
            "viewArchive",
            "editArchive",
            "viewPlugins",
            "addPlugins",
            "exportUsers",
        ),
        "resourceCounts": _obj(
            {
                name: {"type": "integer", "minimum": 0}
                for name in (
                    "cameras",
                    "bridges",
                    "multiCameras",
                    "speakers",
                    "users",
                    "accounts",
                    "layouts",
                    "responderCameraProxies",
                    "locations",
                    "deviceTags",
                    "sharedCameraProxies",
                )
            }
        ),
        "resourceStatusCounts": _obj(
            {
                "cameras": STATUS_COUNTS_CAMERA,
                "bridges": _counts("online", "deviceOffline", "unknown"),
                "users": _counts("active", "blocked", "pending"),
                "accounts": _counts("active", "loginDisabled", "accountDisabled"),
                "multiCameras": STATUS_COUNTS_CAMERA,
                "speakers": STATUS_COUNTS_CAMERA,
            }
        ),
    },
    ["id", "name", "editionId", "status", "type"],
)
ACCOUNT_INCLUDES = [
    "effectivePermissions", "timeZone", "workingHours", "security", "passwordManagementRules",
    "firstResponders", "defaultCameraSettings", "videoPrivacy", "bridgeSettings",
    "cameraSettings", "brandingInfo", "resourceCounts", "resourceStatusCounts",
    "deviceAnomalyCounts", "statistics", "packages", "roleSettings",
]  # fmt: skip

# -- the current user [UA] ApiUserForSingle (ApiUserMain + ApiUserIncludes) -------------------

USER_INCLUDES = [
    "loginDetails", "locationSummary", "contactDetails", "timeZone", "support", "status",
    "permissions", "layoutSettings", "previewSettings", "effectivePermissions", "timeSettings",
]  # fmt: skip
LOCATION_SUMMARY = _obj(
    {
        "id": STRING,
        "name": STRING,
        "address": _obj(
            {
                name: _nullable("string")
                for name in (
                    "country",
                    "region",
                    "city",
                    "streetAddress",
                    "streetAddress2",
                    "postalCode",
                )
            }
        ),
    }
)
USER = _obj(
    {
        "id": STRING,
        "createTimestamp": TIMESTAMP,
        "firstName": STRING,
        "lastName": STRING,
        "email": STRING,
        "accountId": STRING,
        "locationId": _nullable("string", minLength=1),
        "language": STRING,
        "employeeId": _nullable("string", maxLength=50),
        "status": _obj({"loginStatus": {"enum": ["active", "pending", "blocked"]}}),
        "locationSummary": LOCATION_SUMMARY,
        "loginDetails": _obj({"lastLogin": TIMESTAMP, "loginSchedule": {"type": "object"}}),
        "timeZone": _obj({"timeZone": STRING}),
        "contactDetails": _obj({"alternateEmail": STRING, "phone": STRING}),
        "support": _obj(
            {"pin": {"type": "string", "pattern": "^[0-9]*$", "minLength": 6, "maxLength": 6}}
        ),
        "permissions": {"type": "object", "additionalProperties": {"type": "boolean"}},
        "layoutSettings": _obj(
            {"rotationInterval": {"type": "integer"}, "rotationOrder": STRINGS},
            ["rotationInterval", "rotationOrder"],
        ),
        "previewSettings": _booleans("showMotionBoxes", "showAnalytics", "showPluginExtensions"),
        "effectivePermissions": _booleans("read", "delete", "edit"),
        "timeSettings": _obj(
            {"showMilliseconds": {"type": "boolean"}, "format": {"enum": ["24h", "12h"]}}
        ),
    },
    ["id", "firstName", "lastName", "accountId", "email", "language", "employeeId"],
)

# -- cameras and bridges [DEV] -------------------------------------------------------------------

CONNECTION_STATUSES = [
    "online", "deviceOffline", "invalidCredentials", "bridgeOffline", "off", "error", "unknown"
]  # fmt: skip
DEVICE_NAME: Schema = {"type": "string", "minLength": 1, "maxLength": 126}
LOCATION_ID = _nullable("string", minLength=1)
DEVICE_STATUS = _obj({"connectionStatus": {"type": "string", "enum": CONNECTION_STATUSES}})
TAGS: Schema = {
    "type": "array",
    "maxItems": 64,
    "items": {"type": "string", "minLength": 1, "maxLength": 64},
}
NOTES: Schema = {"type": "string", "maxLength": 5000}
DEVICE_ADDRESS = _obj({"name": _nullable("string"), "address": _nullable("string")})
IP_PATTERN = r"^(?:25[0-5]|2[0-4]\d|[0-1]?\d{1,2})(?:\.(?:25[0-5]|2[0-4]\d|[0-1]?\d{1,2})){3}$"
ADAPTERS: Schema = {
    "type": "array",
    "items": _obj(
        {
            "macAddress": _nullable("string", pattern="^([A-F0-9]{2}:){5}[A-F0-9]{2}$"),
            "ipAddress": _nullable("string", pattern=IP_PATTERN),
        }
    ),
}
CAMERA_INCLUDES_LIST = [
    "status", "locationSummary", "deviceAddress", "timeZone", "notes", "tags", "devicePosition",
    "networkInfo", "deviceInfo", "firmware", "visibleByBridges", "capabilities",
    "effectivePermissions", "shareDetails", "analog", "qRelevance", "packages", "dewarpConfig",
    "adminCredentials", "publicSafetySharing", "enabledAnalytics",
]  # fmt: skip
CAMERA_INCLUDES_SINGLE = [
    name
    for name in CAMERA_INCLUDES_LIST
    if name not in ("qRelevance", "adminCredentials", "publicSafetySharing")
]
BRIDGE_INCLUDES_LIST = [
    "status", "locationSummary", "deviceAddress", "timeZone", "notes", "tags", "devicePosition",
    "networkInfo", "deviceInfo", "effectivePermissions", "resourceCounts",
    "resourceStatusCounts", "qRelevance",
]  # fmt: skip
BRIDGE_INCLUDES_SINGLE = [name for name in BRIDGE_INCLUDES_LIST if name != "qRelevance"]
# Every query parameter documented for the two listings (names as sent on the wire).
CAMERA_LIST_PARAMS = [
    "locationId__in", "bridgeId__in", "multiCameraId", "multiCameraId__ne",
    "multiCameraId__in", "tags__contains", "tags__any", "packages__contains", "layoutId",
    "name__contains", "name__in", "name", "id__in", "id__notIn", "id__contains",
    "shareDetails.shared", "shareDetails.accountId", "shareDetails.firstResponder",
    "deviceInfo.directToCloud", "speakerId__in", "q", "qRelevance__gte",
    "enabledAnalytics__contains", "status__in", "status__ne", "include", "pageToken",
    "pageSize", "sort",
]  # fmt: skip
BRIDGE_LIST_PARAMS = [
    "include", "sort", "pageToken", "pageSize", "locationId__in", "tags__contains", "tags__any",
    "name__contains", "name__in", "name", "id__in", "id__contains", "q", "qRelevance__gte",
    "status__in", "status__ne",
]  # fmt: skip
CAMERA_SORTS = ["name", "locationSummary.name", "bridgeSummary.name", "qRelevance"]
BRIDGE_SORTS = ["name", "locationSummary.name", "qRelevance"]
Q_RELEVANCE: Schema = {"type": "number", "minimum": 0, "maximum": 1}

_DEVICE_PERMISSIONS_CAMERA = _booleans(
    "read", "addToLayout", "viewPreviewVideo", "viewLiveVideo", "viewHistoricVideo",
    "turnOnOff", "controlPTZ", "editPTZStations", "downloadVideo", "delete",
    "editBillingSettings", "editNoBillingSettings", "editMotionAreas", "talkDown",
)  # fmt: skip
CAMERA = _obj(
    {
        "id": STRING,
        "accountId": STRING,
        "name": DEVICE_NAME,
        "bridgeId": {"type": "string", "pattern": ESN_PATTERN},
        "locationId": LOCATION_ID,
        "multiCameraId": _nullable("string"),
        "createTimestamp": TIMESTAMP,
        "status": DEVICE_STATUS,
        "locationSummary": LOCATION_SUMMARY,
        "deviceAddress": DEVICE_ADDRESS,
        "speakerId": _nullable("string"),
        "timeZone": _obj({"zone": STRING}),
        "notes": NOTES,
        "tags": TAGS,
        "devicePosition": {"type": "object"},
        "networkInfo": _obj(
            {
                "globalIP": _nullable("string", pattern=IP_PATTERN),
                "ipUsedByBridge": _nullable("string"),
                "adapters": ADAPTERS,
            }
        ),
        "deviceInfo": _obj(
            {
                "icon": {"type": "string", "enum": ["securityCamera", "bodycam", "doorbell"]},
                "directToCloud": {"type": "boolean"},
                "make": _nullable("string"),
                "model": _nullable("string"),
                "guid": _nullable("string"),
            }
        ),
        "firmware": _obj({"currentVersion": _nullable("string")}),
        "adminCredentials": _obj(
            {
                "username": {"type": "string", "maxLength": 126},
                "password": {"type": "string", "maxLength": 126},
            }
        ),
        "visibleByBridges": {"type": "array", "items": {"type": "string", "pattern": ESN_PATTERN}},
        "capabilities": _obj(
            {
                "ptz": _obj({"capable": {"type": "boolean"}}, ["capable"]),
                "audio": _booleans("recordingEnabled", "speaker", "halfDuplex", "fullDuplex"),
                "imageTuning": _booleans("continuousZoom"),
                "io": _booleans("capable", "sharedTrigger"),
                "varifocal": {"type": "boolean"},
            },
            ["ptz", "audio", "imageTuning", "io", "varifocal"],
        ),
        "effectivePermissions": _DEVICE_PERMISSIONS_CAMERA,
        "shareDetails": _obj(
            {
                "shared": {"type": "boolean"},
                "firstResponder": {"type": "boolean"},
                "accountId": _nullable("string"),
                "accountName": _nullable("string"),
            }
        ),
        "analog": _obj({"input": _nullable("integer")}),
        "packages": STRINGS,
        "dewarpConfig": _obj(
            {},
            ["cameraId", "fov", "curve", "mount", "scale", "offset", "composites"],
        ),
        "publicSafetySharing": _booleans("enabled"),
        "enabledAnalytics": {
            "type": "array",
            "items": _obj({"creatorId": STRING, "type": STRING}, ["creatorId", "type"]),
        },
        "qRelevance": Q_RELEVANCE,
    },
    ["id", "accountId", "name", "bridgeId", "createTimestamp"],
)
BRIDGE = _obj(
    {
        "id": STRING,
        "accountId": {"type": "string", "pattern": "^[a-fA-F0-9]{8}$"},
        "name": DEVICE_NAME,
        "locationId": LOCATION_ID,
        "createTimestamp": TIMESTAMP,
        "status": DEVICE_STATUS,
        "locationSummary": LOCATION_SUMMARY,
        "timeZone": _obj({"zone": STRING}),
        "deviceAddress": DEVICE_ADDRESS,
        "notes": NOTES,
        "tags": TAGS,
        "devicePosition": _obj(
            {
                "latitude": _nullable("number", minimum=-90, maximum=90),
                "longitude": _nullable("number", minimum=-180, maximum=180),
                "floor": _nullable("integer", minimum=0),
            }
        ),
        "networkInfo": _obj(
            {"globalIP": _nullable("string", pattern=IP_PATTERN), "adapters": ADAPTERS}
        ),
        "deviceInfo": _obj(
            {
                "icon": {
                    "type": "string",
                    "enum": ["bridge", "vehicle bridge", "mobile bridge", "CMVR"],
                },
                "serialNumber": STRING,
                "guid": STRING,
            }
        ),
        "effectivePermissions": _booleans(
            "read", "delete", "editBillingSettings", "editNoBillingSettings"
        ),
        "resourceCounts": _obj(
            {
                name: {"type": "integer", "minimum": 0}
                for name in ("cameras", "speakers", "multiCameras")
            }
        ),
        "resourceStatusCounts": _obj(
            {"cameras": STATUS_COUNTS_CAMERA, "multiCameras": STATUS_COUNTS_CAMERA}
        ),
        "qRelevance": Q_RELEVANCE,
    },
    ["id", "accountId", "name", "createTimestamp"],
)

# -- events [EV] events_category.yaml, commit e7fc2c8ae9db70bb6b8eabf2a692def99c4b9950 ---------
# listEvents' parameters, the envelope (EventEnvelopeParent's required list plus EventEnvelope's
# accountId and actorAccountId) and the status data schema (EenDeviceCloudStatusUpdateV1).

EVENT_LIST_PARAMS = [
    "pageToken", "pageSize", "include", "startTimestamp__lte", "startTimestamp__gte",
    "endTimestamp__lte", "endTimestamp__gte", "actor", "type__in", "sort",
]  # fmt: skip
EVENT_ACTOR_TYPES = [
    "bridge", "camera", "speaker", "account", "user", "layout", "job", "measurement"
]  # fmt: skip
STATUS_EVENT = _obj(
    {
        "id": STRING,
        "startTimestamp": TIMESTAMP,
        "endTimestamp": _nullable("string"),
        "span": {"type": "boolean"},
        "accountId": STRING,
        "actorId": STRING,
        "actorAccountId": STRING,
        "actorType": {"type": "string", "enum": EVENT_ACTOR_TYPES},
        "creatorId": STRING,
        "type": {"const": "een.deviceCloudStatusUpdateEvent.v1"},
        "dataSchemas": STRINGS,
        "data": {
            "type": "array",
            "items": _obj(
                {
                    "type": {"const": "een.deviceCloudStatusUpdate.v1"},
                    "creatorId": STRING,
                    "newStatus": _obj(
                        {"connectionStatus": {"type": "string", "enum": CONNECTION_STATUSES}},
                        ["connectionStatus"],
                    ),
                },
                ["type", "newStatus"],
            ),
        },
    },
    [
        "startTimestamp", "endTimestamp", "span", "actorId", "actorType", "creatorId", "type",
        "dataSchemas", "data", "accountId", "actorAccountId",
    ],
)  # fmt: skip

# [EV] EventType (nothing required), EventFieldValues, and the subscription schemas:
# EventSubscription, EventSubscriptionConfig, DeliveryConfig (ServerSentEventsDeliveryConfig |
# WebhookDeliveryConfig, told apart by `type`), Filter (= FilterCreate + id), EventTypeFilter.
EVENT_TYPE = _obj({"type": STRING, "name": STRING, "description": STRING})
EVENT_FIELD_VALUES = _obj({"type": STRINGS})
SSE_DELIVERY = "serverSentEvents.v1"
DELIVERY_CONFIG: Schema = {
    "type": "object",
    "properties": {"type": {"type": "string", "enum": [SSE_DELIVERY, "webhook.v1"]}},
    "required": ["type"],
    "if": {"properties": {"type": {"const": SSE_DELIVERY}}},
    "then": _obj({"sseUrl": STRING}, ["type", "sseUrl"]),
    "else": _obj({"webhookUrl": STRING, "secret": STRING}, ["type", "webhookUrl", "secret"]),
}
EVENT_SUBSCRIPTION = _obj(
    {
        "id": STRING,
        "subscriptionConfig": _obj(
            {
                "lifeCycle": {"type": "string", "enum": ["temporary", "persistent"]},
                "timeToLiveSeconds": {"type": "integer"},
            }
        ),
        "deliveryConfig": DELIVERY_CONFIG,
    },
    ["id", "deliveryConfig"],
)
# EventTypeFilter defines the property `id` and requires `type` (readings.FilterTypeKey).
EVENT_TYPE_FILTER = _obj({"id": STRING}, ["type"])
FILTER = _obj(
    {
        "id": STRING,
        "actors": {"type": "array", "items": STRING, "minItems": 1},
        "types": {"type": "array", "items": EVENT_TYPE_FILTER, "minItems": 1},
    },
    ["id", "actors", "types"],
)


# -- clientSettings [CS] ApiClientSettings: nothing required, `port` an integer ---------------

CLIENT_SETTINGS = _obj({"httpsBaseUrl": _obj({"hostname": STRING, "port": {"type": "integer"}})})

# -- a reseller's token for an end-user account [RES] AccessToken -----------------------------
# Its required list names `httpBaseUrl`, a property it does not define (it defines
# `httpsBaseUrl`: readings.SwitchBaseUrlReading); ApiHttpsBaseUrl here requires `port`, [CS]'s
# does not (readings.PortReading).

ACCESS_TOKEN = _obj(
    {
        "accessToken": STRING,
        "expireTimestamp": TIMESTAMP,
        "scopes": STRINGS,
        "httpsBaseUrl": _obj(
            {"hostname": STRING, "port": {"type": "integer"}}, ["hostname", "port"]
        ),
    },
    ["accessToken", "expireTimestamp", "scopes", "httpBaseUrl"],
)

# -- the OAuth endpoints [AS1], RFC 6749, RFC 7009 --------------------------------------------

# [AS1] "Response" and "Critical fields": a confidential client gets all of these.
TOKEN_ANSWER = _obj(
    {
        "access_token": {"type": "string", "minLength": 1},
        "expires_in": {"type": "integer", "minimum": 0, "maximum": 43200},  # up to 12 hours
        "refresh_token": {"type": "string", "minLength": 1},
        "httpsBaseUrl": _obj({"hostname": STRING, "port": {"type": "integer"}}, ["hostname"]),
        "scope": {"const": "vms.all"},
        "token_type": {"const": "Bearer"},
    },
    ["access_token", "expires_in", "refresh_token", "httpsBaseUrl", "scope", "token_type"],
)
# EEN does not document the token endpoint's error body: RFC 6749 §5.2.
TOKEN_ERROR = _obj(
    {
        "error": {
            "enum": [
                "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
                "unsupported_grant_type", "invalid_scope",
            ]
        },
        "error_description": STRING,
    },
    ["error"],
)  # fmt: skip
# [AS1] "EEN redirects to your redirect_uri with a ?code= query parameter": the query of the
# consent's redirect, as an object of its parameters.
AUTHORIZE_REDIRECT = _obj({"code": {"type": "string", "minLength": 1}, "state": STRING}, ["code"])


# -- every v3 route een-sim serves, and what its success answer is checked against ------------


@dataclass(frozen=True)
class Operation:
    """One method and path as its source writes it (placeholders in braces), its success
    status, how the answer is read and the schema it must meet."""

    method: str
    path: str
    status: int
    schema: Schema | None  # None: no body (or an HTML page, for `page`)
    kind: str = "json"  # json | empty | page | redirect (the Location's query) | sse (each event)
    source: str = ""

    @property
    def example_path(self) -> str:
        """The path with each placeholder filled, to match against a served route."""
        return re.sub(r"\{[^}]+\}", "x1", self.path)


V3 = "/api/v3.0"
SUBSCRIPTION = f"{V3}/eventSubscriptions/{{eventSubscriptionId}}"
OPERATIONS = [
    Operation("GET", "/oauth2/authorize", 200, None, "page", "[AS1] the consent page"),
    Operation("POST", "/oauth2/authorize", 302, AUTHORIZE_REDIRECT, "redirect", "[AS1]"),
    Operation("POST", "/oauth2/token", 200, TOKEN_ANSWER, source="[AS1]"),
    Operation("POST", "/oauth2/revoke", 200, None, "empty", "RFC 7009 §2.2"),
    Operation("GET", f"{V3}/clientSettings", 200, CLIENT_SETTINGS, source="[CS]"),
    Operation("GET", f"{V3}/accounts", 200, paginated(ACCOUNT), source="[UA]"),
    Operation("GET", f"{V3}/users/self", 200, USER, source="[UA]"),
    Operation("GET", f"{V3}/cameras", 200, paginated(CAMERA), source="[DEV]"),
    Operation("GET", f"{V3}/cameras/{{cameraId}}", 200, CAMERA, source="[DEV]"),
    Operation("GET", f"{V3}/bridges", 200, paginated(BRIDGE), source="[DEV]"),
    Operation("GET", f"{V3}/bridges/{{bridgeId}}", 200, BRIDGE, source="[DEV]"),
    Operation("GET", f"{V3}/events", 200, paginated(STATUS_EVENT), source="[EV] listEvents"),
    Operation("GET", f"{V3}/events:listFieldValues", 200, EVENT_FIELD_VALUES,
              source="[EV] listEventsFieldValues"),
    Operation("GET", f"{V3}/eventTypes", 200, paginated(EVENT_TYPE), source="[EV] listEventTypes"),
    Operation("GET", f"{V3}/eventSubscriptions", 200, paginated(EVENT_SUBSCRIPTION),
              source="[EV] listEventSubscriptions"),
    Operation("POST", f"{V3}/eventSubscriptions", 201, EVENT_SUBSCRIPTION,
              source="[EV] createEventSubscription"),
    Operation("GET", SUBSCRIPTION, 200, EVENT_SUBSCRIPTION, source="[EV] getEventSubscription"),
    Operation("DELETE", SUBSCRIPTION, 204, None, "empty", "[EV] deleteEventSubscription"),
    Operation("GET", f"{SUBSCRIPTION}/filters", 200, paginated(FILTER),
              source="[EV] listEventSubscriptionFilters"),
    Operation("POST", f"{SUBSCRIPTION}/filters", 201, FILTER,
              source="[EV] createEventSubscriptionFilter"),
    Operation("GET", f"{SUBSCRIPTION}/filters/{{filterId}}", 200, FILTER,
              source="[EV] getEventSubscriptionFilter"),
    Operation("DELETE", f"{SUBSCRIPTION}/filters/{{filterId}}", 204, None, "empty",
              "[EV] deleteEventSubscriptionFilter"),
    Operation("POST", f"{V3}/authorizationTokens", 201, ACCESS_TOKEN, source="[RES] createToken"),
    # [EV] ServerSentEventsDeliveryConfig.sseUrl's example; each event in the envelope.
    Operation("GET", "/sse/v3.0/eventSubscriptions/{eventSubscriptionId}", 200, STATUS_EVENT,
              "sse", "[EV] sseUrl, EventEnvelope"),
]  # fmt: skip
