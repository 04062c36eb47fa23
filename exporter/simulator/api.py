"""The v1 REST surface (een-api.md §1-3): login, accounts, devices."""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from collections.abc import Callable
from typing import Any

from exporter.simulator.cloud import Cloud
from exporter.simulator.http import Request, Response
from exporter.simulator.readings import minutes_json
from exporter.simulator.resources import een_timestamp
from exporter.simulator.sessions import Session
from exporter.simulator.world import CLUSTER, Account, Bit, Device, DeviceType, World, overall

ACCOUNT_PERMISSIONS = "A@GFIMLNQSUTYZcedgfhmqpsutvz"
DEVICE_PERMISSIONS = "A@FIMLNSUTZcgfhmpsruwz"
ACCOUNT_LAST_LOGIN = "20250101120000.000"  # fixed, so listings are the same for a seed
ATTACHED = "ATTD"
TWO_FACTOR_TYPES = ("sms", "email")

PublicHandler = Callable[[Request, Cloud], Response]
SessionHandler = Callable[[Request, Cloud, Session], Response]


def session_cookie(name: str, value: str) -> tuple[str, str]:
    return ("Set-Cookie", f"{name}={value}; Path=/; HttpOnly")


def _string_field(fields: dict[str, Any], name: str) -> str | None:
    value = fields.get(name)
    return value if isinstance(value, str) and value else None


# -- login -------------------------------------------------------------------------------------


def authenticate(request: Request, cloud: Cloud) -> Response:
    fields = request.fields()
    username = _string_field(fields, "username")
    password = _string_field(fields, "password")
    if username is None or password is None:
        return Response.error(400, "username and password are required")
    credentials = cloud.credentials
    matches = username.lower() == credentials.username.lower()
    if not (matches and secrets.compare_digest(password, credentials.password)):
        return Response.error(401, "invalid credentials")
    token = cloud.sessions.issue_token(credentials.two_factor)
    body: dict[str, Any] = {"token": token.value}
    if credentials.two_factor:
        body["two_factor_authentication_code"] = {
            "sms": "*** *** 779",
            "email": "***********@example.com",
        }
    return Response.json(body)


def two_factor_authenticate(request: Request, cloud: Cloud) -> Response:
    fields = request.fields()
    value = _string_field(fields, "token")
    channel = _string_field(fields, "two_factor_authentication_type")
    if value is None or channel is None:
        return Response.error(400, "token and two_factor_authentication_type are required")
    if channel not in TWO_FACTOR_TYPES:
        return Response.error(415, "unsupported two_factor_authentication_type")
    token = cloud.sessions.find_token(value)
    if token is None:
        return Response.error(401, "invalid or expired token")
    if not cloud.credentials.two_factor:
        return Response.error(400, "two-factor authentication is not enabled for this user")
    token.two_factor_code = f"{secrets.randbelow(10_000):04d}"
    cloud.credentials.last_two_factor_code = token.two_factor_code
    return Response(200)


def authorize(request: Request, cloud: Cloud) -> Response:
    fields = request.fields()
    value = _string_field(fields, "token")
    if value is None:
        return Response.error(400, "token is required")
    token = cloud.sessions.find_token(value)
    if token is None:
        return Response.error(401, "invalid or expired token")
    two_factor = cloud.credentials.two_factor
    if two_factor:
        code = fields.get("two_factor_authentication_code")
        if token.two_factor_code is None or code is None:
            return Response.error(401, "two-factor code missing or expired")
        if str(code) != token.two_factor_code:
            return Response.error(406, "wrong two-factor code")
    cloud.sessions.consume_token(value)
    session = cloud.open_session()
    response = Response.json(user_object(cloud, session, authorize=True))
    for name in cloud.session_cookies:
        response.headers.append(session_cookie(name, session.key))
    if two_factor:
        response.headers.append(session_cookie("tfa_key", secrets.token_hex(16)))
    return response


# Every day of the week, all day: the docs' example for notify_period and access_period.
_WHOLE_WEEK = [f"{day}-0000-2359" for day in range(7)]
# In the Authorize example (`_api_aaa.md`) but not in the User Model (`_api_user.md`).
_AUTHORIZE_ONLY = frozenset(("user_id", "is_edit_map"))
SMS_PHONE = "+15555550779"  # a fictional number; authenticate's masked "*** *** 779" matches it


