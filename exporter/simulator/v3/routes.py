"""The simulated EEN API v3 beside v1, on the same server and world (een-api-v3.md).

`V3Cloud` holds v3's state (tokens, subscriptions, faults), routes v3 requests, and listens
to the world's changes through `Cloud.listeners`. The auth host, the API host and the SSE host
of the real cloud are all this one server.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from exporter.simulator.cloud import Cloud
from exporter.simulator.http import HttpError, Request, Response
from exporter.simulator.v3 import api, auth, events
from exporter.simulator.v3.api import ApiError, error_response, iso_timestamp
from exporter.simulator.v3.tokens import AccessToken, TokenStore, V3Settings
from exporter.simulator.world import DeviceType

_HOST_HEADER = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")
_V3_PREFIXES = ("/oauth2/", "/api/v3.0/", "/sse/v3.0/")

ApiHandler = Callable[..., Response]  # (request, v3, token, *path groups) -> Response


@dataclass
class V3Faults:
    """Pending injected HTTP answers for v3 calls (429 with Retry-After, 5xx, ...)."""

    status: int = 0
    remaining: int = 0
    retry_after: int | None = None
    path_prefix: str | None = None

    def take(self, path: str) -> tuple[int, int | None] | None:
        if self.remaining <= 0:
            return None
        if self.path_prefix is not None and not path.startswith(self.path_prefix):
            return None
        self.remaining -= 1
        return self.status, self.retry_after

    def reset(self) -> None:
        self.status = self.remaining = 0
        self.retry_after = self.path_prefix = None


class V3Cloud:
    def __init__(
        self,
        cloud: Cloud,
        settings: V3Settings,
        *,
        scheme: str,
        host: str,
        port: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cloud = cloud
        self.settings = settings
        self.scheme = scheme
        self.host = host
        self.port = port
        self.tokens = TokenStore(settings, clock)
        self.events = events.EventHub(self)
        self.faults = V3Faults()
        self.started_at = iso_timestamp(clock())
        cloud.listeners.append(self)

    # -- addresses ------------------------------------------------------------------------------

    def public_url(self, request: Request | None = None) -> str:
        """scheme://host:port as the client reached us (its Host header), for sseUrl."""
        host = request.headers.get("host", "") if request is not None else ""
        if not _HOST_HEADER.fullmatch(host):
            bracketed = f"[{self.host}]" if ":" in self.host else self.host
            host = f"{bracketed}:{self.port}"
        return f"{self.scheme}://{host}"

    # -- routing ----------------------------------------------------------------------------------

    @staticmethod
    def handles(path: str) -> bool:
        return path.startswith(_V3_PREFIXES)

    @staticmethod
    def is_sse(request: Request) -> bool:
        return events.SSE_PATH.fullmatch(request.path) is not None

    async def serve_sse(
        self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await self.events.serve(request, reader, writer)

    def respond(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        if path != "/oauth2/authorize":
            injected = self.faults.take(path)
            if injected is not None:
                return _injected(injected, path)
        public = _PUBLIC.get(path)
        if public is not None:
            return public(request, self)
        try:
            return self._api(request, path)
        except ApiError as exc:
            return error_response(exc.status, exc.reason, exc.message, path)
        except HttpError as exc:  # the request body was not a JSON object
            return error_response(400, "invalidJSON", exc.message, path)

    def _api(self, request: Request, path: str) -> Response:
        allowed: list[str] = []
        for method, pattern, handler in _ROUTES:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if method != request.method:
                allowed.append(method)
                continue
            return handler(request, self, self.bearer(request), *match.groups())
        if not allowed:
            raise ApiError(404, "endpointNotFound", "The API endpoint was not found")
        response = error_response(
            405, "methodNotSupported", f"HTTP method {request.method} not supported", path
        )
        response.headers.append(("Allow", ", ".join(allowed)))
        return response

    def bearer(self, request: Request) -> AccessToken:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        token = self.tokens.access(value.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            raise ApiError(
                401,
                "unauthenticated",
                "The client caller does not have a valid authentication credential",
            )
        return token

    # -- the world's changes (Cloud.listeners) ------------------------------------------------

    def status_changed(self, esn: str, previous: int) -> None:
        device = self.cloud.world.devices.get(esn)
        if device is not None:
            self.events.status_changed(device, previous)

    def account_deleted(self, account_id: str) -> None:
        self.events.account_deleted(account_id)
        self.tokens.forget_account(account_id)

    def faults_reset(self) -> None:
        self.faults.reset()
        self.events.unstall_all()

    def shutdown(self) -> None:
        self.events.shutdown()


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


_PUBLIC: dict[str, Callable[[Request, V3Cloud], Response]] = {
    "/oauth2/authorize": auth.authorize,
    "/oauth2/token": auth.token,
    "/oauth2/revoke": auth.revoke,
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
