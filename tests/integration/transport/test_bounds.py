"""Both transports' REST calls against a hostile endpoint, through the one exchange they share
(exporter.transport.rest): v1's session, v3's API client, and v3's token endpoint (the
exporter's refresh and `een-exporter login`'s code exchange).

Each call must end within its deadline, hold at most its size cap after decompression, refuse
redirects without sending anything to the other host, read deeply nested JSON as a malformed
answer, and show no secret of its request that the server echoes back.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from exporter.een.api import ApiError, Credentials, EenSession
from exporter.een.logins import Logins
from exporter.een.pacing import LoginPause
from exporter.logs import redact, register_secret
from exporter.state.selfmetrics import SelfMetrics
from exporter.state.store import StateStore
from exporter.transport.rest import RestLimits
from exporter.v3.api import ApiError as V3ApiError
from exporter.v3.api import V3Client
from exporter.v3.oauth import OAuthClient, OAuthError
from tests.integration.hostile import Exchange, HostileServer, Reply, answer, response_head, trickle

PASSWORD = "v1-Pa55word-under-test"
API_KEY = "v1-api-key-under-test"
BEARER = "v3-access-token-under-test"
CLIENT_ID, CLIENT_SECRET = "a-client", "v3-client-secret-under-test"
REFRESH_TOKEN = "v3-refresh-token-under-test"
CODE = "v3-authorization-code-under-test"
DEEP = b"[" * 20_000 + b"]" * 20_000  # valid JSON, deeper than any recursive parser goes
LIMITS = RestLimits(connect_timeout=2.0, read_timeout=5.0, deadline=0.5, max_answer=65536)


@dataclass(frozen=True)
class Client:
    """One REST call of one transport, and what it must keep to the host it was meant for."""

    name: str
    method: str
    path: str
    secrets: tuple[str, ...]
    call: Callable[[str], None]  # raises the transport's error
    errors: tuple[type[Exception], ...]
    # The error text as a person gets to see it: REST errors are logged, through the
    # exporter's redaction of registered secrets; v3's token errors are printed by `login`
    # as they are, so they must hold no secret of themselves.
    shown: Callable[[Exception], str] = str


def v1_session(url: str, api_key: str | None = None) -> EenSession:
    metrics = SelfMetrics()
    logins = Logins(LoginPause(60.0, 3600.0), metrics, StateStore())
    return EenSession(
        Credentials(url, "ops@example.com", PASSWORD, api_key), metrics, logins, LIMITS
    )


def v1_login(url: str) -> None:
    v1_session(url).login()


def v1_accounts(url: str) -> None:
    v1_session(url, API_KEY).list_accounts()


def v3_accounts(url: str) -> None:
    V3Client(limits=LIMITS).accounts(f"{url}/api/v3.0", BEARER)


def v3_refresh(url: str) -> None:
    OAuthClient(url, CLIENT_ID, CLIENT_SECRET, limits=LIMITS).refresh(REFRESH_TOKEN)


def v3_code(url: str) -> None:
    OAuthClient(url, CLIENT_ID, CLIENT_SECRET, limits=LIMITS).exchange_code(CODE, "http://x")


def shown_redacted(exc: Exception) -> str:
    return redact(str(exc))


CLIENTS = [
    Client("v1 authenticate", "POST", "/g/aaa/authenticate", (PASSWORD,), v1_login,
           (ApiError,), shown_redacted),
    Client("v1 account list", "GET", "/g/account/list", (API_KEY,), v1_accounts,
           (ApiError,), shown_redacted),
    Client("v3 accounts", "GET", "/api/v3.0/accounts", (BEARER,), v3_accounts, (V3ApiError,),
           shown_redacted),
    Client("v3 token refresh", "POST", "/oauth2/token", (CLIENT_SECRET, REFRESH_TOKEN),
           v3_refresh, (OAuthError,)),
    Client("v3 login code exchange", "POST", "/oauth2/token", (CLIENT_SECRET, CODE), v3_code,
           (OAuthError,)),
]  # fmt: skip


@pytest.fixture(params=CLIENTS, ids=[c.name for c in CLIENTS])
def client(request: pytest.FixtureRequest) -> Client:
    # As cli.py does with v1's credentials, and v3's TokenManager with each access token it
    # gets. v3's token errors must not need it: `login` prints them.
    for secret in (PASSWORD, API_KEY, BEARER):
        register_secret(secret)
    result: Client = request.param
    return result


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server


@pytest.fixture
def elsewhere() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server


def failure(client: Client, url: str) -> str:
    """The call's error, as shown; the call must fail with its transport's error."""
    with pytest.raises(client.errors) as raised:
        client.call(url)
    return client.shown(raised.value)


# --- item 3: redirects ------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "reason"), [(307, "Temporary Redirect"), (308, "Moved")])
def test_a_redirect_is_refused_and_nothing_reaches_the_other_host(
    client: Client, hostile: HostileServer, elsewhere: HostileServer, status: int, reason: str
) -> None:
    location = f"{elsewhere.url}{client.path}?next=secret-path"
    hostile.on(client.method, client.path, answer(status, headers=[("Location", location)],
                                                  reason=reason))  # fmt: skip
    shown = failure(client, hostile.url)
    host = elsewhere.url.removeprefix("http://")
    assert f"HTTP {status} {reason}: redirect to {host} refused" in shown
    assert "secret-path" not in shown
    assert elsewhere.seen == []
    sent = hostile.requests(client.method, client.path)[0].raw.decode("latin-1")
    assert any(secret in sent for secret in client.secrets)  # it went to the right host only


# --- item 4: answers that never end, or end too big ---------------------------------------------


def test_a_trickled_answer_is_cut_at_the_deadline(client: Client, hostile: HostileServer) -> None:
    body = b"{" + b" " * 5000 + b"}"  # 250 s at one byte per 50 ms
    hostile.on(client.method, client.path, trickle(response_head(200, [], len(body)) + body, 0.05))
    started = time.monotonic()
    shown = failure(client, hostile.url)
    assert "answer not complete after 0.5s" in shown
    assert time.monotonic() - started < 3.0


def test_a_trickled_body_is_cut_at_the_deadline(client: Client, hostile: HostileServer) -> None:
    # The head at once, with `Connection: close`: http.client then takes the socket off the
    # connection, and only what the watchdog kept of it can still be cut.
    body = b"{" + b" " * 5000 + b"}"
    head = response_head(200, [("Content-Type", "application/json")], len(body))

    def reply(exchange: Exchange) -> None:
        if exchange.send(head):
            trickle(body, 0.05)(exchange)

    hostile.on(client.method, client.path, reply)
    started = time.monotonic()
    assert "answer not complete after 0.5s" in failure(client, hostile.url)
    assert time.monotonic() - started < 3.0


def endless(sent: list[int]) -> Reply:
    """A 200 whose body never ends (well: 64 MiB), counting what was sent."""

    def reply(exchange: Exchange) -> None:
        if not exchange.send(response_head(200, [("Content-Type", "application/json")], None)):
            return
        chunk = b"[" + b"0," * 32767 + b"0]"
        while sent[0] < 64 * 1024 * 1024 and exchange.send(chunk):
            sent[0] += len(chunk)

    return reply


def test_an_endless_answer_is_cut_at_the_size_cap(client: Client, hostile: HostileServer) -> None:
    sent = [0]
    hostile.on(client.method, client.path, endless(sent))
    shown = failure(client, hostile.url)
    assert "answer larger than 65536 bytes" in shown
    time.sleep(0.2)
    assert sent[0] < 16 * 1024 * 1024  # the client hung up, far from the end


def test_a_compression_bomb_is_cut_at_the_size_cap(client: Client, hostile: HostileServer) -> None:
    bomb = gzip.compress(b"[" + b"0," * 5_000_000 + b"0]", compresslevel=9)  # 10 MB in 10 kB
    headers = [("Content-Type", "application/json"), ("Content-Encoding", "gzip")]
    hostile.on(client.method, client.path, answer(200, bomb, headers))
    assert "answer larger than 65536 bytes" in failure(client, hostile.url)


# --- item 15: JSON nested too deeply --------------------------------------------------------------


def test_json_nested_too_deeply_is_a_malformed_answer(
    client: Client, hostile: HostileServer
) -> None:
    hostile.on(client.method, client.path, answer(200, DEEP))
    assert "answer is JSON nested too deeply" in failure(client, hostile.url)


# --- item 8: a server that echoes the request ----------------------------------------------------


def echo(exchange: Exchange) -> None:
    """A refusal quoting the whole request back: headers (the Basic credentials, the bearer
    token, the API key) in the reason phrase, and the body in an OAuth error description."""
    request = exchange.request
    headers = " ".join(f"{k}={v}" for k, v in request.headers.items())
    body = json.dumps(
        {"error": "invalid_request", "error_description": request.body.decode("latin-1"),
         "message": request.body.decode("latin-1")}
    ).encode()  # fmt: skip
    answer(400, body, reason=f"Bad {headers}"[:2000])(exchange)


def test_no_secret_the_server_echoes_is_shown(client: Client, hostile: HostileServer) -> None:
    hostile.on(client.method, client.path, echo)
    shown = failure(client, hostile.url)
    for secret in client.secrets:
        assert secret not in shown
    assert "400" in shown