def user_object(cloud: Cloud, session: Session, *, authorize: bool = False) -> dict[str, Any]:
    """The user as EEN's docs show it, field for field and in their order: from authorize the
    Authorize example (`_api_aaa.md`), else the User Model (`_api_user.md`), which lacks
    `user_id` ("present during Authorize") and `is_edit_map`. Values come from the world; what
    the world does not model (address, phones, layouts) is empty or null, as in the sparser
    example of older User Model docs. No password or key is ever in it."""
    world = cloud.world
    user = world.user
    owner = world.owner
    two_factor = cloud.credentials.two_factor
    cameras = [
        [esn, "r"] for esn in owner.device_esns if world.devices[esn].type is DeviceType.CAMERA
    ]
    model: dict[str, Any] = {
        "id": user.id,
        "user_id": user.id,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "owner_account_id": user.owner_account_id,
        "active_account_id": session.active_account_id,
        "uid": "",
        "is_superuser": 0,
        "is_account_superuser": 1,
        "is_staff": 0,
        "is_active": 1,
        "is_pending": 0,
        "is_master": int(user.is_master),
        # The user may do everything in their own account, as the docs' example user may.
        "is_user_admin": 1,
        "is_layout_admin": 1,
        "is_edit_map": 0,
        "is_live_video": 1,
        "is_export_video": 1,
        "is_recorded_video": 1,
        "is_view_preview_video": 1,
        "is_edit_admin_users": 1,
        "is_edit_all_users": 1,
        "is_edit_users": 1,
        "is_edit_account": 1,
        "is_device_admin": 1,
        "is_edit_cameras": 1,
        "is_edit_camera_on_off": 1,
        "is_edit_camera_less_billing": 1,
        "is_edit_ptz_stations": 1,
        "is_edit_all_and_add": 1,
        "is_edit_motion_areas": 1,
        "is_edit_sharing": 1,
        "is_ptz_live": 1,
        "is_mobile_branded": 0,
        "is_view_contract": 1,
        "is_view_audit_trail": 1,
        "is_two_factor_authentication_enabled": int(two_factor),
        "user_authenticated_clients": None,
        "account_utc_offset": owner.utc_offset,
        "account_work_days": "1111100",
        "account_work_hours": ["0900", "1700"],
        "language": "en-us",
        "inactive_session_timeout": minutes_json(cloud.readings.inactive_minutes),
        "street": [],
        "city": None,
        "state": None,
        "country": "US",
        "postal_code": None,
        "phone": None,
        "mobile_phone": None,
        "utc_offset": owner.utc_offset,
        "timezone": owner.timezone,
        "last_login": een_timestamp(time.time()),
        "alternate_email": None,
        "sms_phone": SMS_PHONE if two_factor else None,
        "json": '{"een":{"notify_levels":[],"permissions":{}}}',
        "camera_access": cameras,
        "layouts": [],  # the simulator has no layouts (no /g/layout)
        "is_notify_enable": 1,
        "notify_period": list(_WHOLE_WEEK),
        "notify_rule": ["one-email-0"],
        "is_branded": 0,
        "active_brand_subdomain": CLUSTER,
        "account_map_lines": None,
        "access_period": list(_WHOLE_WEEK),
        "user_log_level": 0,
        "saved_filters": [],
        "temp_account_access": [],
        "is_terms_noncompliant": 0,
        "is_system_notifications_disabled": 0,
    }
    if authorize:
        return model
    return {name: value for name, value in model.items() if name not in _AUTHORIZE_ONLY}


def isauth(request: Request, cloud: Cloud, session: Session) -> Response:
    return Response.json(True)


def logout(request: Request, cloud: Cloud, session: Session) -> Response:
    cloud.end_session(session.key)
    response = Response(204)
    for name in cloud.session_cookies:
        response.headers.append(("Set-Cookie", f"{name}=; Path=/; Max-Age=0"))
    return response


def current_user(request: Request, cloud: Cloud, session: Session) -> Response:
    wanted = request.query.get("id")
    if wanted and wanted != cloud.world.user.id:
        return Response.error(404, "user not found")
    return Response.json(user_object(cloud, session))


