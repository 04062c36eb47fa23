"""The HTTP server: /metrics, /healthz, /readyz and a landing page. Scrapes read only the store."""

from __future__ import annotations

import html
import logging
import socket
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from exporter import __version__
from exporter.exposition import CONTENT_TYPE, Exposition
from exporter.status import CameraStatus, is_informative, overall_status
from exporter.store import AccountHealth, Readiness, StateStore

log = logging.getLogger(__name__)
MAX_LISTED = 20  # ids named in a readiness reason before "and N more"


def readiness(store: StateStore) -> tuple[bool, str]:
    """Ready once every monitored account has had its first snapshot or has failed."""
    refused = store.login_problem()
    if refused:
        return False, f"authentication failing: {refused}"
    discovered, problem, accounts = store.health()
    if not discovered:
        return False, f"account discovery failing: {problem}" if problem else "discovering accounts"
    if not accounts:
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


def landing_page(store: StateStore) -> str:
    _, _, accounts = store.health()
    ready, reason = readiness(store)
    counts = camera_counts(accounts)
    up = sum(a.stream_up for a in accounts)
    summary = "".join(f"<li>{html.escape(k)}: {v}</li>" for k, v in counts.items())
    rows = "".join(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
            html.escape(a.id),
            html.escape(a.name),
            "up" if a.stream_up else "down",
            sum(a.cameras_by_status.values()),
            html.escape(a.problem),
        )
        for a in sorted(accounts, key=lambda a: a.id)
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>EEN exporter</title></head>
<body><h1>EEN exporter {html.escape(__version__)}</h1>
<p><a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a> ·
<a href="/readyz">/readyz</a> ({html.escape(reason if ready else "not ready: " + reason)})</p>
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

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._metrics()
        elif path == "/healthz":
            self._send(HTTPStatus.OK, [b"ok\n"])
        elif path == "/readyz":
            ready, reason = readiness(self.server.store)
            status = HTTPStatus.OK if ready else HTTPStatus.SERVICE_UNAVAILABLE
            self._send(status, [reason.encode() + b"\n"])
        elif path == "/":
            page = landing_page(self.server.store).encode()
            self._send(HTTPStatus.OK, [page], "text/html; charset=utf-8")
        else:
            self._send(HTTPStatus.NOT_FOUND, [b"not found\n"])

    def _metrics(self) -> None:
        gzip = "gzip" in self.headers.get("Accept-Encoding", "")
        parts = self.server.exposition.render(gzip)
        self._send(HTTPStatus.OK, parts, CONTENT_TYPE, "gzip" if gzip else None)

    def _send(
        self,
        status: HTTPStatus,
        parts: list[bytes],
        content_type: str = "text/plain; charset=utf-8",
        encoding: str | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(sum(len(part) for part in parts)))
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.end_headers()
        for part in parts:
            self.wfile.write(part)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http request", extra={"client": self.client_address[0], "line": format % args})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: Any) -> None:
        """One log line instead of socketserver's traceback on stderr."""
        client = client_address[0]
        if isinstance(sys.exc_info()[1], ConnectionError):  # e.g. a scraper that timed out
            log.debug("http client went away", extra={"client": client})
            return
        log.exception("http request failed", extra={"client": client})

    def __init__(self, host: str, port: int, store: StateStore, exposition: Exposition) -> None:
        if ":" in host:
            self.address_family = socket.AF_INET6
        self.store = store
        self.exposition = exposition
        super().__init__((host, port), _Handler)


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
