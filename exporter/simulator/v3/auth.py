"""The simulated v3 auth host (een-api-v3.md §1, §3.2): the consent page, the token and revoke
endpoints, and the reseller's /authorizationTokens."""

from __future__ import annotations

import base64
import binascii
import html
import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from exporter.simulator.http import Request, Response
from exporter.simulator.v3.cloud import V3Cloud
from exporter.simulator.v3.readings import SwitchBaseUrlReading
from exporter.simulator.v3.tokens import AccessToken, IssuedTokens, TokenError
from exporter.simulator.v3.wire import ApiError, iso_timestamp

SCOPE = "vms.all"
_NO_STORE = ("Cache-Control", "no-store")


# -- the consent page (phase 1) -------------------------------------------------------------------


class _PageError(Exception):
    """An authorize request that must not redirect (bad client or redirect_uri): a page."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def authorize(request: Request, v3: V3Cloud) -> Response:
    """GET shows the login form; POST checks it and redirects with `?code=`."""
    fields = request.fields()
    try:
        redirect_uri = _check_client_and_redirect(fields, v3)
    except _PageError as exc:
        return _page(400, "Sign-in request rejected", f"<p>{html.escape(exc.message)}</p>")
    state = _text(fields, "state")
    if _text(fields, "response_type") != "code":
        return _redirect(redirect_uri, {"error": "unsupported_response_type"}, state)
    if _text(fields, "scope") not in (None, SCOPE):
        return _redirect(redirect_uri, {"error": "invalid_scope"}, state)
    if request.method == "GET":  # routes.py lets only GET and POST through
        return _login_form(fields, v3, message=None, status=200)
    if fields.get("decision") != "allow":
        return _redirect(redirect_uri, {"error": "access_denied"}, state)
    if not _credentials_match(fields, v3):
        return _login_form(fields, v3, message="Wrong e-mail address or password.", status=401)
    owner = v3.cloud.world.user.owner_account_id
    code = v3.tokens.issue_code(owner, redirect_uri)
    return _redirect(redirect_uri, {"code": code.value}, state)


def _check_client_and_redirect(fields: dict[str, Any], v3: V3Cloud) -> str:
    client_id = _text(fields, "client_id")
    if client_id is None or not secrets.compare_digest(client_id, v3.settings.client_id):
        raise _PageError("Unknown client_id.")
    redirect_uri = _text(fields, "redirect_uri")
    if redirect_uri is None:
        raise _PageError("redirect_uri is required.")
    parts = urlsplit(redirect_uri)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        raise _PageError("redirect_uri must be an absolute http(s) URL without a fragment.")
    return redirect_uri


def _credentials_match(fields: dict[str, Any], v3: V3Cloud) -> bool:
    credentials = v3.cloud.credentials
    username = _text(fields, "username") or ""
    password = _text(fields, "password") or ""
    return username.lower() == credentials.username.lower() and secrets.compare_digest(
        password, credentials.password
    )


def _login_form(fields: dict[str, Any], v3: V3Cloud, message: str | None, status: int) -> Response:
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(str(fields.get(name, "")))}">'
        for name in ("client_id", "redirect_uri", "response_type", "scope", "state")
        if fields.get(name) is not None
    )
    error = f'<p class="error">{html.escape(message)}</p>' if message else ""
    body = (
        f"<p>The application <b>{html.escape(v3.settings.client_id)}</b> asks for access to "
        f"your Eagle Eye Networks account (scope <code>{SCOPE}</code>).</p>{error}"
        f'<form method="post" action="/oauth2/authorize">{hidden}'
        '<label>E-mail <input name="username" type="email" autocomplete="username"></label>'
        '<label>Password <input name="password" type="password" '
        'autocomplete="current-password"></label>'
        '<button name="decision" value="allow">Sign in and allow</button> '
        '<button name="decision" value="deny">Deny</button></form>'
    )
    return _page(status, "Sign in (simulated EEN)", body)


def _page(status: int, title: str, body: str) -> Response:
    document = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"</head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    response = Response(status, document.encode(), "text/html; charset=utf-8")
    response.headers.append(_NO_STORE)
    return response


def _redirect(redirect_uri: str, params: dict[str, str], state: str | None) -> Response:
    if state is not None:
        params = {**params, "state": state}
    parts = urlsplit(redirect_uri)
    query = "&".join(filter(None, (parts.query, urlencode(params))))
    location = urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
    response = Response(302)
    response.headers += [("Location", location), _NO_STORE]
    return response


# -- the token endpoint (phase 2 and refresh) ---------------------------------------------------


def token(request: Request, v3: V3Cloud) -> Response:
    try:
        _check_client(request, v3)
        issued = _grant(request.fields(), v3)
    except TokenError as exc:
        return _token_error(exc)
    return _token_answer(issued, v3)


def _check_client(request: Request, v3: V3Cloud) -> None:
    """HTTP Basic client authentication, the kind EEN documents (§1.4); without a Basic header,
    `client_id` and `client_secret` in the body (RFC 6749 §2.3.1), as EEN's eensdk-python
    sends them to /oauth2/revoke."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise TokenError(401, "invalid_client", "malformed Basic credentials") from None
        client_id, _, secret = decoded.partition(":")
    else:
        fields = request.fields()
        client_id, secret = _text(fields, "client_id") or "", _text(fields, "client_secret") or ""
        if not client_id:
            raise TokenError(401, "invalid_client", "client authentication is required")
    settings = v3.settings
    id_ok = secrets.compare_digest(client_id.encode(), settings.client_id.encode())
    secret_ok = secrets.compare_digest(secret.encode(), settings.client_secret.encode())
    if not (id_ok and secret_ok):
        raise TokenError(401, "invalid_client", "wrong client credentials")


