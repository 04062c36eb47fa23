"""The v3 OAuth state (een-api-v3.md §1, §3.2): authorization codes, grants with rotating refresh
tokens, and access tokens, on an injectable wall clock. No I/O."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

DAY = 24 * 3600.0


@dataclass(frozen=True)
class V3Settings:
    """The registered OAuth client and the lifetimes the simulated auth server uses."""

    client_id: str = "demo-client"
    client_secret: str = "demo-secret"  # noqa: S105 - the simulator's documented demo client
    access_token_seconds: float = 12 * 3600.0  # EEN: up to 12 h (§1.4)
    refresh_idle_seconds: float = 14 * DAY  # EEN: 14 days after the last use (§1.5)
    refresh_max_seconds: float = 90 * DAY  # EEN: 90 days after the consent (§1.5)
    code_seconds: float = 300.0  # EEN: 5 minutes (§1.3)
    sse_ttl_seconds: float = 900.0  # OAS example timeToLiveSeconds (§5.3)
    sse_keepalive_seconds: float = 15.0  # not documented by EEN; 0 sends none

    def __post_init__(self) -> None:
        for name in (
            "access_token_seconds",
            "refresh_idle_seconds",
            "refresh_max_seconds",
            "code_seconds",
            "sse_ttl_seconds",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"V3Settings.{name} must be > 0")
        if self.sse_keepalive_seconds < 0:
            raise ValueError("V3Settings.sse_keepalive_seconds must be >= 0")
        if not self.client_id or not self.client_secret:
            raise ValueError("the v3 client id and secret must not be empty")


@dataclass
class AuthorizationCode:
    value: str
    account_id: str
    redirect_uri: str | None  # None: minted by the control API, any redirect_uri is accepted
    expires_at: float


@dataclass
class AccessToken:
    value: str
    account_id: str
    expires_at: float
    grant_id: str | None  # None for an end-user token a reseller asked for (§3.2)
    reseller: bool  # may ask /authorizationTokens for its end-user accounts


@dataclass
class Grant:
    """One consent: its refresh token rotates on every use (§1.5)."""

    id: str
    account_id: str
    reseller: bool
    authorized_at: float
    refresh_token: str
    refresh_issued_at: float
    access_token: str | None = None
    refreshes: int = 0


class TokenError(Exception):
    """A token request the auth server refuses; `status` and an RFC 6749 `error` code."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


@dataclass
class IssuedTokens:
    access: AccessToken
    refresh_token: str


