"""EEN's OAuth 2.0 authorization-code flow (docs/een-api-v3.md §1): the consent URL, and the
token endpoint for the code exchange and for refreshing.

Token requests go through exporter.transport.rest, v1's bounded exchange: a redirect is refused,
not followed (requests would POST the client secret and the refresh token or code to wherever
it points), a trickled answer is cut at a deadline, and an answer is capped after
decompression. Text from the token endpoint reaches logs and `een-exporter login`'s stderr,
so every secret of the request is redacted from it, whatever the server echoes.
"""

from __future__ import annotations

import base64
import enum
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus, urlencode

import requests

from exporter.logs import SecretRegistry
from exporter.transport import rest
from exporter.transport.rest import RestLimits

EEN_AUTH_URL = "https://auth.eagleeyenetworks.com"
SCOPE = "vms.all"
# A token answer is a few kB (a JWT and a refresh token). Every account's stream waits for a
# refresh, so a stuck one must end well before v1's 60 s REST deadline.
TOKEN_LIMITS = RestLimits(
    connect_timeout=10.0, read_timeout=10.0, deadline=20.0, max_answer=1024 * 1024
)
DETAIL_LIMIT = 200  # characters of the server's error text that are shown
Scrub = Callable[[str], str]


class Failure(enum.Enum):
    GRANT = "grant"  # the code or refresh token is dead: a person must log in again
    CLIENT = "client"  # wrong client id or secret, or a request EEN refuses: fix the settings
    TRANSIENT = "transient"  # network, 429, 5xx: try again later


class OAuthError(Exception):
    """A failed token request; the message never holds a token, code or secret.

    `rotated`: a refresh token that came back in an answer unusable otherwise (no access
    token). EEN killed the old one when it sent it, so it must be kept all the same.
    """

    def __init__(
        self,
        failure: Failure,
        message: str,
        retry_after: float | None = None,
        rotated: str | None = None,
    ) -> None:
        super().__init__(message)
        self.failure = failure
        self.retry_after = retry_after
        self.rotated = rotated


@dataclass(frozen=True)
class TokenAnswer:
    access_token: str = field(repr=False)
    # None: the answer had none, so the one sent stays valid (RFC 6749 §6: the server MAY
    # issue a new one; EEN does on every refresh, §1.5).
    refresh_token: str | None = field(repr=False)
    # Seconds, as the answer said; None when it did not (`expires_in` is only RECOMMENDED,
    # RFC 6749 §5.1) or said something that is not a finite number. What to make of a
    # missing, zero or negative lifetime is the TokenManager's business.
    expires_in: float | None
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
        limits: RestLimits = TOKEN_LIMITS,
    ) -> None:
        self.auth_url = auth_url.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self._http = session or rest.session()
        self._limits = limits

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
        scrub = _scrubber(self.client_id, self._client_secret, form)
        try:
            reply = rest.exchange(
                self._http,
                "POST",
                f"{self.auth_url}/oauth2/token",
                self._limits,
                auth=(self.client_id, self._client_secret),
                data=form,
                headers={"Accept": "application/json"},
            )
        except rest.TransportError as exc:
            # The reason names no URL path: at most a host and port, and the status line of a
            # refused redirect (scrubbed: a server may put anything in it).
            message = scrub(f"token request failed: {exc.reason}")
            raise OAuthError(Failure.TRANSIENT, message) from None
        if reply.status == 200:
            return _answer(reply)
        raise _refusal(reply, scrub)


def _answer(reply: rest.Reply) -> TokenAnswer:
    """The tokens of a 200 answer. A rotated refresh token is never dropped: without an access
    token beside it, it rides on the OAuthError."""
    try:
        body = rest.decode_json(reply.body)
    except rest.TransportError as exc:
        raise OAuthError(Failure.TRANSIENT, f"the token endpoint's {exc.reason}") from None
    if not isinstance(body, dict):
        raise OAuthError(Failure.TRANSIENT, "the token endpoint answered 200 without a JSON object")
    refresh_token = _text(body.get("refresh_token"))
    access_token = _text(body.get("access_token"))
    if access_token is None:
        raise OAuthError(
            Failure.TRANSIENT,
            "the token endpoint answered 200 without an access token",
            rotated=refresh_token,
        )
    hostname, port = _base_url(body.get("httpsBaseUrl"))
    return TokenAnswer(
        access_token=access_token,
        refresh_token=refresh_token,
        expires_in=_seconds(body.get("expires_in")),
        api_hostname=hostname,
        api_port=port,
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _seconds(value: object) -> float | None:
    """A number of seconds, or None. A numeric string counts too (some servers quote it)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        seconds = float(value)
    except (ValueError, OverflowError):
        return None
    return seconds if math.isfinite(seconds) else None


def _base_url(value: object) -> tuple[str, int]:
    """httpsBaseUrl's (hostname, port); ("", 443) when it is not usable, so that the host is
    asked of clientSettings instead (§2)."""
    if not isinstance(value, dict):
        return "", 443
    hostname, port = value.get("hostname"), value.get("port", 443)
    if not isinstance(hostname, str) or not hostname:
        return "", 443
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        return "", 443
    return hostname, port


def _refusal(reply: rest.Reply, scrub: Scrub) -> OAuthError:
    status = reply.status
    error, description = "", ""
    try:
        body = rest.decode_json(reply.body)
    except rest.TransportError:
        body = None
    if isinstance(body, dict):
        error = str(body.get("error", ""))[:80]
        description = str(body.get("error_description", ""))[:DETAIL_LIMIT]
    detail = " ".join(part for part in (error, description) if part) or reply.reason
    message = scrub(f"the token endpoint answered {status}: {detail}")
    if status == 429 or status >= 500:
        return OAuthError(Failure.TRANSIENT, message, _retry_after(reply))
    if status == 401 and error != "invalid_client":
        return OAuthError(Failure.GRANT, message)  # AS2: 401 on refresh = log in again
    return OAuthError(Failure.CLIENT, message)


def _retry_after(reply: rest.Reply) -> float | None:
    value = reply.headers.get("Retry-After", "")
    return float(value) if value.strip().isdigit() else None


def _scrubber(client_id: str, client_secret: str, form: dict[str, str]) -> Scrub:
    """Redacts what this request sent that is secret (the client secret, a code, a refresh
    token), as sent and as a server might echo it (URL-encoded, or the Basic credentials),
    and replaces characters that are not printable (a terminal reads login's stderr)."""
    secrets = [client_secret, *(form[name] for name in ("code", "refresh_token") if name in form)]
    known = SecretRegistry()
    for secret in _spellings(secrets):
        known.add(secret)
    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    known.add(basic)

    def scrub(text: str) -> str:
        printable = "".join(c if c.isprintable() else "\ufffd" for c in text)
        return known.redact(printable)

    return scrub


def _spellings(secrets: Iterable[str]) -> Iterable[str]:
    for secret in secrets:
        yield secret
        yield quote(secret, safe="")
        yield quote_plus(secret)
