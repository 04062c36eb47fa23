"""The control API's v3 part: `/_sim/v3/...` (codes, state, statuses by v3 value) and
`/_sim/faults/v3/...` (token expiry, injected HTTP answers, SSE cuts and stalls)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from exporter.simulator.http import HttpError, Request, Response, Route, dispatch
from exporter.simulator.v3.cloud import V3Cloud
from exporter.simulator.v3.status import ConnectionStatus, bitmask_for

MAX_RETRY_AFTER = 3600


def handles(path: str) -> bool:
    return path.startswith(("/_sim/v3/", "/_sim/faults/v3/"))


def _bad(message: str) -> HttpError:
    return HttpError(400, message)


def _optional_text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _bad(f'"{name}" must be a non-empty string')
    return value


def _integer(body: dict[str, Any], name: str, low: int, high: int) -> int:
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _bad(f'"{name}" must be an integer from {low} to {high}')
    return value


def code(request: Request, v3: V3Cloud, params: dict[str, str]) -> Response:
    """A valid authorization code for the configured user, as if they had just consented."""
    redirect_uri = _optional_text(request.json_body, "redirect_uri")
    if redirect_uri is not None and urlsplit(redirect_uri).scheme not in ("http", "https"):
        raise _bad('"redirect_uri" must be an http(s) URL')
    owner = v3.cloud.world.user.owner_account_id
    return Response.json({"code": v3.tokens.issue_code(owner, redirect_uri).value})


def state(request: Request, v3: V3Cloud, params: dict[str, str]) -> Response:
    subscriptions = [
        {
            "id": s.id,
            "account_id": s.account_id,
            "connected": s.stream is not None,
            "stalled": bool(s.stream and s.stream.stalled),
            "filters": [f.as_json() for f in s.filters],
        }
        for s in v3.events.subscriptions.values()
    ]
    faults = v3.faults
    return Response.json(
        {
            "client_id": v3.settings.client_id,
            **v3.tokens.counts(),
            **v3.events.counts(),
            "subscription_list": subscriptions,
            "status_overrides": dict(v3.events.overrides),
            "faults": {
                "http_status": faults.status if faults.remaining else None,
                "http_remaining": faults.remaining,
                "retry_after": faults.retry_after,
                "path": faults.path_prefix,
            },
        }
    )


def set_status(request: Request, v3: V3Cloud, params: dict[str, str]) -> Response:
    """Set a device to a v3 connectionStatus (a matching v1 bitmask, so v1 sees it too)."""
    device = v3.cloud.world.devices.get(params["esn"])
    if device is None:
        raise HttpError(404, f"unknown device {params['esn']}")
    value = request.json_body.get("connectionStatus")
    hub = v3.events
    try:
        status = ConnectionStatus(str(value))
    except ValueError:
        # An undocumented value, as EEN may add (OAS: clients handle unknown values): shown by
        # the API and the events until the next change; v1 does not see it.
        # Asked for with "undocumented": true, so that a typo stays a 400.
        if request.json_body.get("undocumented") is not True:
            names = ", ".join(s.value for s in ConnectionStatus)
            raise _bad(
                f'"connectionStatus" must be one of {names} (or say "undocumented": true)'
            ) from None
        if not isinstance(value, str) or not _UNDOCUMENTED.fullmatch(value):
            raise _bad('an undocumented "connectionStatus" is letters and digits') from None
        old = hub.status_of(device)
        hub.overrides[device.esn] = value
        hub.announce(device, old, value)
        return Response(204)
    bitmask = bitmask_for(device.type, status)
    if bitmask is None:
        raise _bad(f"a {device.type.value} cannot be {status.value}")
    if device.esn in hub.overrides and bitmask == device.status:
        hub.announce(device, hub.overrides.pop(device.esn), status.value)
    v3.cloud.set_status(device.esn, bitmask)
    return Response(204)


_UNDOCUMENTED = re.compile("[A-Za-z][A-Za-z0-9]{0,39}")


def send_event(request: Request, v3: V3Cloud, params: dict[str, str]) -> Response:
    """A raw event (any type, any shape of JSON object) to every connected SSE stream of an
    account, past the subscriptions' filters."""
    body = request.json_body
    account_id = _scope(request, v3)
    event = body.get("event")
    if account_id is None or not isinstance(event, dict):
        raise _bad('"account_id" and an "event" object are required')
    return Response.json({"streams": v3.events.send_raw(account_id, event)})


def expire_tokens(request: Request, v3: V3Cloud, params: dict[str, str]) -> Response:
    """Every access token stops working (401); with refresh_tokens, the grants end too."""
    refresh_tokens = request.json_body.get("refresh_tokens", False)
    if not isinstance(refresh_tokens, bool):
        raise _bad('"refresh_tokens" must be true or false')
    expired = v3.tokens.expire_access_tokens()
    grants = v3.tokens.end_grants() if refresh_tokens else 0
    v3.events.end_all()  # their streams' tokens are gone
    return Response.json({"access_tokens": expired, "grants": grants})


def http_fault(request: Request, v3: V3Cloud, params: dict[str, str]) -> Response:
    body = request.json_body
    status = _integer(body, "status", 400, 599)
    count = _integer(body, "count", 0, 1_000_000)
    retry_after = None
    if body.get("retry_after") is not None:
        retry_after = _integer(body, "retry_after", 0, MAX_RETRY_AFTER)
    path = _optional_text(body, "path")
    faults = v3.faults
    faults.status, faults.remaining, faults.retry_after, faults.path_prefix = (
        status,
        count,
        retry_after,
        path,
    )
    return Response(204)


def get_readings(request: Request, v3: V3Cloud, params: dict[str, str]) -> Response:
    return Response.json(v3.readings.as_json())


def put_readings(request: Request, v3: V3Cloud, params: dict[str, str]) -> Response:
    try:
        v3.readings.update(request.json_body)
    except ValueError as exc:
        raise _bad(str(exc)) from None
    return Response.json(v3.readings.as_json())


def _scope(request: Request, v3: V3Cloud) -> str | None:
    account_id = _optional_text(request.json_body, "account_id")
    if account_id is not None and account_id not in v3.cloud.world.accounts:
        raise HttpError(404, f"unknown account {account_id}")
    return account_id


def drop_sse(request: Request, v3: V3Cloud, params: dict[str, str]) -> Response:
    return Response.json({"dropped": v3.events.drop(_scope(request, v3))})


def stall_sse(request: Request, v3: V3Cloud, params: dict[str, str]) -> Response:
    return Response.json({"stalled": v3.events.stall(_scope(request, v3))})


ROUTES: list[Route[V3Cloud]] = [
    (method, re.compile(pattern), handler)
    for method, pattern, handler in (
        ("POST", "/_sim/v3/code", code),
        ("GET", "/_sim/v3/state", state),
        ("GET", "/_sim/v3/readings", get_readings),
        ("PUT", "/_sim/v3/readings", put_readings),
        ("PUT", "/_sim/v3/devices/(?P<esn>[^/]+)/status", set_status),
        ("POST", "/_sim/faults/v3/expire-tokens", expire_tokens),
        ("POST", "/_sim/faults/v3/http", http_fault),
        ("POST", "/_sim/faults/v3/drop-sse", drop_sse),
        ("POST", "/_sim/faults/v3/stall-sse", stall_sse),
        ("POST", "/_sim/faults/v3/sse-event", send_event),
    )
]


def handle(request: Request, v3: V3Cloud) -> Response:
    return dispatch(request, ROUTES, v3)
