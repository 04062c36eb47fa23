"""The EEN v1 REST API, one login (session) per instance (een-api.md §1-3).

The session key travels only in a cookie, never in a URL, so it cannot leak into an exception
message or a log line that quotes a URL. EEN sets it as `auth_key`, older servers as
`videobank_sessionid`, and may set both (een-api.md §1.5): the key is taken from `auth_key`,
else from `videobank_sessionid`, and sent back, on REST calls and the stream's handshake, under
the name it came with, as a browser would. The cookie is sent by hand rather than kept in a
cookie jar, and redirects are never followed, so neither the cookie nor the password can be
sent to any host other than the one the exporter was pointed at.

Each call is bounded by exporter.transport.rest, the exchange v3 uses too: a read waits at most
`RestLimits.read_timeout`, the whole call, from connecting to the answer's last byte, must end
within `RestLimits.deadline`, and at most `RestLimits.max_answer` bytes are accepted after
decompression.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from exporter.een.logins import Logins
from exporter.een.pacing import Verdict
from exporter.een.rows import ProtocolError, parse_accounts, parse_devices
from exporter.logs import register_secret
from exporter.state.model import AccountInfo, DeviceInfo
from exporter.state.selfmetrics import Endpoint, SelfMetrics
from exporter.transport import rest
from exporter.transport.rest import RestLimits as RestLimits  # re-exported: v1's tests use it

DEFAULT_URL = "https://login.eagleeyenetworks.com"
SESSION_COOKIES = ("auth_key", "videobank_sessionid")  # the session key's names, preferred first

log = logging.getLogger(__name__)
T = TypeVar("T")


LOGOUT_LIMITS = RestLimits(connect_timeout=2.0, read_timeout=2.0, deadline=4.0)
# A keep-alive call once this share of the inactivity timeout passed without a REST call, and
# never more often than KEEP_ALIVE_MIN seconds, whatever the user object says.
KEEP_ALIVE_SHARE = 0.5
KEEP_ALIVE_MIN = 1.0


class ApiError(Exception):
    """A REST call failed; the message is safe to log (no secrets)."""

    def __init__(self, endpoint: Endpoint, reason: str, status: int | None = None) -> None:
        super().__init__(f"{endpoint.value}: {reason}")
        self.endpoint = endpoint
        self.reason = reason
        self.status = status


class AuthError(ApiError):
    """401: the session is no longer valid."""


class CredentialsRefused(ApiError):
    """EEN will not let this user in; trying again soon cannot help."""

    hint = "check EEN_USERNAME / EEN_PASSWORD"


class CredentialsOrKeyRefused(CredentialsRefused):
    """As CredentialsRefused, when an API key was sent too: EEN answers 401 to either."""

    hint = "check EEN_USERNAME / EEN_PASSWORD / EEN_API_KEY"


class TwoFactorError(CredentialsRefused):
    """The user has two-factor authentication, which an unattended exporter cannot do."""

    hint = "use a service user without two-factor authentication"


class LoginPaused(ApiError):
    """EEN refused the credentials a moment ago; this login waits for its turn."""


@dataclass(frozen=True, slots=True)
class User:
    """What authorize tells about the logged-in user."""

    user_id: str
    owner_account_id: str
    active_account_id: str
    is_master: bool
    brand_subdomain: str
    # Seconds without a REST call after which EEN may end the session; None: not said.
    inactive_timeout: float | None = None


@dataclass(frozen=True, slots=True)
class Credentials:
    url: str
    username: str
    password: str
    api_key: str | None = None


@dataclass(frozen=True, slots=True)
class SessionCookie:
    name: str  # one of SESSION_COOKIES
    key: str = field(repr=False)

    @property
    def header(self) -> str:
        return f"{self.name}={self.key}"


@dataclass(frozen=True, slots=True)
class Answer:
    payload: object  # the JSON body, None when it was not asked for
    cookie: SessionCookie | None  # the session cookie the answer set, if any


class EenSession:
    """One login to the EEN API and the host its calls go to."""

    def __init__(
        self,
        credentials: Credentials,
        metrics: SelfMetrics,
        logins: Logins,
        limits: RestLimits | None = None,
    ) -> None:
        self._credentials = credentials
        self._metrics = metrics
        self._logins = logins
        self._limits = limits or RestLimits()
        # No cookie jar: the session key is sent by hand, to this host only (see _exchange).
        self._http = rest.session()
        if credentials.api_key:
            self._http.headers["Authorization"] = credentials.api_key
        self._base = credentials.url.rstrip("/")
        self.cookie: SessionCookie | None = None
        self.user: User | None = None
        self._used_at = 0.0  # monotonic time of the last call EEN answered
        self._kept_alive_at = 0.0  # and of the last keep-alive tried

    # --- login ------------------------------------------------------------------------------

    def login(self) -> User:
        """Authenticate + authorize; on failure counts a login failure and raises ApiError.

        After EEN refused the credentials, logins are paused for every session (`Logins`):
        then this raises LoginPaused without calling EEN.
        """
        if not self._logins.begin():
            wait = self._logins.remaining()
            raise LoginPaused(
                Endpoint.AUTHENTICATE,
                f"paused: EEN refused the credentials; next attempt in {wait:.0f}s",
            )
        verdict, refusal = Verdict.UNKNOWN, None
        try:
            user = self._login()
            verdict = Verdict.ACCEPTED
        except CredentialsRefused as exc:
            verdict, refusal = Verdict.REFUSED, exc
            raise
        finally:
            if verdict is not Verdict.ACCEPTED:
                self._metrics.login_failures.inc()
            self._logins.end(verdict, str(refusal or ""), refusal.hint if refusal else "")
        self.user = user
        return user

    def login_wait(self) -> float:
        """Seconds before this session may try to log in (see LoginPause); 0.0: now."""
        return self._logins.remaining()

    def _login(self) -> User:
        self.close()
        self.cookie = None
        self._base = self._credentials.url.rstrip("/")
        body = {"username": self._credentials.username, "password": self._credentials.password}
        try:
            answer = self._call(Endpoint.AUTHENTICATE, "POST", "/g/aaa/authenticate", body)
        except AuthError as exc:
            refused = CredentialsOrKeyRefused if self._credentials.api_key else CredentialsRefused
            raise refused(exc.endpoint, exc.reason, exc.status) from None
        token = _object(Endpoint.AUTHENTICATE, answer.payload)
        if "two_factor_authentication_code" in token:
            raise TwoFactorError(
                Endpoint.AUTHENTICATE,
                f"user {self._credentials.username} has two-factor authentication enabled; "
                "the exporter needs a service user without two-factor authentication",
            )
        value = token.get("token")
        if not isinstance(value, str):
            raise ApiError(Endpoint.AUTHENTICATE, "answer has no token")
        answer = self._call(Endpoint.AUTHORIZE, "POST", "/g/aaa/authorize", {"token": value})
        if not answer.cookie:
            raise ApiError(
                Endpoint.AUTHORIZE, "answer set no auth_key or videobank_sessionid cookie"
            )
        self.cookie = answer.cookie
        user = _user(_object(Endpoint.AUTHORIZE, answer.payload))
        if self._credentials.url.rstrip("/") == DEFAULT_URL and user.brand_subdomain:
            # EEN asks clients to use the account's branded host after login (een-api.md §1.1).
            self._base = f"https://{user.brand_subdomain}.eagleeyenetworks.com"
        return user

    def logout(self) -> None:
        """End the session on the server; best effort, never raises."""
        if self.cookie is None:
            return
        try:
            self._call(Endpoint.LOGOUT, "POST", "/g/aaa/logout", decode=False, limits=LOGOUT_LIMITS)
        except ApiError as exc:
            log.debug("logout failed", extra={"reason": str(exc)})
        self.cookie = None
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- accounts and devices ---------------------------------------------------------------

    def list_accounts(self) -> list[AccountInfo]:
        answer = self._call(Endpoint.ACCOUNT_LIST, "GET", "/g/account/list")
        return _parse(Endpoint.ACCOUNT_LIST, parse_accounts, answer.payload)

    def switch_account(self, account_id: str) -> None:
        body = {"account_id": account_id}
        self._call(Endpoint.SWITCH_ACCOUNT, "POST", "/g/aaa/switch_account", body, decode=False)

    def list_devices(self) -> list[DeviceInfo]:
        answer = self._call(Endpoint.DEVICE_LIST, "GET", "/g/device/list")
        return _parse(Endpoint.DEVICE_LIST, parse_devices, answer.payload)

    # --- inactivity ---------------------------------------------------------------------------

    def keep_alive_interval(self) -> float | None:
        """Seconds without a call after which to keep the session alive; None: no need known.

        Whether an open stream counts as activity is undocumented (een-api.md §1.7), so only
        REST calls are taken to count.
        """
        timeout = self.user.inactive_timeout if self.user else None
        return None if timeout is None else max(KEEP_ALIVE_MIN, timeout * KEEP_ALIVE_SHARE)

    def keep_alive_due(self) -> bool:
        """Whether a keep-alive is due: an interval without an answered call, and a failed
        keep-alive is tried again a quarter interval later (several tries before EEN's
        timeout)."""
        interval = self.keep_alive_interval()
        if interval is None:
            return False
        now = time.monotonic()
        return now - self._used_at >= interval and now - self._kept_alive_at >= interval / 4

    def keep_alive(self) -> None:
        """`GET /g/aaa/isauth`, the cheapest authenticated call; AuthError when the session
        is gone."""
        self._kept_alive_at = time.monotonic()
        self._call(Endpoint.ISAUTH, "GET", "/g/aaa/isauth", decode=False)

    # --- the poll stream ----------------------------------------------------------------------

    def stream_url(self, account_id: str) -> str:
        """`ws(s)://<host>/api/v2/Device/<account>/Events`, on the host REST calls go to; the
        id percent-encoded (a `/`, `?` or `#` in it would change the path)."""
        parts = urlsplit(self._base)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return f"{scheme}://{parts.netloc}/api/v2/Device/{quote(account_id, safe='')}/Events"

    def stream_headers(self) -> list[str]:
        headers = [f"Cookie: {self.cookie.header}"] if self.cookie else []
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
        *,
        decode: bool = True,
        limits: RestLimits | None = None,
    ) -> Answer:
        """One call, counted; a failed one (network, non-2xx, redirect, bad answer) too."""
        self._metrics.api_requests.labels(endpoint.value).inc()
        try:
            answer = self._exchange(endpoint, method, path, body, decode, limits or self._limits)
        except ApiError:
            self._metrics.api_failures.labels(endpoint.value).inc()
            raise
        if answer.cookie and self.cookie:
            self.cookie = answer.cookie
        self._used_at = time.monotonic()
        return answer

    def _exchange(
        self,
        endpoint: Endpoint,
        method: str,
        path: str,
        body: dict[str, str] | None,
        decode: bool,
        limits: RestLimits,
    ) -> Answer:
        headers = {"Cookie": self.cookie.header} if self.cookie else {}
        try:
            # A refusal's body is not read: v1 says nothing in it that the status does not.
            reply = rest.exchange(
                self._http, method, self._base + path, limits, headers=headers, json=body,
                read_refusals=False,
            )  # fmt: skip
        except rest.TransportError as exc:
            if exc.failure is rest.Failure.UNSENDABLE:
                # Only the API key can hold anything but latin-1.
                raise ApiError(endpoint, "EEN_API_KEY has characters that cannot be sent") from None
            raise ApiError(endpoint, exc.reason) from None
        if reply.status >= 300:
            error = AuthError if reply.status == 401 else ApiError
            raise error(endpoint, reply.status_line, reply.status)
        payload = _json(endpoint, reply.body) if decode else None
        return Answer(payload, _session_cookie(reply.set_cookies))


def _session_cookie(set_cookies: tuple[str, ...]) -> SessionCookie | None:
    """The session key the answer set, by SESSION_COOKIES' order; every one is a secret.

    Of two cookies of one name, the later replaces the earlier, as in a browser.
    """
    keys: dict[str, str] = {}
    for header in set_cookies:
        name, _, rest = header.partition("=")
        if name.strip() in SESSION_COOKIES:
            keys[name.strip()] = rest.split(";", 1)[0].strip()
    for key in keys.values():
        register_secret(key)
    return next(
        (SessionCookie(name, keys[name]) for name in SESSION_COOKIES if keys.get(name)), None
    )


def _json(endpoint: Endpoint, content: bytes) -> object:
    try:
        return rest.decode_json(content)
    except rest.TransportError as exc:
        raise ApiError(endpoint, exc.reason) from None


def _object(endpoint: Endpoint, payload: object) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ApiError(endpoint, f"expected a JSON object, got {type(payload).__name__}")
    return payload


def _parse(endpoint: Endpoint, parser: Callable[[object], list[T]], payload: object) -> list[T]:
    try:
        return parser(payload)
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
        inactive_timeout=_inactive_timeout(answer.get("inactive_session_timeout")),
    )


def _inactive_timeout(minutes: object) -> float | None:
    """`inactive_session_timeout` in seconds. Documented as seconds, but EEN's examples (15
    on the user, 720 on the account) only make sense as minutes: 15 seconds would end a
    session between two clicks (een-api.md §1.7). Not a positive number: None.
    """
    if not isinstance(minutes, int | float) or isinstance(minutes, bool):
        return None
    return minutes * 60.0 if 0 < minutes < math.inf else None
