"""A deadline for a whole exchange with EEN (a REST call, a stream handshake): past it, the
connection is cut.

requests, urllib3 and websocket-client bound each read only, so a server that trickles its
answer a byte at a time can hold a call, and the login gate around it, for ever. One watchdog
thread, shared by every session, shuts down the socket of an exchange that outlives its
deadline; the read blocked on it then fails at once. Sessions mount `adapter()`, whose
connections tell the watchdog which socket the calling thread's call is using; a stream
attaches its WebSocket itself.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.poolmanager import PoolManager

RECHECK = 0.1  # seconds between looks at a late call that is still connecting


class Connection(Protocol):
    @property
    def sock(self) -> socket.socket | None: ...


@dataclass(slots=True)
class Call:
    deadline: float
    connection: Connection | None = None
    # The connection's socket when it was attached: http.client drops it from the connection
    # (sock = None) once the head of a `Connection: close` answer is read, and the body is then
    # read from it all the same, so a trickled body could not be cut through the connection.
    sock: socket.socket | None = None
    cut: bool = False  # the watchdog cut it: it ran out of time


class Watchdog:
    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._calls: dict[int, Call] = {}  # by thread: a session is used by one thread
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def limit(self, seconds: float) -> Iterator[Call]:
        """The calling thread's exchange must end within `seconds`."""
        call = Call(time.monotonic() + seconds)
        ident = threading.get_ident()
        with self._wake:
            self._calls[ident] = call
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="een-deadlines", daemon=True)
                self._thread.start()
            self._wake.notify()
        try:
            yield call
        finally:
            with self._wake:
                del self._calls[ident]

    def attach(self, connection: Connection) -> None:
        """`connection` carries the calling thread's exchange (if it has one under way)."""
        with self._wake:
            call = self._calls.get(threading.get_ident())
            if call is not None:
                call.connection = connection
                call.sock = connection.sock or call.sock
                if time.monotonic() >= call.deadline:
                    _cut(call)

    def _run(self) -> None:
        with self._wake:
            while True:
                now = time.monotonic()
                wakes = []
                for call in self._calls.values():
                    if call.cut:
                        continue
                    if now < call.deadline:
                        wakes.append(call.deadline)
                    elif not _cut(call):  # still connecting (the connect timeout bounds it)
                        wakes.append(now + RECHECK)
                self._wake.wait(min(wakes) - now if wakes else None)


def _cut(call: Call) -> bool:
    """Shut the call's socket down, waking whoever reads it; False if it has none yet."""
    sock = call.connection.sock if call.connection is not None else None
    sock = sock or call.sock  # closed since: shutdown fails harmlessly (fd -1), never misfires
    if sock is None:
        return False
    call.cut = True
    with contextlib.suppress(OSError):  # already closed
        # The plain socket's shutdown, also under TLS: it wakes the reader without touching
        # the TLS state the reading thread is using.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    return True


WATCHDOG = Watchdog()


class _HTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        WATCHDOG.attach(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        WATCHDOG.attach(self)
        super().request(*args, **kwargs)


class _HTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        WATCHDOG.attach(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        WATCHDOG.attach(self)
        super().request(*args, **kwargs)


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class _Adapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = POOLS

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> PoolManager:
        manager: PoolManager = super().proxy_manager_for(proxy, **kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS has pools of its own
            manager.pool_classes_by_scheme = POOLS
        return manager


def adapter() -> HTTPAdapter:
    """A requests adapter whose connections the watchdog can cut."""
    return _Adapter()
