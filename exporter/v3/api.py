"""The v3 REST calls the exporter needs (docs/een-api-v3.md §2-4): accounts, a reseller's token
for an end-user account, and every camera and bridge with its connectionStatus.

Every call goes through exporter.transport.rest, v1's bounded exchange: a whole-call deadline,
a size cap after decompression, a nesting limit on JSON, and no redirects (the bearer token
goes to the host it was meant for, and nowhere else).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import requests

from exporter.transport import rest
from exporter.transport.rest import RestLimits

PAGE_SIZE = 500  # the OAS maximum; larger values are clamped anyway (§4.2)
MAX_PAGES = 10_000  # a server that never stops paging is a bug, not a big account
KINDS = ("cameras", "bridges")
EEN_API_URL = "https://api.eagleeyenetworks.com"  # clientSettings' host (§2)
STATUS_EVENT = "een.deviceCloudStatusUpdateEvent.v1"  # §5.1
SSE_DELIVERY = "serverSentEvents.v1"
# The `endpoint` label of een_api_requests_total in v3 mode, by the path's first part.
ENDPOINTS = {
    "accounts": "accounts",
    "cameras": "cameras",
    "bridges": "bridges",
    "eventSubscriptions": "event_subscriptions",
    "authorizationTokens": "authorization_tokens",
    "clientSettings": "client_settings",
    "users": "users",
}
TOKEN_ENDPOINT = "token"  # noqa: S105 - a label value
V3_ENDPOINTS = (TOKEN_ENDPOINT, *ENDPOINTS.values())
OnCall = Callable[[str, bool], None]  # (endpoint, succeeded)


class ApiError(Exception):
    """A refused or failed v3 call; `status` 0 for network errors. No token in the message."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    # AccountType (OAS user-and-accounts): "distributor", "reseller", "endUserAccount"; new
    # values may come ("clients are advised to handle unknown values"). See access.watch_plan.
    type: str


@dataclass(frozen=True)
class Device:
    id: str
    name: str
    kind: str  # "camera" or "bridge"
    status: str  # connectionStatus (§4.3); "unknown" when the answer had none
    bridge_id: str | None = None


@dataclass(frozen=True)
class EndUserToken:
    value: str = field(repr=False)
    expire_timestamp: str
    api_hostname: str
    api_port: int


def api_base(hostname: str, port: int) -> str:
    """https://host[:port]/api/v3.0 for an httpsBaseUrl (§2)."""
    host = hostname if port == 443 else f"{hostname}:{port}"
    return f"https://{host}/api/v3.0"


@dataclass(frozen=True)
class Subscription:
    id: str
    sse_url: str


@dataclass
class _Budget:
    """Bytes a paged listing may still take."""

    left: int