def switch_account(request: Request, cloud: Cloud, session: Session) -> Response:
    account_id = request.fields().get("account_id")
    if account_id is None or account_id == "":
        account_id = cloud.world.user.owner_account_id
    if not isinstance(account_id, str):
        return Response.error(400, "account_id must be a string")
    if cloud.world.visible_account(account_id) is None:
        return Response.error(404, "account not found")
    session.active_account_id = account_id
    return Response.json(user_object(cloud, session))


# -- accounts ----------------------------------------------------------------------------------


def account_list(request: Request, cloud: Cloud, session: Session) -> Response:
    world = cloud.world
    visible = world.accounts.values() if world.user.is_master else [world.owner]
    return Response.json([account_row(world, account) for account in visible])


def account_row(world: World, account: Account) -> list[Any]:
    cameras = bridges = cameras_online = cameras_off = bridges_online = unknown = 0
    for esn in account.device_esns:
        device = world.devices[esn]
        if device.type is DeviceType.BRIDGE:
            bridges += 1
            bridges_online += bool(device.status & Bit.REGISTERED)
            continue
        cameras += 1
        unknown += bool(device.status & Bit.INVALID)
        # Status 0 and the invalid bit mean "no change" (een-api.md §5): the VMS keeps showing
        # the last real status, and so do these counts; a camera never seen with one is in
        # neither count.
        if device.known_status is not None:
            online = overall(device.known_status) == "online"
            cameras_online += online
            cameras_off += not online
    return [
        account.id,  # 0
        account.name,
        cameras_online,
        cameras,
        1,  # 4 user_count
        0,  # 5 is_suspended
        0,  # 6 is_inactive
        1,  # 7 is_active
        None,  # 8 product_edition
        bridges_online,
        bridges,  # 10 bridge_active_count: every bridge is attached
        bridges,
        cameras_off,  # 12 camera_off_count ("currently offline")
        0,  # 13 camera_available_count
        1,  # 14 is_account_active
        ACCOUNT_LAST_LOGIN,
        30,  # 16 average_retention_days
        account.customer_id,
        unknown,
        {"is_sso_enabled": 0, "timezone": account.timezone, "feature_flags": []},
        ACCOUNT_PERMISSIONS,  # 20
    ]


# -- devices -----------------------------------------------------------------------------------


def _active_account(cloud: Cloud, session: Session) -> Account | None:
    return cloud.world.accounts.get(session.active_account_id)


def device_list(request: Request, cloud: Cloud, session: Session) -> Response:
    account = _active_account(cloud, session)
    if account is None:
        return Response.error(404, "the active account no longer exists")
    world = cloud.world
    filters = {
        1: request.query.get("e"),
        2: request.query.get("n"),
        3: request.query.get("t"),
        5: request.query.get("s"),
    }
    wanted = {index: value for index, value in filters.items() if value}
    rows = []
    for esn in account.device_esns:
        row = device_row(world, world.devices[esn])
        if all(row[index] == value for index, value in wanted.items()):
            rows.append(row)
    return Response.json(rows)


def device_row(world: World, device: Device) -> list[Any]:
    account = world.accounts[device.account_id]
    if device.type is DeviceType.CAMERA:
        links = [[device.bridge_id, ATTACHED]] if device.bridge_id else []
    else:
        links = [[esn, ATTACHED] for esn in device.camera_esns]
    return [
        device.account_id,  # 0
        device.esn,
        device.name,
        device.type.value,
        links,  # 4 bridges (camera row) / cameras (bridge row)
        ATTACHED,  # 5 service_status
        DEVICE_PERMISSIONS,
        [],  # 7 tags
        device.guid,
        device.serial_number,
        device.status,  # 10 status bitmask
        account.timezone,
        account.utc_offset,
        0,  # 13 is_unsupported
        device.ip_address,
        0,  # 15 is_shared
        account.name,  # 16 owner_account_name
        False,  # 17 is_upnp
        None,  # 18 video_input
        None,  # 19 video_status
        [None, None, None, None, "", None, ""],  # 20 location
        None,  # 21 parent_camera_id
        None,  # 22 child_camera_view
        0,  # 23 is_hidden
        [],  # 24 ignored_inputs
        0,  # 25 responder_camera
        {},  # 26 super_tags
        {},  # 27 discovered_state
        {},  # 28 flags
    ]


def device_detail(request: Request, cloud: Cloud, session: Session) -> Response:
    esn = request.query.get("id")
    if not esn:
        return Response.error(400, "id is required")
    device = cloud.world.devices.get(esn)
    if device is None or device.account_id != session.active_account_id:
        return Response.error(404, "device not found")
    return Response.json(device_model(cloud.world, device))


