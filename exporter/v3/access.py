"""Where v3 calls go (EEN_URL, §2) and which access token each monitored account uses (§3.2).

With EEN's default the token endpoint is EEN's auth host and the API host comes from the
token answer (or clientSettings); any other EEN_URL (the simulator, a proxy) takes every call.
A reseller reaches its end-user accounts with a token per account from /authorizationTokens;
an end user's own account uses the grant's token.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from exporter.accounts.pacing import Backoff
from exporter.logs import register_secret
from exporter.v3.api import EEN_API_URL, Account, ApiError, V3Client, api_base
from exporter.v3.oauth import EEN_AUTH_URL, Failure, OAuthError
from exporter.v3.tokens import (
    REFRESH_MARGIN_SECONDS,
    REFRESH_MARGIN_SHARE,
    AccessToken,
    TokenManager,
    TokenPolicy,
)

V1_LOGIN_URL = "https://login.eagleeyenetworks.com"  # EEN_URL's default: means "EEN" in v3
RELOGIN = "run `een-exporter login` again"


# -- which account is watched with which token (issue 22; for the accounts engine to port) ------

END_USER_TYPE = "endUserAccount"  # AccountType (OAS user-and-accounts)


class Via(enum.StrEnum):
    GRANT = "grant"  # the grant's own access token
    SWITCH = "switch"  # a token per account from POST /authorizationTokens, asked with the grant's


def watch_plan(visible: list[Account], own_id: str, own_has_devices: bool) -> dict[str, Via]:
    """Account id -> how to reach it, for the accounts /accounts shows a grant.

    The grant's own account (GET /users/self `accountId`) is reached with the grant's token
    and every other visible account through /authorizationTokens, whatever the `type` strings
    say: `distributor`, `reseller`, `endUserAccount` or a value EEN adds later. The own
    account is watched when it is an end user's, when it holds devices, or when it is the only
    one visible; a reseller's or distributor's own account usually holds none.
    """
    plan: dict[str, Via] = {}
    for account in visible:
        if account.id != own_id:
            plan[account.id] = Via.SWITCH
        elif account.type == END_USER_TYPE or own_has_devices or len(visible) == 1:
            plan[account.id] = Via.GRANT
    return plan


@dataclass(frozen=True)
class Hosts:
    auth_url: str
    fixed: str | None  # EEN_URL other than EEN's: every call goes there

    @classmethod
    def from_url(cls, url: str) -> Hosts:
        url = url.rstrip("/")
        if url in (V1_LOGIN_URL, EEN_AUTH_URL):
            return cls(EEN_AUTH_URL, None)
        return cls(url, url)

    def api(self, client: V3Client, token: str, hostname: str, port: int) -> str:
        """The API base URL for a token answer's httpsBaseUrl."""
        if self.fixed is not None:
            return f"{self.fixed}/api/v3.0"
        if not hostname:
            hostname, port = client.client_settings(token, EEN_API_URL)
        return api_base(hostname, port)


@dataclass(frozen=True)
class Credential:
    """An access token for one account, where to use it, and when to renew it."""

    value: str = field(repr=False)
    base: str  # https://host/api/v3.0
    renew_at: float  # time.monotonic(): from then on get() hands out a new token


class AccountAccess(Protocol):
    def get(self) -> Credential: ...

    def invalidate(self, credential: Credential) -> None:
        """The API answered 401 to `credential`: the next get() asks for a new one."""


class GrantHealth(Protocol):
    def refused(self, problem: str) -> None:
        """EEN refuses the grant (why, and what to do); called once per refused try."""

    def accepted(self) -> None:
        """A refresh or a reused token went through."""


