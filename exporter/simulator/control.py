"""The control API under /_sim/: inspect and change the world, inject faults."""

from __future__ import annotations

import enum
import re
from typing import Any

from exporter.simulator.cloud import Cloud
from exporter.simulator.http import HttpError, Request, Response, Route, dispatch
from exporter.simulator.readings import Activity, ForeignEsn, SessionLoss, Snapshot
from exporter.simulator.world import Device, DeviceType, WorldError

MAX_LATENCY_SECONDS = 60.0
MAX_CHURN_RATE = 100_000.0
MAX_EVENT_PERIOD = 86_400.0
MAX_BRIDGE_BOOTS = 1_000_000.0
MAX_INACTIVE_MINUTES = 7 * 24 * 60.0
FOUR_CC = re.compile(r"[A-Z0-9]{4}")


class BadInput(HttpError):
    def __init__(self, message: str) -> None:
        super().__init__(400, message)


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise BadInput(f'"{name}" must be a non-empty string')
    return value


def _optional_text(body: dict[str, Any], name: str) -> str | None:
    return None if body.get(name) is None else _text(body, name)


def _integer(body: dict[str, Any], name: str, low: int, high: int) -> int:
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise BadInput(f'"{name}" must be an integer from {low} to {high}')
    return value


def _status(body: dict[str, Any]) -> int:
    return _integer(body, "status", 0, 2**63 - 1)


def _number(body: dict[str, Any], name: str, low: float, high: float) -> float:
    value = body.get(name)
    if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
        raise BadInput(f'"{name}" must be a number from {low:g} to {high:g}')
    return float(value)


# -- state and world ---------------------------------------------------------------------------


def state(request: Request, cloud: Cloud, params: dict[str, str]) -> Response:
    world = cloud.world
    accounts = []
    for account in world.accounts.values():
        devices = []
        for esn in account.device_esns:
            device = world.devices[esn]
            entry: dict[str, Any] = {
                "id": device.esn,
                "name": device.name,
                "type": device.type.value,
                "bridge_id": device.bridge_id,
                "status": device.status,
            }
            if device.type is DeviceType.CAMERA:
                entry |= {"loss": device.loss, "previews_frozen": device.previews_frozen}
            devices.append(entry)
        accounts.append(
            {
                "id": account.id,
                "name": account.name,
                "streams": cloud.hub.count_for_account(account.id),
                "devices": devices,
            }
        )
    faults = cloud.faults
    return Response.json(
        {
            "accounts": accounts,
            "user": {
                "id": world.user.id,
                "email": world.user.email,
                "owner_account_id": world.user.owner_account_id,
                "is_master": world.user.is_master,
            },
            "sessions": len(cloud.sessions),
            "churn": cloud.churn_rate,
            "churn_noise": cloud.churn_noise,
            "poll": {
                "timeout_seconds": cloud.hub.polls.timeout_seconds,
                "sessions": len(cloud.hub.polls.sessions),
                "waiting": cloud.hub.polls.waiting,
                "preview_seconds": cloud.hub.media.preview_seconds,
                "thumbnail_seconds": cloud.hub.media.thumbnail_seconds,
            },
            "events": {
                "thumbnail_seconds": cloud.events.thumbnail_seconds,
                "stream_stats_seconds": cloud.events.stream_stats_seconds,
                "bridge_boots_per_hour": cloud.events.bridge_boots_per_hour,
                "delivered": dict(sorted(cloud.events.delivered.items())),
            },
            "readings": cloud.readings.as_json(),
            "peak_concurrent_logins": cloud.logins.peak,
            "two_factor_code": cloud.credentials.last_two_factor_code,
            "faults": {
                "latency": faults.latency,
                "http_status": faults.http_status if faults.http_remaining else None,
                "http_remaining": faults.http_remaining,
                "stalled_streams": sum(c.stalled for c in cloud.hub.connections),
                "held_handshakes": sum(not c.answered for c in cloud.hub.connections),
            },
        }
    )


