"""The HTTP endpoints: /metrics, /healthz, /readyz, a landing page. Scrapes read only the store."""

from __future__ import annotations

import html
import io
import logging
import threading
from concurrent.futures import CancelledError, Future
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

from exporter import __version__
from exporter.exposition.render import CONTENT_TYPE, Exposition, utf8
from exporter.logs import redact
from exporter.state.status import CONNECTION_STATUSES, CameraStatus, is_informative, overall_status
from exporter.state.store import AccountHealth, Readiness, StateStore
from exporter.web.auth import BUSY, BasicAuth, RateLimiter
from exporter.web.config import TlsSettings, WebConfig, WebConfigFile
from exporter.web.server import DEFAULT_LIMITS, HttpServer, Later, Limits, Peer, Response

# The name the log lines have always carried (see exporter/web/__init__.py).
log = logging.getLogger("exporter.web")
MAX_LISTED = 20  # ids named in a readiness reason before "and N more"
PATHS = ("/", "/metrics", "/healthz", "/readyz")  # what auth_excluded_paths may name


def readiness(store: StateStore) -> tuple[bool, str]:
    """Ready once every monitored account has had its first snapshot or has failed."""
    refused = store.login_problem()
    if refused:
        return False, f"authentication failing: {refused}"
    discovered, problem, accounts = store.health()
    if not discovered:
        return False, f"account discovery failing: {problem}" if problem else "discovering accounts"
    if not accounts and not store.wanted_accounts():
        return False, "no account to monitor: the login sees none, or EEN_ACCOUNTS / " + (
            "EEN_ACCOUNTS_EXCLUDE leave none"
        )
    pending = [a.id for a in accounts if a.readiness is Readiness.PENDING]
    failing = [f"{a.id} ({a.problem})" for a in accounts if a.readiness is Readiness.FAILING]
    failing_note = f"; failing: {_listed(failing)}" if failing else ""
    if pending:
        return False, f"waiting for the first snapshot of: {_listed(pending)}{failing_note}"
    return True, f"ready: {len(accounts)} accounts{failing_note}"


def _listed(items: list[str]) -> str:
    shown = ", ".join(sorted(items)[:MAX_LISTED])
    more = len(items) - MAX_LISTED
    return f"{shown} and {more} more" if more > 0 else shown


def camera_counts(accounts: list[AccountHealth]) -> dict[str, int]:
    """Cameras per overall status across accounts, plus "unknown" for no status yet; in v3
    mode, per connectionStatus."""
    v3 = any(isinstance(status, str) for a in accounts for status in a.cameras_by_status)
    names = CONNECTION_STATUSES if v3 else (*(status.value for status in CameraStatus), "unknown")
    counts = dict.fromkeys(names, 0)
    for account in accounts:
        for status, count in account.cameras_by_status.items():
            if isinstance(status, str):
                key = status or "unknown"
            else:
                key = overall_status(status).value if is_informative(status) else "unknown"
            counts[key] = counts.get(key, 0) + count
    return counts


def _shown(text: str) -> str:
    """Text that came from EEN, for HTML: secrets redacted (an upstream may echo them), escaped."""
    return html.escape(redact(text))


def landing_page(store: StateStore) -> str:
    _, _, accounts = store.health()
    ready, reason = readiness(store)
    counts = camera_counts(accounts)
    up = sum(a.stream_up for a in accounts)
    summary = "".join(f"<li>{html.escape(k)}: {v}</li>" for k, v in counts.items())
    rows = "".join(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
            _shown(a.id),
            _shown(a.name),
            "up" if a.stream_up else "down",
            sum(a.cameras_by_status.values()),
            _shown(a.problem),
        )
        for a in sorted(accounts, key=lambda a: a.id)
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>EEN exporter</title></head>
<body><h1>EEN exporter {html.escape(__version__)}</h1>
<p><a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a> ·
<a href="/readyz">/readyz</a> ({_shown(reason if ready else "not ready: " + reason)})</p>
<p>Accounts: {len(accounts)} · streams up: {up}</p>
<h2>Cameras by status</h2><ul>{summary}</ul>
<h2>Accounts</h2>
<table border="1" cellpadding="3"><tr><th>account</th><th>name</th><th>stream</th>
<th>cameras</th><th>last problem</th></tr>{rows}</table>
</body></html>
"""


class _Parts(io.BufferedIOBase):
    """The handler's output file: the response, kept as the parts written."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[bytes] = []

    def write(self, data: Any) -> int:
        self.parts.append(bytes(data))
        return len(self.parts[-1])