def _grant(fields: dict[str, Any], v3: V3Cloud) -> IssuedTokens:
    # EEN's examples send these in a form body; EagleEyev3 sends them in the query string.
    grant_type = _text(fields, "grant_type")
    scope = _text(fields, "scope")
    if scope not in (None, SCOPE):
        raise TokenError(403, "invalid_scope", f"this client may only ask for {SCOPE}")
    if grant_type == "authorization_code":
        code = _text(fields, "code")
        if code is None:
            raise TokenError(400, "invalid_request", "code is required")
        owner = v3.cloud.world.owner
        return v3.tokens.redeem_code(code, _text(fields, "redirect_uri"), owner.is_master)
    if grant_type == "refresh_token":
        refresh_token = _text(fields, "refresh_token")
        if refresh_token is None:
            raise TokenError(400, "invalid_request", "refresh_token is required")
        return v3.tokens.refresh(refresh_token)
    if grant_type is None:
        raise TokenError(400, "invalid_request", "grant_type is required")
    raise TokenError(400, "unsupported_grant_type", f"grant_type {grant_type} is not supported")


def _token_answer(issued: IssuedTokens, v3: V3Cloud) -> Response:
    access = issued.access
    expires_in = max(0, round(access.expires_at - v3.tokens.clock()))
    response = Response.json(
        {
            "access_token": access.value,
            "expires_in": expires_in,
            "refresh_token": issued.refresh_token,
            "httpsBaseUrl": v3.base_url(),
            "scope": SCOPE,
            "token_type": "Bearer",
        }
    )
    response.headers.append(_NO_STORE)
    return response


def _token_error(exc: TokenError) -> Response:
    response = Response.json({"error": exc.error, "error_description": exc.description}, exc.status)
    response.headers.append(_NO_STORE)
    if exc.error == "invalid_client":
        response.headers.append(("WWW-Authenticate", 'Basic realm="een-sim"'))
    return response


def revoke(request: Request, v3: V3Cloud) -> Response:
    """RFC 7009 revocation (§1.6): always 200 for an authenticated client."""
    try:
        _check_client(request, v3)
    except TokenError as exc:
        return _token_error(exc)
    value = _text(request.fields(), "token")
    if value is None:
        return _token_error(TokenError(400, "invalid_request", "token is required"))
    v3.tokens.revoke(value)
    return Response(200)


# -- a reseller's token for an end-user account (§3.2) ----------------------------------------


def authorization_tokens(request: Request, v3: V3Cloud, access: AccessToken) -> Response:
    body = request.json_body
    if body.get("type") != "reseller":
        raise ApiError(400, "wrongArgumentValue", 'only type "reseller" is simulated')
    if body.get("targetType") != "account":
        raise ApiError(400, "wrongArgumentValue", 'targetType must be "account"')
    scopes = body.get("scopes", [SCOPE])
    if scopes != [SCOPE]:
        raise ApiError(400, "wrongArgumentValue", f'scopes must be ["{SCOPE}"]')
    target_id = body.get("targetId")
    if not isinstance(target_id, str) or not target_id:
        raise ApiError(400, "missingRequiredArgument", "Missing required arguments: targetId")
    if not access.reseller:
        raise ApiError(403, "wrongAccountType", "This feature is only available for resellers")
    target = v3.cloud.world.accounts.get(target_id)
    if target is None or target.is_master:
        raise ApiError(404, "resourceNotFound", "The resource was not found")
    issued = v3.tokens.end_user_token(target.id)
    answer: dict[str, Any] = {
        "accessToken": issued.value,
        "expireTimestamp": iso_timestamp(issued.expires_at),
        "scopes": [SCOPE],
    }
    if v3.readings.switch_base_url is SwitchBaseUrlReading.INCLUDED:
        answer["httpsBaseUrl"] = v3.base_url()
    return Response.json(answer, 201)


def _text(fields: dict[str, Any], name: str) -> str | None:
    value = fields.get(name)
    return value if isinstance(value, str) and value else None