def _known_device(cloud: Cloud, esn: str) -> None:
    if esn not in cloud.world.devices:
        raise HttpError(404, f"unknown device {esn}")


def set_status(request: Request, cloud: Cloud, params: dict[str, str]) -> Response:
    esn = params["esn"]
    _known_device(cloud, esn)
    cloud.set_status(esn, _status(request.json_body))
    return Response(204)


def set_churn(request: Request, cloud: Cloud, params: dict[str, str]) -> Response:
    rate = request.json_body.get("rate")
    if (
        not isinstance(rate, int | float)
        or isinstance(rate, bool)
        or not 0 <= rate <= MAX_CHURN_RATE
    ):
        raise BadInput(f'"rate" must be a number from 0 to {MAX_CHURN_RATE:g}')
    body = request.json_body
    noise = _number(body, "noise", 0, 1) if "noise" in body else None
    cloud.churn_rate = float(rate)
    if noise is not None:
        cloud.churn_noise = noise
    return Response(204)


def set_poll(request: Request, cloud: Cloud, params: dict[str, str]) -> Response:
    """Long polling's timeout and the clocks of the pre, thumb and video resources; fields
    left out keep their value."""
    body = request.json_body
    targets = {
        "timeout_seconds": (cloud.hub.polls, "timeout_seconds"),
        "preview_seconds": (cloud.hub.media, "preview_seconds"),
        "thumbnail_seconds": (cloud.hub.media, "thumbnail_seconds"),
    }
    unknown = body.keys() - targets.keys()
    if unknown or not body:
        raise BadInput(f"give one or more of {', '.join(targets)}")
    values = {name: _number(body, name, 0.01, MAX_EVENT_PERIOD) for name in body}
    for name, value in values.items():
        target, attribute = targets[name]
        setattr(target, attribute, value)
    return Response(204)


def set_event_rates(request: Request, cloud: Cloud, params: dict[str, str]) -> Response:
    """Periodic events from now on; fields left out keep their value, 0 stops that kind."""
    body = request.json_body
    limits = {
        "thumbnail_seconds": MAX_EVENT_PERIOD,
        "stream_stats_seconds": MAX_EVENT_PERIOD,
        "bridge_boots_per_hour": MAX_BRIDGE_BOOTS,
    }
    unknown = body.keys() - limits.keys()
    if unknown or not body:
        raise BadInput(f"give one or more of {', '.join(limits)}")
    values = {name: _number(body, name, 0, high) for name, high in limits.items() if name in body}
    for name, value in values.items():
        setattr(cloud.events, name, value)
    return Response(204)


def _camera(cloud: Cloud, esn: str) -> Device:
    _known_device(cloud, esn)
    device = cloud.world.devices[esn]
    if device.type is not DeviceType.CAMERA:
        raise BadInput(f"{esn} is a bridge, not a camera")
    return device


def emit_event(request: Request, cloud: Cloud, params: dict[str, str]) -> Response:
    esn = params["esn"]
    _known_device(cloud, esn)
    fields = dict(request.json_body)
    code = fields.pop("type", None)
    if not isinstance(code, str) or not FOUR_CC.fullmatch(code):
        raise BadInput('"type" must be a four-character event code such as "PRTH"')
    event, streams = cloud.events.emit(esn, code, fields)
    return Response.json({"event": event, "streams": streams})


def set_previews(request: Request, cloud: Cloud, params: dict[str, str]) -> Response:
    frozen = request.json_body.get("frozen")
    if not isinstance(frozen, bool):
        raise BadInput('"frozen" must be true or false')
    _camera(cloud, params["esn"]).previews_frozen = frozen
    return Response(204)


def set_stream(request: Request, cloud: Cloud, params: dict[str, str]) -> Response:
    _camera(cloud, params["esn"]).loss = _number(request.json_body, "loss", 0, 1)
    return Response(204)


