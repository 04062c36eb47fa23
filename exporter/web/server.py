"""A bounded HTTP/1.1 server: idle and slow clients cost a socket, never a thread.

One thread (`een-http`) multiplexes every connection with a selector: it accepts, runs TLS
handshakes, reads request heads and writes responses, all without blocking. A request whose
head has arrived whole goes to a fixed pool of workers (`een-http-worker-N`) that only compute
the response. So the server runs 1 + `workers` threads however many connections are open, and
a client that stalls holds no worker.

A response that needs something slow (a bcrypt check) can be computed in two steps
(`Later`): the worker hands the slow part to whoever does it and takes the next request; when
it is done, a worker computes the response. So a flood of such requests holds no worker.

Bounds, each with its reason:
- `handshake_timeout`: from connecting to the end of the TLS handshake.
- `request_timeout`: to the end of the request head, from connecting (plain HTTP), from the
  end of the handshake (TLS), or from the first byte of a keep-alive request. Short: a
  scraper sends its request at once; a slow-loris client is closed.
- `idle_timeout`: a keep-alive connection with no request is closed.
- `write_timeout`: a client that does not read its response is closed.
- `max_header_bytes`: a longer request head is answered 431 and closed.
- `max_connections` (and a share of the open-file limit): at the limit a new connection is
  made room for: the keep-alive connection idle the longest is closed, else the one whose
  handshake or request head has been due the longest (the slowest, which holds no worker; a
  scraper's, sent at once, is the newest). Only when every connection is with a worker or
  sending a response is a new one answered 503.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import heapq
import itertools
import logging
import queue
import re
import resource
import selectors
import socket
import ssl
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from exporter.web.config import TlsSettings

# The name the log lines have always carried (see exporter/web/__init__.py).
log = logging.getLogger("exporter.httpserver")

# The listen backlog. A short one drops the SYNs of concurrent scrapes beyond it, and each
# dropped SYN costs the client a retransmission 1, 3, 7... seconds later.
BACKLOG = 1024
# HTTP connections may take this share of the open-file limit; the rest is kept for the
# streams' sockets (one or two per account) and the process's own files.
HTTP_SHARE_OF_FD_LIMIT = 4
MIN_HTTP_CONNECTIONS = 8
ACCEPT_BACKOFF = (0.05, 1.0)  # first and longest pause of accepting when out of fds
ACCEPT_BATCH = 64  # connections accepted per wake-up, so one flood cannot starve the rest
RECV_SIZE = 65536
SEND_SIZE = 256 * 1024
# Parts handed to one sendmsg: Linux's IOV_MAX. /metrics is thousands of small parts (a block
# per account and family): a system call each would cost more than the body's bytes.
PARTS_PER_SEND = 1024
LINGER_SECONDS = 2.0  # after a last response, how long unread input is drained before closing
_OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_HEAD_END = re.compile(rb"\r?\n\r?\n")


def _canned(status: str, text: str) -> bytes:
    body = text.encode() + b"\n"
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


SERVICE_UNAVAILABLE = _canned("503 Service Unavailable", "too many open connections")
HEADERS_TOO_LARGE = _canned("431 Request Header Fields Too Large", "request head too large")
INTERNAL_ERROR = _canned("500 Internal Server Error", "internal error")


@dataclass(frozen=True)
class Limits:
    workers: int = 4
    max_connections: int = 1024
    handshake_timeout: float = 3.0
    request_timeout: float = 5.0
    idle_timeout: float = 120.0
    write_timeout: float = 60.0
    max_header_bytes: int = 16 * 1024


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Peer:
    address: str
    tls: bool


# A response: its parts, and whether to close the connection after them.
Response = tuple[list[bytes], bool]


@dataclass(frozen=True)
class Later:
    """A response in two steps: once `ready` is done (by a thread of its own), `then()` gives
    the response on a worker. Between the two, the request holds no worker."""

    ready: Future[Any]
    then: Callable[[], Response]


# A request head (request line and headers, up to the blank line) to its response, now or
# later. Runs on a worker.
Respond = Callable[[bytes, Peer], Response | Later]


def http_connection_limit(configured: int) -> int:
    """How many HTTP connections may be open at once: a share of the open-file limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    return min(configured, max(MIN_HTTP_CONNECTIONS, soft // HTTP_SHARE_OF_FD_LIMIT))


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket as socketserver made it (address reuse; IPv6 as the system sets it)."""
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(BACKLOG)
        listener.setblocking(False)
    except OSError:
        listener.close()
        raise
    return listener


class _State(enum.Enum):
    HANDSHAKE = "handshake"
    READING = "reading"
    BUSY = "busy"  # with a worker
    WRITING = "writing"
    LINGERING = "lingering"  # response sent, draining input before closing
    CLOSED = "closed"


@dataclass(eq=False)
class _Connection:
    sock: socket.socket
    peer: Peer
    state: _State
    tls: TlsSettings | None = None
    buffer: bytearray = field(default_factory=bytearray)
    out: deque[bytes | memoryview] = field(default_factory=deque)
    close_after: bool = False
    deadline: float = 0.0
    events: int = 0  # what the selector watches for; 0 = not registered
    waiting: bool = True  # nothing received since it connected or was last answered
    answered: bool = False  # a response was sent: it is a keep-alive connection


# A request head for a worker to answer, or the second step of a Later response.
_Job = tuple[_Connection, bytes | Callable[[], Response]]


class HttpServer:
    def __init__(
        self,
        host: str,
        port: int,
        respond: Respond,
        limits: Limits = DEFAULT_LIMITS,
        tls: Callable[[], TlsSettings | None] = lambda: None,
    ) -> None:
        self.limits = limits
        self._respond = respond
        self._tls = tls
        self._listener = _listen(host, port)
        self.max_connections = http_connection_limit(limits.max_connections)
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        for end in (self._wake_r, self._wake_w):
            end.setblocking(False)
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[tuple[_Connection, list[bytes], bool]] = queue.SimpleQueue()
        self._open: set[_Connection] = set()
        # Connections that may be closed to make room: idle ones (answered, oldest first), then
        # those whose handshake or request head is due (the longest at it first), new ones
        # included: a scraper's is the newest, the last to be closed.
        self._idle: OrderedDict[_Connection, None] = OrderedDict()
        self._arriving: OrderedDict[_Connection, None] = OrderedDict()
        self._deadlines: list[tuple[float, int, _Connection]] = []
        self._sequence = itertools.count()
        self._stopping = threading.Event()
        self._accept_pause = 0.0
        self._accept_resume = 0.0  # monotonic time to listen again after running out of fds
        self._thread = threading.Thread(target=self._run, name="een-http", daemon=True)
        self._workers = [
            threading.Thread(target=self._work, name=f"een-http-worker-{n}", daemon=True)
            for n in range(limits.workers)
        ]

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._listener.getsockname()[:2]
        return str(host), int(port)

    def open_connections(self) -> int:
        return len(self._open)

    def start(self) -> None:
        self._selector.register(self._listener, selectors.EVENT_READ, self._accept)
        self._selector.register(self._wake_r, selectors.EVENT_READ, self._drain_wakeups)
        for worker in self._workers:
            worker.start()
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stopping.set()
        self._wake()
        if self._thread.is_alive():
            self._thread.join(timeout)
        else:
            self._close_everything()
        for _ in self._workers:
            self._jobs.put(None)
        for worker in self._workers:
            if worker.is_alive():
                worker.join(timeout)

    # --- the selector thread -------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                for key, events in self._selector.select(self._wait_seconds()):
                    if isinstance(key.data, _Connection):
                        self._ready_guarded(key.data)
                    else:
                        key.data(events)
                now = time.monotonic()
                self._expire(now)
                self._resume_accepting(now)
        except Exception:
            log.exception("the HTTP server stopped on an unexpected error")
        finally:
            self._close_everything()

    def _wait_seconds(self) -> float | None:
        now = time.monotonic()
        while self._deadlines and self._stale(self._deadlines[0]):
            heapq.heappop(self._deadlines)
        moments = [moment for moment in (self._accept_resume,) if moment]
        if self._deadlines:
            moments.append(self._deadlines[0][0])
        return max(0.0, min(moments) - now) if moments else None

    @staticmethod
    def _stale(entry: tuple[float, int, _Connection]) -> bool:
        deadline, _, connection = entry
        return connection.state is _State.CLOSED or connection.deadline != deadline

    def _set_deadline(self, connection: _Connection, seconds: float) -> None:
        connection.deadline = time.monotonic() + seconds
        heapq.heappush(self._deadlines, (connection.deadline, next(self._sequence), connection))
        if len(self._deadlines) > 4 * len(self._open) + 64:
            # Replaced deadlines stay in the heap until due; a busy keep-alive client would
            # grow it by a few entries per request. Drop them all now and then.
            self._deadlines = [entry for entry in self._deadlines if not self._stale(entry)]
            heapq.heapify(self._deadlines)

    def _expire(self, now: float) -> None:
        while self._deadlines and (self._stale(self._deadlines[0]) or self._deadlines[0][0] <= now):
            entry = heapq.heappop(self._deadlines)
            if self._stale(entry):
                continue
            connection = entry[2]
            if connection.state is not _State.LINGERING:
                log.debug(
                    "http connection timed out",
                    extra={"client": connection.peer.address, "state": connection.state.value},
                )
            self._close(connection)

    def _watch(self, connection: _Connection, events: int) -> None:
        if events == connection.events:
            return
        if not events:
            self._selector.unregister(connection.sock)
        elif not connection.events:
            self._selector.register(connection.sock, events, connection)
        else:
            self._selector.modify(connection.sock, events, connection)
        connection.events = events

    def _accept(self, _events: int) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                sock, address = self._listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_DESCRIPTORS:
                    self._pause_accepting(exc)
                    return
                continue  # e.g. ECONNABORTED: that client gave up
            if self._accept_pause:
                log.info("accepting HTTP connections again")
                self._accept_pause = 0.0
            try:
                self._admit(sock, str(address[0]))
            except Exception:
                log.exception("http connection failed", extra={"client": str(address[0])})
                sock.close()

    def _pause_accepting(self, exc: OSError) -> None:
        """Out of descriptors the listening socket stays readable: accepting again at once
        would spin. Stop watching it a while, longer each time, for descriptors to be freed."""
        first, longest = ACCEPT_BACKOFF
        if not self._accept_pause:
            log.warning(
                "out of file descriptors: HTTP connections wait until some are freed",
                extra={"reason": exc.strerror, "http_connections": len(self._open)},
            )
        self._accept_pause = min(longest, self._accept_pause * 2 or first)
        self._accept_resume = time.monotonic() + self._accept_pause
        self._selector.unregister(self._listener)

    def _resume_accepting(self, now: float) -> None:
        if self._accept_resume and now >= self._accept_resume:
            self._accept_resume = 0.0
            self._selector.register(self._listener, selectors.EVENT_READ, self._accept)

    def _admit(self, sock: socket.socket, address: str) -> None:
        sock.setblocking(False)
        with contextlib.suppress(OSError):  # already reset by the client: found out later
            # Responses go out in a few parts; without this the last small one can wait for
            # the client's delayed ACK (~40 ms).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        tls = self._tls()
        if len(self._open) >= self.max_connections and not self._make_room():
            log.debug("http connection refused: too many", extra={"client": address})
            if tls is None:  # a TLS client could not read a plain answer
                with contextlib.suppress(OSError):
                    sock.send(SERVICE_UNAVAILABLE)
            sock.close()
            return
        if tls is not None:
            try:
                sock = tls.context.wrap_socket(
                    sock, server_side=True, do_handshake_on_connect=False
                )
            except (OSError, ValueError):
                sock.close()
                return
        state = _State.READING if tls is None else _State.HANDSHAKE
        connection = _Connection(sock, Peer(address, tls is not None), state, tls)
        self._open.add(connection)
        self._arriving[connection] = None  # its head is due from now
        limits = self.limits
        self._set_deadline(
            connection, limits.request_timeout if tls is None else limits.handshake_timeout
        )
        self._watch(connection, selectors.EVENT_READ)

    def _make_room(self) -> bool:
        """Close the keep-alive connection idle the longest, else the one whose handshake or
        request head has been due the longest; False if every connection is with a worker or
        writing."""
        for candidates, why in ((self._idle, "idle"), (self._arriving, "slowest")):
            if candidates:
                oldest, _ = candidates.popitem(last=False)
                log.debug(
                    "http connection closed to make room",
                    extra={"client": oldest.peer.address, "state": why},
                )
                self._close(oldest)
                return True
        return False

    def _ready_guarded(self, connection: _Connection) -> None:
        """A bug met by one connection closes that one, not the server."""
        try:
            self._ready(connection)
        except Exception:
            log.exception("http connection failed", extra={"client": connection.peer.address})
            self._close(connection)

    def _ready(self, connection: _Connection) -> None:
        if connection.state is _State.HANDSHAKE:
            self._handshake(connection)
        elif connection.state is _State.READING:
            self._read(connection)
        elif connection.state is _State.WRITING:
            self._write(connection)
        elif connection.state is _State.LINGERING:
            self._drain(connection)

    def _handshake(self, connection: _Connection) -> None:
        assert isinstance(connection.sock, ssl.SSLSocket)
        self._received(connection)
        try:
            connection.sock.do_handshake()
        except ssl.SSLWantReadError:
            self._watch(connection, selectors.EVENT_READ)
            return
        except ssl.SSLWantWriteError:
            self._watch(connection, selectors.EVENT_WRITE)
            return
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            log.debug(
                "tls handshake failed", extra={"client": connection.peer.address, "reason": exc}
            )
            self._close(connection)
            return
        assert connection.tls is not None
        if not connection.tls.allows(connection.sock.getpeercert()):
            log.debug(
                "tls client certificate has none of client_allowed_sans",
                extra={"client": connection.peer.address},
            )
            self._close(connection)
            return
        connection.state = _State.READING
        self._set_deadline(connection, self.limits.request_timeout)
        self._read(connection)

    def _received(self, connection: _Connection) -> None:
        """The first bytes of a request (or handshake): the connection is no longer idle. A
        new connection keeps the deadline it got when accepted (sending a byte now and then
        buys nothing); a keep-alive one gets request_timeout from its request's first byte."""
        if connection.waiting:
            connection.waiting = False
            self._idle.pop(connection, None)
            self._arriving.setdefault(connection, None)  # a new one keeps its place
            if connection.answered:
                self._set_deadline(connection, self.limits.request_timeout)

    def _read(self, connection: _Connection) -> None:
        limit = self.limits.max_header_bytes
        while len(connection.buffer) <= limit:
            try:
                chunk = connection.sock.recv(RECV_SIZE)
            except (BlockingIOError, ssl.SSLWantReadError):
                break
            except ssl.SSLWantWriteError:
                self._watch(connection, selectors.EVENT_WRITE)
                return
            except OSError:
                self._close(connection)
                return
            if not chunk:
                self._close(connection)
                return
            self._received(connection)
            connection.buffer += chunk
        self._dispatch(connection)

    def _dispatch(self, connection: _Connection) -> None:
        """Hand a whole request head to a worker, or wait for more of it."""
        limit = self.limits.max_header_bytes
        if connection.buffer.startswith(
            (b"\r", b"\n")
        ):  # empty lines before a request: RFC 9112 2.2
            connection.buffer = connection.buffer.lstrip(b"\r\n")
        end = _HEAD_END.search(connection.buffer, 0, limit)
        if end is None:
            if len(connection.buffer) >= limit:
                log.debug("http request head too large", extra={"client": connection.peer.address})
                self._answer(connection, [HEADERS_TOO_LARGE], close=True)
                return
            self._watch(connection, selectors.EVENT_READ)
            return
        head = bytes(connection.buffer[: end.end()])
        del connection.buffer[: end.end()]
        connection.state = _State.BUSY
        connection.deadline = 0.0
        self._arriving.pop(connection, None)
        self._watch(connection, 0)
        self._jobs.put((connection, head))

    def _drain_wakeups(self, _events: int) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._wake_r.recv(4096):
                pass
        while True:
            try:
                connection, parts, close = self._done.get_nowait()
            except queue.Empty:
                return
            if connection.state is _State.BUSY:
                self._answer(connection, parts, close)

    def _answer(self, connection: _Connection, parts: list[bytes], close: bool) -> None:
        connection.out = deque(part for part in parts if part)
        connection.close_after = close
        connection.state = _State.WRITING
        connection.answered = True
        self._arriving.pop(connection, None)
        self._set_deadline(connection, self.limits.write_timeout)
        self._write(connection)

    def _write(self, connection: _Connection) -> None:
        while connection.out:
            try:
                sent = _send_some(connection.sock, connection.out)
            except (BlockingIOError, ssl.SSLWantWriteError):
                self._watch(connection, selectors.EVENT_WRITE)
                return
            except ssl.SSLWantReadError:
                self._watch(connection, selectors.EVENT_READ)
                return
            except OSError:  # e.g. a scraper that timed out and reset the connection
                self._close(connection)
                return
            _advance(connection.out, sent)
        if connection.close_after:
            self._linger(connection)
            return
        connection.state = _State.READING
        connection.waiting = True
        if connection.buffer:  # a pipelined request is already here
            self._received(connection)
        else:
            self._idle[connection] = None
            self._set_deadline(connection, self.limits.idle_timeout)
        self._read(connection)  # also takes what TLS has decrypted but not handed out yet

    def _linger(self, connection: _Connection) -> None:
        """Close after the last response without losing it: closing with unread input makes
        the kernel send a reset, which can destroy the response before the client reads it."""
        connection.state = _State.LINGERING
        connection.buffer.clear()
        try:
            connection.sock.shutdown(socket.SHUT_WR)
        except (OSError, ValueError):
            self._close(connection)
            return
        self._idle[connection] = None  # answered: the first to make room
        self._set_deadline(connection, LINGER_SECONDS)
        self._drain(connection)

    def _drain(self, connection: _Connection) -> None:
        while True:
            try:
                chunk = connection.sock.recv(RECV_SIZE)
            except (BlockingIOError, ssl.SSLWantReadError):
                self._watch(connection, selectors.EVENT_READ)
                return
            except (OSError, ValueError):
                chunk = b""
            if not chunk:
                self._close(connection)
                return

    def _close(self, connection: _Connection) -> None:
        if connection.state is _State.CLOSED:
            return
        if connection.events:
            self._watch(connection, 0)
        connection.state = _State.CLOSED
        self._open.discard(connection)
        self._idle.pop(connection, None)
        self._arriving.pop(connection, None)
        connection.out.clear()
        with contextlib.suppress(OSError):
            connection.sock.close()

    def _close_everything(self) -> None:
        for connection in list(self._open):
            self._close(connection)
        self._selector.close()
        for sock in (self._listener, self._wake_r, self._wake_w):
            sock.close()

    # --- the workers -------------------------------------------------------------------

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            self._do(job)
            # A job's locals, and the job itself, hold its response (a whole /metrics body)
            # until they go: not until the worker's next job (four workers held four bodies).
            del job

    def _do(self, job: _Job) -> None:
        connection, step = job
        try:
            result = step() if callable(step) else self._respond(step, connection.peer)
        except Exception:
            log.exception("http request failed", extra={"client": connection.peer.address})
            result = [INTERNAL_ERROR], True
        if isinstance(result, Later):
            result.ready.add_done_callback(self._resume(connection, result.then))
            return
        parts, close = result
        self._done.put((connection, parts, close))
        self._wake()

    def _resume(
        self, connection: _Connection, then: Callable[[], Response]
    ) -> Callable[[Future[Any]], None]:
        """When a Later's slow part is done: its second step, queued for a worker."""

        def done(_: Future[Any]) -> None:
            self._jobs.put((connection, then))

        return done

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # full: a wake-up is pending anyway; closed: stopped
            self._wake_w.send(b"\0")


def _send_some(sock: socket.socket, out: deque[bytes | memoryview]) -> int:
    """Send from the front of `out` as much as the socket takes now; how many bytes it took.
    Plain sockets get up to PARTS_PER_SEND parts per system call (sendmsg); TLS has no
    sendmsg, so small parts are joined into one record's worth (SEND_SIZE) first."""
    if not isinstance(sock, ssl.SSLSocket):
        return sock.sendmsg(list(itertools.islice(out, PARTS_PER_SEND)))
    first = out[0]
    if len(first) >= SEND_SIZE or len(out) == 1:
        return sock.send(memoryview(first)[:SEND_SIZE])
    batch, size = [], 0
    for part in out:
        if size + len(part) > SEND_SIZE:
            break
        batch.append(part)
        size += len(part)
    return sock.send(b"".join(batch))


def _advance(out: deque[bytes | memoryview], sent: int) -> None:
    """Drop `sent` bytes from the front of `out`."""
    while sent:
        part = out[0]
        if sent < len(part):
            out[0] = memoryview(part)[sent:]
            return
        sent -= len(part)
        out.popleft()