@dataclass
class TokenStore:
    settings: V3Settings
    clock: Callable[[], float] = time.time
    _codes: dict[str, AuthorizationCode] = field(default_factory=dict)
    _grants: dict[str, Grant] = field(default_factory=dict)
    _grant_by_refresh: dict[str, str] = field(default_factory=dict)
    _access: dict[str, AccessToken] = field(default_factory=dict)
    refreshes: int = 0  # refresh-token grants served, for the control API

    # -- codes ----------------------------------------------------------------------------------

    def issue_code(self, account_id: str, redirect_uri: str | None) -> AuthorizationCode:
        self._forget_expired_codes()
        code = AuthorizationCode(
            secrets.token_urlsafe(24),
            account_id,
            redirect_uri,
            self.clock() + self.settings.code_seconds,
        )
        self._codes[code.value] = code
        return code

    def redeem_code(self, value: str, redirect_uri: str | None, reseller: bool) -> IssuedTokens:
        """Exchange a code once; a new grant with its first refresh token."""
        code = self._codes.pop(value, None)
        if code is None or code.expires_at <= self.clock():
            raise TokenError(401, "invalid_grant", "the authorization code is invalid or expired")
        if code.redirect_uri is not None and code.redirect_uri != redirect_uri:
            raise TokenError(400, "invalid_grant", "redirect_uri does not match the authorization")
        now = self.clock()
        grant = Grant(
            id=secrets.token_hex(8),
            account_id=code.account_id,
            reseller=reseller,
            authorized_at=now,
            refresh_token=_opaque_token(),
            refresh_issued_at=now,
        )
        self._grants[grant.id] = grant
        self._grant_by_refresh[grant.refresh_token] = grant.id
        return IssuedTokens(self._issue_for(grant), grant.refresh_token)

    # -- refresh --------------------------------------------------------------------------------

    def refresh(self, refresh_token: str) -> IssuedTokens:
        """Rotate: a new refresh token; the old one and its access token die at once."""
        grant = self._live_grant(refresh_token)
        if grant is None:
            raise TokenError(401, "invalid_grant", "the refresh token is invalid or expired")
        del self._grant_by_refresh[grant.refresh_token]
        grant.refresh_token = _opaque_token()
        grant.refresh_issued_at = self.clock()
        grant.refreshes += 1
        self._grant_by_refresh[grant.refresh_token] = grant.id
        self.refreshes += 1
        return IssuedTokens(self._issue_for(grant), grant.refresh_token)

    def _live_grant(self, refresh_token: str) -> Grant | None:
        grant_id = self._grant_by_refresh.get(refresh_token)
        grant = self._grants.get(grant_id) if grant_id else None
        if grant is None:
            return None
        now = self.clock()
        idle = now - grant.refresh_issued_at >= self.settings.refresh_idle_seconds
        too_old = now - grant.authorized_at >= self.settings.refresh_max_seconds
        if idle or too_old:
            self._end_grant(grant)
            return None
        return grant

    def _issue_for(self, grant: Grant) -> AccessToken:
        if grant.access_token is not None:
            self._access.pop(grant.access_token, None)
        token = self._new_access(grant.account_id, grant.id, grant.reseller)
        grant.access_token = token.value
        return token

    def _new_access(self, account_id: str, grant_id: str | None, reseller: bool) -> AccessToken:
        self._forget_expired_access()
        expires = self.clock() + self.settings.access_token_seconds
        value = _jwt_shaped(account_id, expires)
        token = AccessToken(value, account_id, expires, grant_id, reseller)
        self._access[token.value] = token
        return token

    # -- access tokens --------------------------------------------------------------------------

    def access(self, value: str | None) -> AccessToken | None:
        """The live access token for `value`; expired ones are forgotten."""
        if not value:
            return None
        token = self._access.get(value)
        if token is None:
            return None
        if token.expires_at <= self.clock():
            del self._access[value]
            return None
        return token

    def end_user_token(self, account_id: str) -> AccessToken:
        """What a reseller gets for one of its end-user accounts: no refresh token (§3.2)."""
        return self._new_access(account_id, None, reseller=False)

    def revoke(self, value: str) -> None:
        """RFC 7009: an access or refresh token; a refresh token ends its whole grant."""
        token = self._access.pop(value, None)
        if token is not None and token.grant_id in self._grants:
            self._grants[token.grant_id].access_token = None
        grant_id = self._grant_by_refresh.get(value)
        if grant_id is not None:
            self._end_grant(self._grants[grant_id])

    def expire_access_tokens(self) -> int:
        """Fault: every access token stops working now (refresh tokens stay valid)."""
        count = len(self._access)
        self._access.clear()
        for grant in self._grants.values():
            grant.access_token = None
        return count

    def end_grants(self) -> int:
        """Fault: every refresh token stops working too; a person must consent again."""
        count = len(self._grants)
        for grant in list(self._grants.values()):
            self._end_grant(grant)
        self._access.clear()
        return count

    def forget_account(self, account_id: str) -> None:
        for grant in [g for g in self._grants.values() if g.account_id == account_id]:
            self._end_grant(grant)
        for value in [v for v, t in self._access.items() if t.account_id == account_id]:
            del self._access[value]

    def _end_grant(self, grant: Grant) -> None:
        self._grants.pop(grant.id, None)
        self._grant_by_refresh.pop(grant.refresh_token, None)
        if grant.access_token is not None:
            self._access.pop(grant.access_token, None)

    # -- counts for the control API ---------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        self._forget_expired_access()
        return {
            "grants": len(self._grants),
            "access_tokens": len(self._access),
            "refreshes": self.refreshes,
        }

    def _forget_expired_codes(self) -> None:
        now = self.clock()
        for value in [v for v, code in self._codes.items() if code.expires_at <= now]:
            del self._codes[value]

    def _forget_expired_access(self) -> None:
        now = self.clock()
        for value in [v for v, token in self._access.items() if token.expires_at <= now]:
            del self._access[value]


def _opaque_token() -> str:
    return secrets.token_urlsafe(32)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt_shaped(account_id: str, expires_at: float) -> str:
    """A JWT-looking bearer token (EEN's are JWTs, §1.4). Clients must treat it as opaque."""
    header = _b64(json.dumps({"kid": "een-sim", "alg": "none"}).encode())
    claims = {"iss": "een-sim", "aud": account_id, "exp": int(expires_at)}
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{header}.{payload}.{_b64(secrets.token_bytes(32))}"