def add_device(request: Request, cloud: Cloud, params: dict[str, str]) -> Response:
    body = request.json_body
    account_id = _text(body, "account_id")
    type_name = _text(body, "type")
    name = _text(body, "name")
    bridge_id = _optional_text(body, "bridge_id")
    status = None if body.get("status") is None else _status(body)
    if account_id not in cloud.world.accounts:
        raise HttpError(404, f"unknown account {account_id}")
    try:
        device_type = DeviceType(type_name)
    except ValueError:
        raise BadInput('"type" must be "camera" or "bridge"') from None
    try:
        device = cloud.world.add_device(account_id, device_type, name, bridge_id, status)
    except WorldError as exc:
        raise BadInput(str(exc)) from None
    cloud.events.account_event(account_id, "AEDC", device.esn)
    return Response.json({"id": device.esn}, 201)


def update_device(request: Request, cloud: Cloud, params: dict[str, str]) -> Response:
    esn = params["esn"]
    _known_device(cloud, esn)
    name = _text(request.json_body, "name")
    device = cloud.world.devices[esn]
    device.name = name
    cloud.events.account_event(device.account_id, "AEDH", esn, {"name": name})
    return Response(204)


def move_device(request: Request, cloud: Cloud, params: dict[str, str]) -> Response:
    esn = params["esn"]
    _known_device(cloud, esn)
    account_id = _text(request.json_body, "account_id")
    try:
        cloud.move_camera(esn, account_id)
    except WorldError as exc:
        raise BadInput(str(exc)) from None
    return Response(204)


def delete_device(request: Request, cloud: Cloud, params: dict[str, str]) -> Response:
    esn = params["esn"]
    _known_device(cloud, esn)
    account_id = cloud.world.devices[esn].account_id
    cloud.delete_device(esn)
    cloud.events.account_event(account_id, "AEDD", esn)
    return Response(204)


def add_account(request: Request, cloud: Cloud, params: dict[str, str]) -> Response:
    name = _text(request.json_body, "name")
    try:
        account = cloud.world.add_account(name)
    except WorldError as exc:
        raise HttpError(409, str(exc)) from None
    return Response.json({"id": account.id}, 201)


def _known_account(cloud: Cloud, account_id: str) -> None:
    if account_id not in cloud.world.accounts:
        raise HttpError(404, f"unknown account {account_id}")


def update_account(request: Request, cloud: Cloud, params: dict[str, str]) -> Response:
    account_id = params["account_id"]
    _known_account(cloud, account_id)
    cloud.world.accounts[account_id].name = _text(request.json_body, "name")
    return Response(204)


def delete_account(request: Request, cloud: Cloud, params: dict[str, str]) -> Response:
    account_id = params["account_id"]
    _known_account(cloud, account_id)
    try:
        cloud.delete_account(account_id)
    except WorldError as exc:
        raise HttpError(409, str(exc)) from None
    return Response(204)


def set_readings(request: Request, cloud: Cloud, params: dict[str, str]) -> Response:
    """Where EEN's docs are ambiguous, which reading to play from now on (readings.py);
    fields left out keep their value."""
    body = request.json_body
    choices: dict[str, type[enum.StrEnum]] = {
        "snapshot": Snapshot,
        "session_loss": SessionLoss,
        "foreign_esn": ForeignEsn,
        "activity": Activity,
    }
    known = {*choices, "inactive_minutes"}
    if not body or body.keys() - known:
        raise BadInput(f"give one or more of {', '.join(sorted(known))}")
    values: dict[str, object] = {
        name: _choice(body, name, kind) for name, kind in choices.items() if name in body
    }
    if "inactive_minutes" in body:
        values["inactive_minutes"] = _number(body, "inactive_minutes", 0, MAX_INACTIVE_MINUTES)
    for name, value in values.items():
        setattr(cloud.readings, name, value)
    return Response(204)


