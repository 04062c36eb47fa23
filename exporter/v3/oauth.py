"""EEN's OAuth 2.0 authorization-code flow (docs/een-api-v3.md §1): the consent URL, and the
token endpoint for the code exchange and for refreshing."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import requests

EEN_AUTH_URL = "https://auth.eagleeyenetworks.com"
SCOPE = "vms.all"
TIMEOUT_SECONDS = 30.0


class Failure(enum.Enum):
    GRANT = "grant"  # the code or refresh token is dead: a person must log in again
    CLIENT = "client"  # wrong client id or secret, or a request EEN refuses: fix the settings
    TRANSIENT = "transient"  # network, 429, 5xx: try again later


class OAuthError(Exception):
    """A failed token request; the message never holds a token, code or secret."""

    def __init__(self, failure: Failure, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.failure = failure
        self.retry_after = retry_after


@dataclass(frozen=True)
class TokenAnswer:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: float
    api_hostname: str
    api_port: int


class OAuthClient:
    """One registered client talking to one auth host (EEN's, or EEN_URL's simulator/proxy)."""

    def __init__(
        self,
        auth_url: str,
        client_id: str,
        client_secret: str,
        session: requests.Session | None = None,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self.auth_url = auth_url.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self._http = session or requests.Session()
        self._timeout = timeout

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        """The page a person opens to consent (phase 1). EEN matches redirect_uri as a string,
        so its `://` stays unencoded (AS1)."""
        query = urlencode({"scope": SCOPE, "client_id": self.client_id, "response_type": "code"})
        redirect = quote(redirect_uri, safe=":/?=&")
        return f"{self.auth_url}/oauth2/authorize?{query}&redirect_uri={redirect}&state={state}"

    def exchange_code(self, code: str, redirect_uri: str) -> TokenAnswer:
        return self._token(
            {"grant_type": "authorization_code", "scope": SCOPE, "code": code,
             "redirect_uri": redirect_uri}
        )  # fmt: skip

    def refresh(self, refresh_token: str) -> TokenAnswer:
        return self._token(
            {"grant_type": "refresh_token", "scope": SCOPE, "refresh_token": refresh_token}
        )

    def _token(self, form: dict[str, str]) -> TokenAnswer:
        try:
            response = self._http.post(
                f"{self.auth_url}/oauth2/token",
                auth=(self.client_id, self._client_secret),
                data=form,
                headers={"Accept": "application/json"},
                timeout=self._timeout,
            )
        except requests.RequestException as exc:
            # The type only: requests' texts can name the URL, never worth the risk here.
            message = f"token request failed: {type(exc).__name__}"
            raise OAuthError(Failure.TRANSIENT, message) from None
        if response.status_code == 200:
            return _answer(response)
        raise _refusal(response)


def _answer(response: requests.Response) -> TokenAnswer:
    try:
        body: dict[str, Any] = response.json()
        base = body.get("httpsBaseUrl") or {}
        return TokenAnswer(
            access_token=str(body["access_token"]),
            refresh_token=str(body["refresh_token"]),
            expires_in=float(body["expires_in"]),
            api_hostname=str(base.get("hostname", "")),
            api_port=int(base.get("port", 443)),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise OAuthError(
            Failure.TRANSIENT, "the token endpoint answered 200 without the expected tokens"
        ) from None


def _refusal(response: requests.Response) -> OAuthError:
    status = response.status_code
    error, description = "", ""
    try:
        body = response.json()
        error = str(body.get("error", ""))[:80]
        description = str(body.get("error_description", ""))[:200]
    except (ValueError, AttributeError):
        pass
    detail = " ".join(part for part in (error, description) if part) or response.reason
    message = f"the token endpoint answered {status}: {detail}"
    if status == 429 or status >= 500:
        return OAuthError(Failure.TRANSIENT, message, _retry_after(response))
    if status == 401 and error != "invalid_client":
        return OAuthError(Failure.GRANT, message)  # AS2: 401 on refresh = log in again
    return OAuthError(Failure.CLIENT, message)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.strip().isdigit() else None