class GrantAccess:
    """The grant's own account: the TokenManager's token.

    Once EEN refuses the grant (the refresh token is dead, or the client credentials are
    wrong), every caller gets that refusal without asking EEN again until the pause is over;
    the next try re-reads the token file first, where `een-exporter login` may have put a
    new grant meanwhile.
    """

    def __init__(
        self,
        manager: TokenManager,
        hosts: Hosts,
        client: V3Client,
        health: GrantHealth,
        pause: Backoff,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._manager = manager
        self._hosts = hosts
        self._client = client
        self._health = health
        self._pause = pause
        self._clock = clock
        self._lock = threading.Lock()
        self._issued: dict[str, tuple[Credential, AccessToken]] = {}
        self._refusal: OAuthError | None = None
        self._refused_until = 0.0

    def get(self) -> Credential:
        token = self._token()
        with self._lock:
            issued = self._issued.get(token.value)
            if issued is not None and issued[1] == token:  # a paced refresh moves renew_at
                return issued[0]
        base = self._hosts.api(self._client, token.value, token.api_hostname, token.api_port)
        credential = Credential(token.value, base, token.renew_at)
        with self._lock:
            self._issued = {token.value: (credential, token)}  # older tokens are dead anyway
        return credential

    def _token(self) -> AccessToken:
        with self._lock:
            refusal = self._refusal
            if refusal is not None and self._clock() < self._refused_until:
                raise refusal
            if refusal is not None:
                self._manager.reload()
        try:
            token = self._manager.access_token()
        except OAuthError as exc:
            if exc.failure is Failure.TRANSIENT:
                raise
            self._refused(exc)
            raise
        with self._lock:
            refused, self._refusal = self._refusal, None
        if refused is not None:
            self._pause.reset()
        self._health.accepted()
        return token

    def _refused(self, exc: OAuthError) -> None:
        with self._lock:
            self._refusal = exc
            self._refused_until = self._clock() + self._pause.next_delay()
        hint = RELOGIN if exc.failure is Failure.GRANT else "check EEN_CLIENT_ID and its secret"
        self._health.refused(f"EEN refuses the grant: {exc}; {hint}")

    def invalidate(self, credential: Credential) -> None:
        with self._lock:
            issued = self._issued.pop(credential.value, None)
        if issued is not None:
            self._manager.invalidate(issued[1])


class EndUserAccess:
    """A reseller's end-user account: its own token, asked for with the reseller's (§3.2)."""

    def __init__(
        self,
        account_id: str,
        reseller: GrantAccess,
        hosts: Hosts,
        client: V3Client,
        clock: Callable[[], float] = time.monotonic,
        min_lifetime: float = TokenPolicy.min_lifetime,
    ) -> None:
        self._account_id = account_id
        self._reseller = reseller
        self._hosts = hosts
        self._client = client
        self._clock = clock
        self._min_lifetime = min_lifetime
        self._lock = threading.Lock()  # one request at a time for this account
        self._current: Credential | None = None

    def get(self) -> Credential:
        with self._lock:
            current = self._current
            if current is not None and self._clock() < current.renew_at:
                return current
            reseller = self._reseller.get()
            try:
                token = self._client.end_user_token(
                    self._hosts.auth_url, reseller.value, self._account_id
                )
            except ApiError as exc:
                if exc.status == 401:
                    self._reseller.invalidate(reseller)
                raise
            register_secret(token.value)
            # An expireTimestamp that is past, unreadable or close: renewed no sooner than
            # the grant's token would be (TokenPolicy.min_lifetime), not once per call.
            lifetime = max(_seconds_until(token.expire_timestamp), self._min_lifetime)
            margin = min(REFRESH_MARGIN_SECONDS, lifetime * REFRESH_MARGIN_SHARE)
            base = self._hosts.api(self._client, token.value, token.api_hostname, token.api_port)
            self._current = Credential(token.value, base, self._clock() + lifetime - margin)
            return self._current

    def invalidate(self, credential: Credential) -> None:
        with self._lock:
            if self._current is not None and self._current.value == credential.value:
                self._current = None


def _seconds_until(timestamp: str) -> float:
    """Seconds from now to an ISO 8601 expireTimestamp; 0 (renew at once) if unreadable."""
    try:
        moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    if moment.tzinfo is None:
        return 0.0
    return max(0.0, moment.timestamp() - time.time())