def _choice(body: dict[str, Any], name: str, kind: type[enum.StrEnum]) -> enum.StrEnum:
    """One of `kind`'s values; foreign_esn may come as the number 404 or 401 too."""
    value = body.get(name)
    if isinstance(value, str | int) and not isinstance(value, bool):
        try:
            return kind(str(value))
        except ValueError:
            pass
    allowed = ", ".join(f'"{member.value}"' for member in kind)
    raise BadInput(f'"{name}" must be one of {allowed}')


# -- faults ------------------------------------------------------------------------------------


def _stream_scope(request: Request, cloud: Cloud) -> str | None:
    """The account a stream fault is limited to (`account_id` in the body), or None for all."""
    account_id = _optional_text(request.json_body, "account_id")
    if account_id is not None and account_id not in cloud.world.accounts:
        raise HttpError(404, f"unknown account {account_id}")
    return account_id


def drop_streams(request: Request, cloud: Cloud, params: dict[str, str]) -> Response:
    return Response.json({"dropped": cloud.hub.drop(_stream_scope(request, cloud))})


def auth_lost(request: Request, cloud: Cloud, params: dict[str, str]) -> Response:
    cloud.end_all_sessions()
    return Response(204)


def http_fault(request: Request, cloud: Cloud, params: dict[str, str]) -> Response:
    body = request.json_body
    status = _integer(body, "status", 400, 599)
    count = _integer(body, "count", 0, 1_000_000)
    cloud.faults.http_status = status
    cloud.faults.http_remaining = count
    return Response(204)


def stall_streams(request: Request, cloud: Cloud, params: dict[str, str]) -> Response:
    return Response.json({"stalled": cloud.hub.stall(_stream_scope(request, cloud))})


def set_latency(request: Request, cloud: Cloud, params: dict[str, str]) -> Response:
    seconds = request.json_body.get("seconds")
    if (
        not isinstance(seconds, int | float)
        or isinstance(seconds, bool)
        or not 0 <= seconds <= MAX_LATENCY_SECONDS
    ):
        raise BadInput(f'"seconds" must be a number from 0 to {MAX_LATENCY_SECONDS:g}')
    cloud.faults.latency = float(seconds)
    return Response(204)


def reset(request: Request, cloud: Cloud, params: dict[str, str]) -> Response:
    cloud.reset_faults()
    return Response(204)


_ESN = r"(?P<esn>[^/]+)"
_ACCOUNT = r"(?P<account_id>[^/]+)"
ROUTES: list[Route[Cloud]] = [
    (method, re.compile(f"/_sim/{pattern}"), handler)
    for method, pattern, handler in (
        ("GET", "state", state),
        ("PUT", "churn", set_churn),
        ("PUT", "poll", set_poll),
        ("PUT", "events", set_event_rates),
        ("PUT", "readings", set_readings),
        ("POST", f"devices/{_ESN}/events", emit_event),
        ("PUT", f"devices/{_ESN}/previews", set_previews),
        ("PUT", f"devices/{_ESN}/stream", set_stream),
        ("POST", f"devices/{_ESN}/move", move_device),
        ("POST", "devices", add_device),
        ("PUT", f"devices/{_ESN}/status", set_status),
        ("PATCH", f"devices/{_ESN}", update_device),
        ("DELETE", f"devices/{_ESN}", delete_device),
        ("POST", "accounts", add_account),
        ("PATCH", f"accounts/{_ACCOUNT}", update_account),
        ("DELETE", f"accounts/{_ACCOUNT}", delete_account),
        ("POST", "faults/drop-streams", drop_streams),
        ("POST", "faults/auth-lost", auth_lost),
        ("POST", "faults/http", http_fault),
        ("POST", "faults/stall-streams", stall_streams),
        ("POST", "faults/latency", set_latency),
        ("POST", "faults/reset", reset),
    )
]


def handle(request: Request, cloud: Cloud) -> Response:
    return dispatch(request, ROUTES, cloud)
