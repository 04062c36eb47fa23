"""The EEN v1 REST API, one login (session) per instance (een-api.md §1-3).

The session key travels only in the `auth_key` cookie, never in a URL, so it cannot leak into
an exception message or a log line that quotes a URL.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests

from exporter.een.rows import ProtocolError, parse_accounts, parse_devices
from exporter.logs import register_secret
from exporter.model import AccountInfo, DeviceInfo
from exporter.selfmetrics import Endpoint, SelfMetrics

DEFAULT_URL = "https://login.eagleeyenetworks.com"
TIMEOUT = (10.0, 30.0)  # connect, read (a large account's device list takes a while)

log = logging.getLogger(__name__)
T = TypeVar("T")


class ApiError(Exception):
    """A REST call failed; the message is safe to log (no secrets)."""

    def __init__(self, endpoint: Endpoint, reason: str, status: int | None = None) -> None:
        super().__init__(f"{endpoint.value}: {reason}")
        self.endpoint = endpoint
        self.status = status


class AuthError(ApiError):
    """401: bad credentials, or the session is no longer valid."""


class TwoFactorError(ApiError):
    """The user has two-factor authentication, which an unattended exporter cannot do."""


@dataclass(frozen=True, slots=True)
class User:
    """What authorize tells about the logged-in user."""

    user_id: str
    owner_account_id: str
    active_account_id: str
    is_master: bool
    brand_subdomain: str


@dataclass(frozen=True, slots=True)
class Credentials:
    url: str
    username: str
    password: str
    api_key: str | None = None


class EenSession:
    """One login to the EEN API and the host its calls go to."""

    def __init__(self, credentials: Credentials, metrics: SelfMetrics) -> None:
        self._credentials = credentials
        self._metrics = metrics
        self._http = requests.Session()
        if credentials.api_key:
            self._http.headers["Authorization"] = credentials.api_key
        self._base = credentials.url.rstrip("/")
        self.auth_key: str | None = None
        self.user: User | None = None

    # --- login ------------------------------------------------------------------------------

    def login(self) -> User:
        """Authenticate + authorize; on failure counts a login failure and raises ApiError."""
        try:
            user = self._login()
        except ApiError:
            self._metrics.login_failures.inc()
            raise
        self.user = user
        return user

    def _login(self) -> User:
        self.close()
        self._http.cookies.clear()
        self._base = self._credentials.url.rstrip("/")
        body = {"username": self._credentials.username, "password": self._credentials.password}
        answer = _object(
            Endpoint.AUTHENTICATE,
            self._call(Endpoint.AUTHENTICATE, "POST", "/g/aaa/authenticate", body),
        )
        if "two_factor_authentication_code" in answer:
            raise TwoFactorError(
                Endpoint.AUTHENTICATE,
                f"user {self._credentials.username} has two-factor authentication enabled; "
                "the exporter needs a service user without two-factor authentication",
            )
        token = answer.get("token")
        if not isinstance(token, str):
            raise ApiError(Endpoint.AUTHENTICATE, "answer has no token")
        response = self._call(Endpoint.AUTHORIZE, "POST", "/g/aaa/authorize", {"token": token})
        key = response.cookies.get("auth_key")
        if not key:
            raise ApiError(Endpoint.AUTHORIZE, "answer set no auth_key cookie")
        register_secret(key)
        self.auth_key = key
        user = _user(_object(Endpoint.AUTHORIZE, response))
        if self._credentials.url.rstrip("/") == DEFAULT_URL and user.brand_subdomain:
            # EEN asks clients to use the account's branded host after login (een-api.md §1.1).
            self._base = f"https://{user.brand_subdomain}.eagleeyenetworks.com"
        return user

    def logout(self) -> None:
        """End the session on the server; best effort, never raises."""
        if self.auth_key is None:
            return
        try:
            self._call(Endpoint.LOGOUT, "POST", "/g/aaa/logout", timeout=(2.0, 2.0))
        except ApiError as exc:
            log.debug("logout failed", extra={"reason": str(exc)})
        self.auth_key = None
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- accounts and devices ---------------------------------------------------------------

    def list_accounts(self) -> list[AccountInfo]:
        response = self._call(Endpoint.ACCOUNT_LIST, "GET", "/g/account/list")
        return _parse(Endpoint.ACCOUNT_LIST, parse_accounts, response)

    def switch_account(self, account_id: str) -> None:
        body = {"account_id": account_id}
        self._call(Endpoint.SWITCH_ACCOUNT, "POST", "/g/aaa/switch_account", body)

    def list_devices(self) -> list[DeviceInfo]:
        response = self._call(Endpoint.DEVICE_LIST, "GET", "/g/device/list")
        return _parse(Endpoint.DEVICE_LIST, parse_devices, response)

    # --- the poll stream ----------------------------------------------------------------------

    def stream_url(self, account_id: str) -> str:
        """`ws(s)://<host>/api/v2/Device/<account>/Events`, on the host REST calls go to."""
        parts = urlsplit(self._base)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return f"{scheme}://{parts.netloc}/api/v2/Device/{account_id}/Events"

    def stream_headers(self) -> list[str]:
        headers = [f"Cookie: auth_key={self.auth_key}"]
        if self._credentials.api_key:
            headers.append(f"Authorization: {self._credentials.api_key}")
        return headers

    # --- plumbing -----------------------------------------------------------------------------

    def _call(
        self,
        endpoint: Endpoint,
        method: str,
        path: str,
        body: dict[str, str] | None = None,
        timeout: tuple[float, float] = TIMEOUT,
    ) -> requests.Response:
        self._metrics.api_requests.labels(endpoint.value).inc()
        cookies = {"auth_key": self.auth_key} if self.auth_key else None
        try:
            response = self._http.request(
                method, self._base + path, json=body, cookies=cookies, timeout=timeout
            )
        except requests.RequestException as exc:
            self._metrics.api_failures.labels(endpoint.value).inc()
            raise ApiError(endpoint, describe_network_error(exc)) from None
        if response.status_code >= 300:
            self._metrics.api_failures.labels(endpoint.value).inc()
            raise _http_error(endpoint, response)
        rotated = response.cookies.get("auth_key")
        if rotated and self.auth_key and rotated != self.auth_key:
            register_secret(rotated)
            self.auth_key = rotated
        return response


def _http_error(endpoint: Endpoint, response: requests.Response) -> ApiError:
    status = response.status_code
    reason = f"HTTP {status} {response.reason or ''}".strip()
    if status == 401:
        return AuthError(endpoint, reason, status)
    return ApiError(endpoint, reason, status)


def _payload(endpoint: Endpoint, response: requests.Response) -> object:
    try:
        return response.json()
    except ValueError:
        raise ApiError(endpoint, "answer is not JSON") from None


def _object(endpoint: Endpoint, response: requests.Response) -> dict[str, Any]:
    payload = _payload(endpoint, response)
    if not isinstance(payload, dict):
        raise ApiError(endpoint, f"expected a JSON object, got {type(payload).__name__}")
    return payload


def _parse(
    endpoint: Endpoint, parser: Callable[[object], list[T]], response: requests.Response
) -> list[T]:
    try:
        return parser(_payload(endpoint, response))
    except ProtocolError as exc:
        raise ApiError(endpoint, str(exc)) from None


def _user(answer: dict[str, Any]) -> User:
    def text(key: str) -> str:
        value = answer.get(key)
        return value if isinstance(value, str) else ""

    return User(
        user_id=text("user_id") or text("id"),
        owner_account_id=text("owner_account_id"),
        active_account_id=text("active_account_id") or text("owner_account_id"),
        is_master=bool(answer.get("is_master")),
        brand_subdomain=text("active_brand_subdomain"),
    )


def describe_network_error(exc: BaseException) -> str:
    """A short reason for a network failure, e.g. 'connection refused' or 'timed out'."""
    if isinstance(exc, requests.Timeout):
        return "timed out"
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower()
        cause = cause.__cause__ or cause.__context__
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "Connection reset"):
        if marker in text:
            return marker.lower()
    return f"network error ({type(exc).__name__})"
