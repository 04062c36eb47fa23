"""The HTTP server: /metrics, /healthz, /readyz and a landing page. Scrapes read only the store."""

from __future__ import annotations

import contextlib
import errno
import html
import logging
import resource
import socket
import sys
import threading
from collections import OrderedDict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from exporter import __version__
from exporter.exposition import CONTENT_TYPE, Exposition, utf8
from exporter.logs import redact
from exporter.status import CameraStatus, is_informative, overall_status
from exporter.store import AccountHealth, Readiness, StateStore

log = logging.getLogger(__name__)
MAX_LISTED = 20  # ids named in a readiness reason before "and N more"
# The listen backlog. socketserver's default of 5 drops the SYNs of concurrent scrapes beyond
# it, and each dropped SYN costs the client a retransmission 1, 3, 7... seconds later.
BACKLOG = 1024
# HTTP connections may take this share of the open-file limit; the rest is kept for the
# streams' sockets (one or two per account) and the process's own files.
HTTP_SHARE_OF_FD_LIMIT = 4
MIN_HTTP_CONNECTIONS = 8
ACCEPT_BACKOFF = (0.05, 1.0)  # first and longest pause of the accept loop when out of fds
_OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_SERVICE_UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 27\r\nConnection: close\r\n\r\ntoo many open connections\r\n"
)


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
    """Cameras per overall status across accounts, plus "unknown" for no status yet."""
    counts = {status.value: 0 for status in CameraStatus} | {"unknown": 0}
    for account in accounts:
        for bitmask, count in account.cameras_by_status.items():
            key = overall_status(bitmask).value if is_informative(bitmask) else "unknown"
            counts[key] += count
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


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive: Prometheus reuses its scrape connection
    # A response is written in a few parts; without this the last small one waits for the
    # client's delayed ACK (~40 ms).
    disable_nagle_algorithm = True

    def handle_one_request(self) -> None:
        # Until parse_request, the connection waits for a request: idle, may make room.
        self.server.connections.idle(self.connection)
        super().handle_one_request()

    def parse_request(self) -> bool:
        self.server.connections.busy(self.connection)
        return super().parse_request()

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._metrics()
        elif path == "/healthz":
            self._send(HTTPStatus.OK, [b"ok\n"])
        elif path == "/readyz":
            ready, reason = readiness(self.server.store)
            status = HTTPStatus.OK if ready else HTTPStatus.SERVICE_UNAVAILABLE
            self._send(status, [utf8(redact(reason) + "\n")])
        elif path == "/":
            page = utf8(landing_page(self.server.store))
            self._send(HTTPStatus.OK, [page], "text/html; charset=utf-8")
        else:
            self._send(HTTPStatus.NOT_FOUND, [b"not found\n"])

    def _metrics(self) -> None:
        gzip = accepts_gzip(self.headers.get("Accept-Encoding", ""))
        parts = self.server.exposition.render(gzip)
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


def http_connection_limit() -> int:
    """How many HTTP connections may be open at once: a share of the open-file limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return sys.maxsize
    return max(MIN_HTTP_CONNECTIONS, soft // HTTP_SHARE_OF_FD_LIMIT)


class _Connections:
    """The open HTTP connections, at most `limit`, so scrapers cannot starve the streams of
    file descriptors. At the limit the connection idle the longest (a keep-alive one waiting
    for its next request) is closed to make room; with none idle, the new one is refused."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._idle: OrderedDict[socket.socket, None] = OrderedDict()

    def admit(self, connection: socket.socket) -> bool:
        with self._lock:
            if len(self._open) >= self.limit:
                if not self._idle:
                    return False
                oldest, _ = self._idle.popitem(last=False)
                self._open.discard(oldest)
                _hang_up(oldest)  # its thread wakes from reading and closes it
            self._open.add(connection)
            return True

    def idle(self, connection: socket.socket) -> None:
        with self._lock:
            if connection in self._open:
                self._idle[connection] = None

    def busy(self, connection: socket.socket) -> None:
        with self._lock:
            self._idle.pop(connection, None)

    def release(self, connection: socket.socket) -> None:
        with self._lock:
            self._open.discard(connection)
            self._idle.pop(connection, None)

    def __len__(self) -> int:
        return len(self._open)


def _hang_up(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already gone
        connection.shutdown(socket.SHUT_RDWR)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = BACKLOG

    def __init__(self, host: str, port: int, store: StateStore, exposition: Exposition) -> None:
        if ":" in host:
            self.address_family = socket.AF_INET6
        self.store = store
        self.exposition = exposition
        self.connections = _Connections(http_connection_limit())
        self._stopping = threading.Event()
        self._accept_pause = 0.0
        super().__init__((host, port), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        try:
            request = super().get_request()
        except OSError as exc:
            if exc.errno in _OUT_OF_DESCRIPTORS:
                self._pause_accepting(exc)
            raise  # socketserver ignores it and polls again
        if self._accept_pause:
            log.info("accepting HTTP connections again")
            self._accept_pause = 0.0
        return request

    def _pause_accepting(self, exc: OSError) -> None:
        """Out of descriptors the listening socket stays readable: polling again at once would
        spin. Wait, longer each time, for connections or streams to free some."""
        first, longest = ACCEPT_BACKOFF
        if not self._accept_pause:
            log.warning(
                "out of file descriptors: HTTP connections wait until some are freed",
                extra={"reason": exc.strerror, "http_connections": len(self.connections)},
            )
        self._accept_pause = min(longest, self._accept_pause * 2 or first)
        self._stopping.wait(self._accept_pause)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        if self.connections.admit(request):
            return True
        log.debug("http connection refused: too many", extra={"client": client_address[0]})
        with contextlib.suppress(OSError):  # a courtesy: never wait for a client here
            request.send(_SERVICE_UNAVAILABLE, socket.MSG_DONTWAIT)
        return False  # socketserver closes it

    def shutdown_request(self, request: Any) -> None:
        self.connections.release(request)
        super().shutdown_request(request)

    def shutdown(self) -> None:
        self._stopping.set()
        super().shutdown()

    def handle_error(self, request: object, client_address: Any) -> None:
        """One log line instead of socketserver's traceback on stderr."""
        client = client_address[0]
        if isinstance(sys.exc_info()[1], ConnectionError):  # e.g. a scraper that timed out
            log.debug("http client went away", extra={"client": client})
            return
        log.exception("http request failed", extra={"client": client})


class WebServer:
    def __init__(self, host: str, port: int, store: StateStore, exposition: Exposition) -> None:
        self._server = _Server(host.strip("[]"), port, store, exposition)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="een-http", daemon=True
        )

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for serve_forever, which must be running
            self._server.shutdown()
            self._thread.join(timeout=2)
        self._server.server_close()
