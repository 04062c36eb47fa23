"""A hostile or broken EEN endpoint, for tests: a loopback server in front of the simulator.

Requests that match a rule get a crafted answer (a redirect, a body trickled byte by byte, a
compression bomb, a WebSocket that misbehaves); every other request is passed through to the
simulator, one request per connection. Without an upstream it stands for "another host" and
answers `[]` to everything. Every request is recorded, headers and body included, so a test
can check what reached it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlsplit

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HEAD = 64 * 1024


@dataclass(frozen=True)
class Seen:
    """One request as it arrived."""

    method: str
    path: str  # without the query string
    headers: dict[str, str]  # names in lower case
    body: bytes
    at: float  # time.monotonic()

    @property
    def raw(self) -> bytes:
        """Everything the client sent, for checks that no secret is in it."""
        head = "".join(f"{name}: {value}\n" for name, value in self.headers.items())
        return head.encode("latin-1") + self.body


@dataclass
class Exchange:
    """What a crafted reply works with."""

    sock: socket.socket
    request: Seen
    stopping: threading.Event

    def send(self, data: bytes) -> bool:
        """Send; False once the client has gone away or the server is stopping."""
        if self.stopping.is_set():
            return False
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def pause(self, seconds: float) -> bool:
        """Sleep (the server may: it is how it trickles); False when the server stops."""
        return not self.stopping.wait(seconds)


Reply = Callable[[Exchange], None]


@dataclass
class Rule:
    method: str
    path: re.Pattern[str]
    reply: Reply
    times: int | None  # None: every time


@dataclass
class HostileServer:
    upstream: str | None = None  # the simulator's URL; None: answer `[]` to everything
    seen: list[Seen] = field(default_factory=list)
    _rules: list[Rule] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _sockets: set[socket.socket] = field(default_factory=set)
    _server: _Server | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def on(self, method: str, path: str, reply: Reply, times: int | None = None) -> None:
        """Answer `method` requests whose path matches the regex `path` with `reply`."""
        with self._lock:
            self._rules.append(Rule(method, re.compile(path), reply, times))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def cut(self) -> int:
        """Shut down every connection in flight (crafted or passed through); how many."""
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)
        return len(sockets)

    def requests(self, method: str, path: str) -> list[Seen]:
        pattern = re.compile(path)
        with self._lock:
            return [s for s in self.seen if s.method == method and pattern.fullmatch(s.path)]

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> HostileServer:
        hostile = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                hostile._serve(self.request)

        server = _Server(("127.0.0.1", 0), Handler)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="hostile-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:  # wakes handlers blocked on either side
            _shut(sock)
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- one connection -----------------------------------------------------------------------

    def _serve(self, client: socket.socket) -> None:
        self._track(client)
        try:
            head, body = _read_request(client)
            if head is None:
                return
            request = _parse(head, body)
            with self._lock:
                self.seen.append(request)
                reply = self._match(request)
            if reply is not None:
                reply(Exchange(client, request, self._stopping))
            elif self.upstream is None:
                answer(200, b"[]")(Exchange(client, request, self._stopping))
            else:
                self._pass_through(client, request, head, body)
        except OSError:
            pass  # a client or upstream that went away
        finally:
            _shut(client)
            client.close()
            with self._lock:
                self._sockets.discard(client)

    def _match(self, request: Seen) -> Reply | None:
        for rule in self._rules:
            if rule.method == request.method and rule.path.fullmatch(request.path):
                if rule.times is None:
                    return rule.reply
                if rule.times > 0:
                    rule.times -= 1
                    return rule.reply
        return None

    def _pass_through(self, client: socket.socket, request: Seen, head: bytes, body: bytes) -> None:
        assert self.upstream is not None
        upstream_address = urlsplit(self.upstream)
        upstream = socket.create_connection(
            (upstream_address.hostname or "127.0.0.1", upstream_address.port or 80), timeout=10
        )
        self._track(upstream)
        try:
            upgrade = request.headers.get("upgrade", "").lower() == "websocket"
            if not upgrade:  # one request per connection: no keep-alive to untangle
                head = _with_header(head, "Connection", "close")
            upstream.sendall(head + body)
            upstream.settimeout(None)
            client.settimeout(None)
            if upgrade:
                threading.Thread(
                    target=_pipe, args=(client, upstream), name="hostile-pipe", daemon=True
                ).start()
            _pipe(upstream, client)
        finally:
            _shut(upstream)
            upstream.close()
            with self._lock:
                self._sockets.discard(upstream)

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)
        if self._stopping.is_set():
            _shut(sock)


# --- crafted replies --------------------------------------------------------------------------


def response_head(
    status: int,
    headers: Iterable[tuple[str, str]] = (),
    length: int | None = 0,
    reason: str = "Crafted",
) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}", "Connection: close"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def answer(
    status: int,
    body: bytes = b"",
    headers: Iterable[tuple[str, str]] = (("Content-Type", "application/json"),),
    reason: str = "Crafted",
) -> Reply:
    """A complete answer, sent at once."""

    def reply(exchange: Exchange) -> None:
        exchange.send(response_head(status, headers, len(body), reason) + body)

    return reply


def trickle(data: bytes, every: float) -> Reply:
    """Send `data` (head and body) one byte at a time, `every` seconds apart."""

    def reply(exchange: Exchange) -> None:
        for index in range(len(data)):
            if not exchange.send(data[index : index + 1]) or not exchange.pause(every):
                return

    return reply


def websocket(script: Callable[[Exchange], None]) -> Reply:
    """Accept the WebSocket handshake, then run `script` (frames via `frame`)."""

    def reply(exchange: Exchange) -> None:
        key = exchange.request.headers.get("sec-websocket-key", "")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()  # noqa: S324
        head = (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
        )
        if exchange.send(head.encode()):
            script(exchange)

    return reply


def forward(upstream: str, **headers: str) -> Reply:
    """Pass the request on to `upstream` with these headers set (`Cookie="auth_key=…"`), as a
    client that sent them would; a WebSocket upgrade is then piped both ways."""

    def reply(exchange: Exchange) -> None:
        request = exchange.request
        lines = [f"{request.method} {request.path} HTTP/1.1"]
        lines += [f"{name}: {value}" for name, value in request.headers.items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        for name, value in headers.items():
            head = _with_header(head, name, value)
        address = urlsplit(upstream)
        server = socket.create_connection((address.hostname, address.port), timeout=10)
        try:
            server.sendall(head + request.body)
            server.settimeout(None)
            exchange.sock.settimeout(None)
            threading.Thread(
                target=_pipe, args=(exchange.sock, server), name="hostile-pipe", daemon=True
            ).start()
            _pipe(server, exchange.sock)
        finally:
            _shut(server)
            server.close()

    return reply


def hold(exchange: Exchange) -> None:
    """Keep the connection open, saying nothing, until the server stops or the client leaves."""
    exchange.sock.settimeout(0.05)
    while not exchange.stopping.is_set():
        try:
            if not exchange.sock.recv(4096):
                return
        except TimeoutError:
            continue


def frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked, final WebSocket frame from a server."""
    size = len(payload)
    if size < 126:
        header = bytes([0x80 | opcode, size])
    elif size < 1 << 16:
        header = bytes([0x80 | opcode, 126]) + size.to_bytes(2, "big")
    else:
        header = bytes([0x80 | opcode, 127]) + size.to_bytes(8, "big")
    return header + payload


# --- plumbing ---------------------------------------------------------------------------------


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _read_request(sock: socket.socket) -> tuple[bytes | None, bytes]:
    sock.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk or len(data) > MAX_HEAD:
            return None, b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    head += b"\r\n\r\n"
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            break
        body += chunk
    return head, body


def _parse(head: bytes, body: bytes) -> Seen:
    request_line, *lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    method, target, _ = request_line.split(" ", 2)
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Seen(method, target.split("?", 1)[0], headers, body, time.monotonic())


def _with_header(head: bytes, name: str, value: str) -> bytes:
    lines = [
        line
        for line in head.rstrip(b"\r\n").split(b"\r\n")
        if not line.lower().startswith(name.lower().encode() + b":")
    ]
    return b"\r\n".join([*lines, f"{name}: {value}".encode()]) + b"\r\n\r\n"


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        _shut(target)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)
