"""A webhook receiver for Alertmanager in the test process: it records every POST."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.e2e.apis import has_labels


@dataclass(frozen=True)
class Delivery:
    """One alert of one notification, and the path (hence the receiver) it was posted to."""

    path: str
    alert: dict[str, Any]


class WebhookReceiver:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._notifications: list[tuple[str, dict[str, Any]]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="e2e-webhook", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def deliveries(self, alertname: str, status: str, **labels: str) -> list[Delivery]:
        """Alerts posted so far with that name, status (firing/resolved) and labels."""
        wanted = {"alertname": alertname, **labels}
        with self._lock:
            notifications = list(self._notifications)
        return [
            Delivery(path, alert)
            for path, body in notifications
            for alert in body["alerts"]
            if alert["status"] == status and has_labels(alert["labels"], wanted)
        ]

    def _record(self, path: str, body: dict[str, Any]) -> None:
        with self._lock:
            self._notifications.append((path, body))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                receiver._record(self.path, json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # one line per POST on stderr would only be noise

        return Handler
