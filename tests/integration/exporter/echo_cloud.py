"""A broken EEN cloud that echoes the credentials it was sent in its HTTP reason phrases.

Logins succeed (each with a new session key); then, depending on `failing`, the account list
or the device list answers an error whose reason phrase holds the password, the API key and
the session key, as an upstream that echoes its request into its errors would.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from types import TracebackType
from typing import Any

ACCOUNT_ID = "00000001"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if self.path == "/g/aaa/authenticate":
            self.server.password = str(body.get("password", ""))
            self._json({"token": "token-1"})
        elif self.path == "/g/aaa/authorize":
            key = f"c001~{next(self.server.keys):016x}"
            user = {"user_id": "u1", "owner_account_id": ACCOUNT_ID, "is_master": 0}
            self._json(user, [f"auth_key={key}; Path=/"])
        else:  # logout, switch_account
            self._json({})

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/g/account/list" and self.server.failing == "account_list":
            self._echo(503)
        elif path == "/g/account/list":
            self._json([[ACCOUNT_ID, "Echo"]])
        elif path == "/g/device/list":
            self._echo(500)
        else:
            self._json({}, status=404)

    def _echo(self, status: int) -> None:
        """An error whose reason phrase repeats what the request carried."""
        cookie = self.headers.get("Cookie", "")
        key = self.headers.get("Authorization", "")
        echoed = f"rejected {cookie} api_key={key} password={self.server.password}"
        self.send_response(status, echoed)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _json(self, payload: object, cookies: list[str] = [], status: int = 200) -> None:  # noqa: B006
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for cookie in cookies:
            self.send_header("Set-Cookie", cookie)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, failing: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.failing = failing
        self.password = ""
        self.keys = count(0xC0FFEE00)


class EchoCloud:
    """`with EchoCloud("device_list") as cloud:` serves on `cloud.url` until the block ends."""

    def __init__(self, failing: str) -> None:
        self._server = _Server(failing)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="echo-cloud", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> EchoCloud:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)
        self._server.server_close()