def device_model(world: World, device: Device) -> dict[str, Any]:
    account = world.accounts[device.account_id]
    is_camera = device.type is DeviceType.CAMERA
    connected = device.status & (Bit.STREAMING if is_camera else Bit.REGISTERED)
    bridges = {device.bridge_id: ATTACHED} if device.bridge_id else {}
    return {
        "id": device.esn,
        "account_id": device.account_id,
        "name": device.name,
        "guid": device.guid,
        "timezone": account.timezone,
        "utcOffset": account.utc_offset,
        "permissions": DEVICE_PERMISSIONS,
        "tags": [],
        "is_shared": 0,
        "is_unsupported": 0,
        "bridges": bridges if is_camera else {},
        "camera_info_status_code": 200,
        "camera_info": {
            "esn": device.esn,
            "class": device.type.value,
            "bridgeid": device.bridge_id or "",
            "status": str(device.status),
            "status_hex": f"{device.status:08x}",
            "connect": "STRM" if connected else "OFFL",
            "service": ATTACHED,
        },
    }


PUBLIC_ROUTES: dict[str, tuple[str, PublicHandler]] = {
    "/g/aaa/authenticate": ("POST", authenticate),
    "/g/aaa/two_factor_authenticate": ("POST", two_factor_authenticate),
    "/g/aaa/authorize": ("POST", authorize),
}
SESSION_ROUTES: dict[str, tuple[str, SessionHandler]] = {
    "/g/aaa/isauth": ("GET", isauth),
    "/g/aaa/logout": ("POST", logout),
    "/g/aaa/switch_account": ("POST", switch_account),
    "/g/user": ("GET", current_user),
    "/g/account/list": ("GET", account_list),
    "/g/device/list": ("GET", device_list),
    "/g/list/devices": ("GET", device_list),  # the older alias
    "/g/device": ("GET", device_detail),
}

# The calls of one login (and the switch into an account); the server meters them in flight.
LOGIN_PATHS = frozenset(("/g/aaa/authenticate", "/g/aaa/authorize", "/g/aaa/switch_account"))


def api_key_refusal(request: Request, cloud: Cloud) -> Response | None:
    """The answer to a v1 request that lacks the simulator's API key, else None.

    EEN's docs show the key three ways: their curl examples send `Authentication: KEY:` (or,
    in another revision, `Authentication: KEY`), their introduction says it goes in the
    `Authorization` header with a colon appended, and EEN's own examples send
    `Authorization: KEY`; all are accepted, and so is Basic credentials `KEY:` (what
    `curl -u KEY:` sends). The docs never say what a missing or wrong key gets: we choose 401,
    the docs' code for "supplied credentials are not valid" (`_http_response_codes.md`), on
    every v1 call, the stream handshake included.
    """
    expected = cloud.credentials.api_key
    if expected is None:
        return None
    for header in ("authentication", "authorization"):
        presented = _presented_key(request.headers.get(header, ""))
        if secrets.compare_digest(presented.encode(), expected.encode()):
            return None
    return Response.error(401, "missing or invalid API key")


def _presented_key(value: str) -> str:
    scheme, _, credentials = value.strip().partition(" ")
    if scheme.lower() == "basic" and credentials:
        try:
            value = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return ""
    return value.strip().removesuffix(":")


def handle(request: Request, cloud: Cloud) -> Response:
    """Route one v1 REST request (faults and latency are the server's business)."""
    refusal = api_key_refusal(request, cloud)
    if refusal is not None:
        return refusal
    path = request.path.rstrip("/")
    if path in PUBLIC_ROUTES:
        method, public_handler = PUBLIC_ROUTES[path]
        if request.method != method:
            return method_not_allowed(method)
        return public_handler(request, cloud)
    if path not in SESSION_ROUTES:
        return Response.error(404, "no such endpoint")
    method, handler = SESSION_ROUTES[path]
    if request.method != method:
        return method_not_allowed(method)
    session = cloud.sessions.get(request.session_key())
    if session is None:
        return Response.error(401, "no valid session")
    return handler(request, cloud, session)


def method_not_allowed(allowed: str) -> Response:
    response = Response.error(405)
    response.headers.append(("Allow", allowed))
    return response
