"""Routes v3 requests (`/oauth2/...`, `/api/v3.0/...`, the SSE URLs) to their handlers, with
the injected HTTP faults first. The handlers are given the `V3Cloud` (cloud.py)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

from exporter.simulator.http import HttpError, Request, Response
from exporter.simulator.v3 import api, auth, events
from exporter.simulator.v3.cloud import V3Cloud
from exporter.simulator.v3.sse import SSE_PATH
from exporter.simulator.v3.wire import ApiError, bearer, error_response
from exporter.simulator.world import DeviceType

_V3_PREFIXES = ("/oauth2/", "/api/v3.0/", "/sse/v3.0/")

ApiHandler = Callable[..., Response]  # (request, v3, token, *path groups) -> Response


def handles(path: str) -> bool:
    return path.startswith(_V3_PREFIXES)


def is_sse(request: Request) -> bool:
    return SSE_PATH.fullmatch(request.path) is not None


async def serve_sse(
    request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, v3: V3Cloud
) -> None:
    await v3.events.serve(request, reader, writer)


def respond(request: Request, v3: V3Cloud) -> Response:
    path = request.path.rstrip("/") or "/"
    if path != "/oauth2/authorize":
        injected = v3.faults.take(path)
        if injected is not None:
            return _injected(injected, path)
    public = _PUBLIC.get(path)
    if public is not None:
        methods, handler = public
        if request.method not in methods:
            response = Response(405)
            response.headers.append(("Allow", ", ".join(methods)))
            return response
        return handler(request, v3)
    try:
        return _api(request, v3, path)
    except ApiError as exc:
        return error_response(exc.status, exc.reason, exc.message, path)
    except HttpError as exc:  # the request body was not a JSON object
        return error_response(400, "invalidJSON", exc.message, path)


def _api(request: Request, v3: V3Cloud, path: str) -> Response:
    allowed: list[str] = []
    for method, pattern, handler in _ROUTES:
        match = pattern.fullmatch(path)
        if match is None:
            continue
        if method != request.method:
            allowed.append(method)
            continue
        return handler(request, v3, bearer(request, v3.tokens), *match.groups())
    if not allowed:
        raise ApiError(404, "endpointNotFound", "The API endpoint was not found")
    response = error_response(
        405, "methodNotSupported", f"HTTP method {request.method} not supported", path
    )
    response.headers.append(("Allow", ", ".join(allowed)))
    return response


def _injected(injected: tuple[int, int | None], path: str) -> Response:
    status, retry_after = injected
    reasons = {429: "tooManyRequests", 503: "serviceUnavailable"}
    messages = {429: "Too many requests in a given amount of time"}
    response = error_response(
        status,
        reasons.get(status, "unexpectedError"),
        messages.get(status, "injected by the simulator's fault API"),
        path,
    )
    if retry_after is not None:
        response.headers.append(("Retry-After", str(retry_after)))
    return response


_PUBLIC: dict[str, tuple[tuple[str, ...], Callable[[Request, V3Cloud], Response]]] = {
    "/oauth2/authorize": (("GET", "POST"), auth.authorize),
    "/oauth2/token": (("POST",), auth.token),
    "/oauth2/revoke": (("POST",), auth.revoke),
}
_ID = "([^/]+)"
_SUBSCRIPTION = f"/api/v3\\.0/eventSubscriptions/{_ID}"
_ROUTES: list[tuple[str, re.Pattern[str], ApiHandler]] = [
    (method, re.compile(pattern), handler)
    for method, pattern, handler in (
        ("GET", r"/api/v3\.0/clientSettings", api.client_settings),
        ("GET", r"/api/v3\.0/accounts", api.accounts),
        ("GET", r"/api/v3\.0/users/self", api.current_user),
        ("GET", r"/api/v3\.0/cameras", api.list_devices(DeviceType.CAMERA)),
        ("GET", f"/api/v3\\.0/cameras/{_ID}", api.get_device(DeviceType.CAMERA)),
        ("GET", r"/api/v3\.0/bridges", api.list_devices(DeviceType.BRIDGE)),
        ("GET", f"/api/v3\\.0/bridges/{_ID}", api.get_device(DeviceType.BRIDGE)),
        ("GET", r"/api/v3\.0/events", events.list_events),
        ("GET", r"/api/v3\.0/events:listFieldValues", events.list_field_values),
        ("GET", r"/api/v3\.0/eventTypes", events.event_types),
        ("GET", r"/api/v3\.0/eventSubscriptions", events.list_subscriptions),
        ("POST", r"/api/v3\.0/eventSubscriptions", events.create_subscription),
        ("GET", _SUBSCRIPTION, events.get_subscription),
        ("DELETE", _SUBSCRIPTION, events.delete_subscription),
        ("GET", f"{_SUBSCRIPTION}/filters", events.list_filters),
        ("POST", f"{_SUBSCRIPTION}/filters", events.create_filter),
        ("GET", f"{_SUBSCRIPTION}/filters/{_ID}", events.get_filter),
        ("DELETE", f"{_SUBSCRIPTION}/filters/{_ID}", events.delete_filter),
        # On the real cloud this one lives on the auth host (§3.2); here every host is one.
        ("POST", r"/api/v3\.0/authorizationTokens", auth.authorization_tokens),
    )
]


def served() -> list[tuple[str, str]]:
    """Every (method, path pattern) the v3 side answers: the auth host's pages, the API routes
    and the SSE URL. The OpenAPI test (test_v3_openapi.py) fails for one it has no schema for."""
    public = [
        (method, re.escape(path)) for path, (methods, _) in _PUBLIC.items() for method in methods
    ]
    api = [(method, pattern.pattern) for method, pattern, _ in _ROUTES]
    return [*public, *api, ("GET", SSE_PATH.pattern)]
