"""Serves one pre-rendered /metrics body (and its gzip form) from memory: the lower bound.

    python -m bench.static_server IDENTITY_FILE GZIP_FILE

Binds 127.0.0.1 on a free port, prints `listening on PORT`, serves until SIGTERM/SIGINT. Same
server class and keep-alive HTTP/1.1 as the exporter's, so the difference is the rendering.
"""

from __future__ import annotations

import argparse
import signal
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        gzip = "gzip" in self.headers.get("Accept-Encoding", "")
        body = self.server.gzip_body if gzip else self.server.body
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        if gzip:
            self.send_header("Content-Encoding", "gzip")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, body: bytes, gzip_body: bytes) -> None:
        self.body = body
        self.gzip_body = gzip_body
        super().__init__(("127.0.0.1", 0), _Handler)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("identity", type=Path)
    parser.add_argument("gzip", type=Path)
    args = parser.parse_args()
    server = _Server(args.identity.read_bytes(), args.gzip.read_bytes())

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"listening on {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