class _Site:
    """What every request needs: the state, the renderer, and who may ask."""

    def __init__(
        self, store: StateStore, exposition: Exposition, web_config: WebConfigFile | None
    ) -> None:
        self.store = store
        self.exposition = exposition
        self.web_config = web_config
        self.auth = BasicAuth()
        self._limiter: RateLimiter | None = None
        self._lock = threading.Lock()

    def config(self) -> WebConfig:
        return self.web_config.current() if self.web_config else _NO_CONFIG

    def tls(self) -> TlsSettings | None:
        return self.config().tls

    def limiter(self, config: WebConfig) -> RateLimiter | None:
        """The rate limiter of this configuration, kept across requests while it is unchanged."""
        if config.rate_limit is None:
            return None
        with self._lock:
            if self._limiter is None or self._limiter.limit != config.rate_limit:
                self._limiter = RateLimiter(config.rate_limit)
            return self._limiter

    def respond(self, head: bytes, peer: Peer) -> Response | Later:
        return _Exchange(self, head, peer).respond()


_NO_CONFIG = WebConfig()


class _Exchange(BaseHTTPRequestHandler):
    """One request and its response. The server has read the head already; this parses it with
    http.server's parser and writes the response into parts for the server to send."""

    protocol_version = "HTTP/1.1"  # keep-alive: Prometheus reuses its scrape connection

    def __init__(self, site: _Site, head: bytes, peer: Peer) -> None:
        # Not BaseHTTPRequestHandler.__init__: that would serve a whole connection.
        self.site = site
        self.config = site.config()
        self.rfile = io.BytesIO(head)
        self.response = _Parts()
        self.wfile = self.response
        self.client_address = (peer.address, 0)
        self.close_connection = True
        self._checking: Future[bool] | None = None  # a password check do_GET waits for

    def respond(self) -> Response | Later:
        self.handle_one_request()
        if self.close_connection is False and _has_body(self.headers):
            self.close_connection = True  # its body would be read as the next request
        checking = self._checking
        if checking is not None:
            return Later(checking, lambda: self._checked(checking))
        return self.response.parts, self.close_connection

    def _checked(self, checking: Future[bool]) -> Response:
        """The request's second step, once its password check is done (on a worker)."""
        try:
            allowed = checking.result()
        except CancelledError:  # stopping
            allowed = False
        if allowed:
            self._serve(self._path())
        else:
            self._unauthorized()
        return self.response.parts, self.close_connection

    def _path(self) -> str:
        return self.path.split("?", 1)[0]

    def end_headers(self) -> None:
        for name, value in self.config.headers:  # on every response, errors included
            self.send_header(name, value)
        super().end_headers()

    def do_GET(self) -> None:
        path = self._path()
        if self._admitted(path):
            self._serve(path)

    def _serve(self, path: str) -> None:
        if path == "/metrics":
            self._metrics()
        elif path == "/healthz":
            self._send(HTTPStatus.OK, [b"ok\n"])
        elif path == "/readyz":
            ready, reason = readiness(self.site.store)
            status = HTTPStatus.OK if ready else HTTPStatus.SERVICE_UNAVAILABLE
            self._send(status, [utf8(redact(reason) + "\n")])
        elif path == "/":
            page = utf8(landing_page(self.site.store))
            self._send(HTTPStatus.OK, [page], "text/html; charset=utf-8")
        else:
            self._send(HTTPStatus.NOT_FOUND, [b"not found\n"])

    def _admitted(self, path: str) -> bool:
        """The toolkit's order: the rate limit, then basic auth (unless the path is excluded).
        False when answered already, or when a password check is to be waited for."""
        limiter = self.site.limiter(self.config)
        if limiter is not None and not limiter.allow():
            self._send(HTTPStatus.TOO_MANY_REQUESTS, [b"Too Many Requests\n"])
            return False
        config = self.config
        if not config.users or path in config.auth_excluded_paths:
            return True
        verdict = self.site.auth.check(
            self.headers.get("Authorization"), config.users, config.decoy, self.client_address[0]
        )
        if verdict is True:
            return True
        if isinstance(verdict, Future):
            self._checking = verdict  # answered by _checked, when the check is done
        elif verdict is BUSY:
            log.debug("http request refused: password checks busy", extra=self._client())
            self._send(
                HTTPStatus.SERVICE_UNAVAILABLE,
                [b"Too many password checks waiting: try again\n"],
                headers={"Retry-After": "1"},
            )
        else:
            self._unauthorized()
        return False

    def _unauthorized(self) -> None:
        log.debug("http request unauthorized", extra=self._client())
        self._send(
            HTTPStatus.UNAUTHORIZED, [b"Unauthorized\n"], headers={"WWW-Authenticate": "Basic"}
        )

    def _client(self) -> dict[str, str]:
        return {"client": self.client_address[0]}

    def _metrics(self) -> None:
        gzip = accepts_gzip(self.headers.get("Accept-Encoding", ""))
        parts = self.site.exposition.render(gzip)
        headers = {"Vary": "Accept-Encoding"} | ({"Content-Encoding": "gzip"} if gzip else {})
        self._send(HTTPStatus.OK, parts, CONTENT_TYPE, headers)

    def _send(
        self,
        status: HTTPStatus,
        parts: list[bytes],
        content_type: str = "text/plain; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(sum(len(part) for part in parts)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        for part in parts:
            self.wfile.write(part)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http request", extra={"client": self.client_address[0], "line": format % args})


def _has_body(headers: Message | None) -> bool:
    if headers is None:
        return False
    return "Transfer-Encoding" in headers or headers.get("Content-Length", "0").strip() != "0"


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header allows gzip: its (or `*`'s) q-value is above 0.

    >>> accepts_gzip("gzip"), accepts_gzip("gzip;q=0"), accepts_gzip("br, *;q=0.1")
    (True, False, True)
    >>> accepts_gzip("x-gzip; q=0.000, *"), accepts_gzip("identity"), accepts_gzip("")
    (False, False, False)
    """
    qualities: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, *parameters = item.split(";")
        qualities[coding.strip().lower()] = _quality(parameters)
    for coding in ("gzip", "x-gzip", "*"):
        if coding in qualities:
            return qualities[coding] > 0
    return False


def _quality(parameters: list[str]) -> float:
    """The q parameter (RFC 9110 §12.4.2); 1 when absent, 0 when not a number from 0 to 1."""
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value.strip())
            except ValueError:
                return 0.0
            return quality if 0.0 <= quality <= 1.0 else 0.0
    return 1.0


class WebServer:
    """The exporter's endpoints on a bounded server (exporter.web.server), with the optional
    exporter-toolkit web configuration: TLS, basic auth, response headers, a rate limit."""

    def __init__(
        self,
        host: str,
        port: int,
        store: StateStore,
        exposition: Exposition,
        web_config: WebConfigFile | None = None,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self._site = _Site(store, exposition, web_config)
        self.tls = self._site.tls() is not None  # fixed at start, as the listener's protocol
        if self.tls and self._site.config().http2:
            log.info("http2 (the web config's default) is not offered: clients use HTTP/1.1")
        self._server = HttpServer(
            host.strip("[]"), port, self._site.respond, limits, self._site.tls
        )

    @property
    def address(self) -> tuple[str, int]:
        return self._server.address

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def basic_auth(self) -> bool:
        return bool(self._site.config().users)

    def open_connections(self) -> int:
        return self._server.open_connections()

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()
        self._site.auth.close()