class V3Client:
    def __init__(
        self,
        session: requests.Session | None = None,
        limits: RestLimits | None = None,
        on_call: OnCall | None = None,
    ):
        self._http = session or rest.session()
        self._limits = limits or RestLimits()
        self._on_call = on_call

    def client_settings(self, token: str, url: str = EEN_API_URL) -> tuple[str, int]:
        """The account's API host (§2), for a token answer that did not name it."""
        body = self._call("GET", f"{url}/api/v3.0/clientSettings", token)
        base = body.get("httpsBaseUrl")
        if not isinstance(base, dict) or not base.get("hostname"):
            raise ApiError(200, "clientSettings answered without httpsBaseUrl")
        try:
            return str(base["hostname"]), int(base.get("port", 443))
        except (TypeError, ValueError):
            raise ApiError(200, "clientSettings answered a bad port") from None

    def subscribe(self, base: str, token: str, actors: list[str]) -> Subscription:
        """A temporary SSE subscription to status changes, one filter per device (§5.2: one
        actor per filter satisfies both readings of EEN's documentation)."""
        filters = [{"actors": [actor], "types": [{"id": STATUS_EVENT}]} for actor in actors]
        body = self._call(
            "POST",
            f"{base}/eventSubscriptions",
            token,
            json={"deliveryConfig": {"type": SSE_DELIVERY}, "filters": filters},
            expected=201,
        )
        delivery = body.get("deliveryConfig")
        sse_url = delivery.get("sseUrl") if isinstance(delivery, dict) else None
        if not isinstance(sse_url, str) or not isinstance(body.get("id"), str):
            raise ApiError(201, "eventSubscriptions answered without an id and sseUrl")
        if not _same_origin_or_https(sse_url, base):
            # The access token goes there: not to another host over plain HTTP.
            raise ApiError(201, "eventSubscriptions answered an sseUrl that is not safe to use")
        return Subscription(body["id"], sse_url)

    def add_filters(self, base: str, token: str, subscription_id: str, actors: list[str]) -> None:
        for actor in actors:
            self._call(
                "POST",
                f"{base}/eventSubscriptions/{subscription_id}/filters",
                token,
                json={"actors": [actor], "types": [{"id": STATUS_EVENT}]},
                expected=201,
            )

    def delete_subscription(self, base: str, token: str, subscription_id: str) -> None:
        self._call("DELETE", f"{base}/eventSubscriptions/{subscription_id}", token, expected=204)

    def accounts(self, base: str, token: str) -> list[Account]:
        return [
            Account(str(a["id"]), str(a.get("name", "")), str(a.get("type", "")))
            for a in self._all_pages(f"{base}/accounts", token, {})
        ]

    def own_account_id(self, base: str, token: str) -> str:
        """The token's own account: GET /users/self `accountId` (required in the OAS)."""
        body = self._call("GET", f"{base}/users/self", token)
        account_id = body.get("accountId")
        if not isinstance(account_id, str) or not account_id:
            raise ApiError(200, "users/self answered without accountId")
        return account_id

    def devices(self, base: str, token: str) -> list[Device]:
        """Every camera and bridge of the token's account, with status."""
        found: list[Device] = []
        for kind in KINDS:
            for item in self._all_pages(f"{base}/{kind}", token, {"include": "status"}):
                status = (item.get("status") or {}).get("connectionStatus") or "unknown"
                bridge = item.get("bridgeId") if kind == "cameras" else None
                found.append(
                    Device(str(item["id"]), str(item.get("name", "")), kind[:-1], str(status),
                           str(bridge) if bridge else None)
                )  # fmt: skip
        return found

    def end_user_token(self, auth_url: str, reseller_token: str, account_id: str) -> EndUserToken:
        """§3.2: POST {auth}/api/v3.0/authorizationTokens with the reseller's token."""
        body = self._call(
            "POST",
            f"{auth_url.rstrip('/')}/api/v3.0/authorizationTokens",
            reseller_token,
            json={"type": "reseller", "targetType": "account", "targetId": account_id,
                  "scopes": ["vms.all"]},
            expected=201,
        )  # fmt: skip
        try:
            base = body.get("httpsBaseUrl") or {}
            return EndUserToken(
                str(body["accessToken"]),
                str(body.get("expireTimestamp", "")),
                str(base.get("hostname", "")),
                int(base.get("port", 443)),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ApiError(201, "authorizationTokens answered without an accessToken") from None

    def _all_pages(self, url: str, token: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Follow nextPageToken until it is "", null or absent; de-duplicate by id (§4.2).

        The pages together may hold what one answer may (RestLimits.max_answer): a server
        that pages for ever cannot grow the list without bound either.
        """
        seen: dict[str, dict[str, Any]] = {}
        query: dict[str, Any] = {**params, "pageSize": PAGE_SIZE}
        tokens: set[str] = set()
        budget = _Budget(self._limits.max_answer)
        for _ in range(MAX_PAGES):
            body = self._call("GET", url, token, params=query, budget=budget)
            for item in body.get("results") or []:
                if isinstance(item, dict) and "id" in item:
                    seen.setdefault(str(item["id"]), item)
            next_token = body.get("nextPageToken")
            if not next_token:
                return list(seen.values())
            if not isinstance(next_token, str):
                raise ApiError(200, f"{url} answered a nextPageToken that is not text")
            if next_token in tokens:
                raise ApiError(200, f"{url} repeats a page token: stopping")
            tokens.add(next_token)
            query["pageToken"] = next_token
        raise ApiError(200, f"{url} gave more than {MAX_PAGES} pages: stopping")

    def _call(
        self,
        method: str,
        url: str,
        token: str,
        *,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        expected: int = 200,
        budget: _Budget | None = None,
    ) -> dict[str, Any]:
        """One call, counted. `budget`: bytes the answer may still take (a paged listing's
        pages share one), decreased by this answer's size."""
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        endpoint = _endpoint(url)
        limits = self._limits
        if budget is not None:
            limits = replace(limits, max_answer=budget.left)
        try:
            reply = rest.exchange(
                self._http, method, url, limits, headers=headers, params=params, json=json
            )
        except rest.TransportError as exc:
            self._count(endpoint, False)
            status = exc.status or 0  # a refused redirect keeps its status, for the log
            raise ApiError(status, f"{method} {_path(url)}: {exc.reason}") from None
        if budget is not None:
            budget.left -= len(reply.body)
        self._count(endpoint, reply.status == expected)
        if reply.status == expected == 204:
            return {}
        if reply.status != expected:
            raise ApiError(
                reply.status,
                f"{method} {_path(url)} answered {reply.status}: {_reason(reply)}",
                _retry_after(reply),
            )
        try:
            body = rest.decode_json(reply.body)
        except rest.TransportError as exc:
            raise ApiError(reply.status, f"{_path(url)}: {exc.reason}") from None
        if not isinstance(body, dict):
            raise ApiError(reply.status, f"{_path(url)} answered no JSON object")
        return body

    def _count(self, endpoint: str | None, succeeded: bool) -> None:
        if self._on_call is not None and endpoint is not None:
            self._on_call(endpoint, succeeded)


def _endpoint(url: str) -> str | None:
    _, _, rest = urlsplit(url).path.partition("/api/v3.0/")
    return ENDPOINTS.get(rest.split("/", 1)[0])


def _same_origin_or_https(url: str, base: str) -> bool:
    parts, home = urlsplit(url), urlsplit(base)
    if parts.scheme == "https" and parts.hostname:
        return True
    return (parts.scheme, parts.netloc) == (home.scheme, home.netloc)


def _path(url: str) -> str:
    return url.split("?", 1)[0]


def _reason(reply: rest.Reply) -> str:
    try:
        body = rest.decode_json(reply.body)
    except rest.TransportError:
        return reply.reason
    if not isinstance(body, dict):
        return reply.reason
    return str(body.get("message") or body.get("status") or reply.reason)[:200]


def _retry_after(reply: rest.Reply) -> float | None:
    value = reply.headers.get("Retry-After", "").strip()
    return float(value) if value.isdigit() else None
