"""One account's poll stream: its own EEN session and WebSocket, on its own thread.

Lifecycle of one attempt, the setup passing through the shared login gate: log in and switch
into the account if the session is not valid, read the device list (resync), connect and
subscribe every device to `status` and to the configured events of its kind; then read until
the stream ends. Between attempts:
exponential backoff with full jitter, longer while EEN refuses the credentials (LoginPause).
While the stream is down the store keeps the devices' last known values and `een_stream_up`
is 0. Whatever goes wrong in an attempt, even a bug, ends only that attempt.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from dataclasses import dataclass

import websocket

from exporter.een import frames, messages
from exporter.een.api import ApiError, AuthError, EenSession, LoginPaused
from exporter.een.frames import FrameReader
from exporter.een.messages import MalformedMessage, StreamMessage, parse_message
from exporter.een.pacing import MAX_WAIT, Backoff, LoginGate, wait
from exporter.state.model import StreamUpdate
from exporter.state.selfmetrics import SelfMetrics, Thread
from exporter.state.store import DeviceChanges, StateStore
from exporter.transport.deadlines import WATCHDOG

log = logging.getLogger(__name__)

NOTHING = StreamUpdate()


@dataclass(frozen=True)
class StreamTuning:
    # No whole message or control frame (pongs included) for this long: the stream is dead.
    timeout: float = 60.0
    device_refresh: float = 300.0
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    connect_timeout: float = 10.0

    @property
    def ping_interval(self) -> float:
        return self.timeout / 3


class StreamEnded(Exception):
    """The stream stopped; the message says why, safe to log."""


class SessionLost(StreamEnded):
    """The session is no longer valid: log in again before reconnecting."""


# What ends one attempt (and is retried after a backoff), as opposed to a bug.
STREAM_ERRORS = (
    ApiError,
    StreamEnded,
    frames.ReadError,
    websocket.WebSocketException,
    OSError,
)


class AccountStream(threading.Thread):
    def __init__(
        self,
        account_id: str,
        session: EenSession,
        store: StateStore,
        metrics: SelfMetrics,
        gate: LoginGate,
        tuning: StreamTuning,
        start_delay: float = 0.0,
    ) -> None:
        super().__init__(name=f"een-stream-{account_id}", daemon=True)
        self.account_id = account_id
        self._store = store
        self._metrics = metrics
        self._gate = gate
        self._tuning = tuning
        self._start_delay = start_delay
        self._session = session
        self._logged_in = False
        self._paused = False  # whether the last attempt waited on a paused login
        self._synced = False  # whether the device list was read before (first read adds all)
        self._ws: websocket.WebSocket | None = None
        self._stopping = threading.Event()
        self._backoff = Backoff(tuning.backoff_base, tuning.backoff_max)

    def stop(self) -> None:
        """Ask the thread to end; wakes it from a wait or a blocking read."""
        self._stopping.set()
        ws = self._ws
        if ws is not None:
            _interrupt(ws)

    def run(self) -> None:
        if wait(self._stopping, self._start_delay):
            return
        try:
            while not self._stopping.is_set():
                problem = self._attempt()
                if self._stopping.is_set():
                    break
                delay = self._backoff.next_delay()
                if not self._logged_in:
                    delay = max(delay, self._session.login_wait())
                # A paused login is no news: the refusal that paused it was logged once.
                level = logging.DEBUG if self._paused else logging.WARNING
                log.log(
                    level,
                    "stream down",
                    extra={"account_id": self.account_id, "reason": problem, "retry_in": delay},
                )
                wait(self._stopping, delay)
        finally:
            self._session.logout()

    # --- one attempt ------------------------------------------------------------------------

    def _attempt(self) -> str:
        """Connect, stream until the end; returns why it ended."""
        self._paused = False
        try:
            ws = self._open()
        except Exception as exc:  # noqa: BLE001 (the thread's boundary: see _failure)
            self._close()
            problem = self._failure(exc)
            self._store.account_failing(self.account_id, problem)
            return problem
        connected_at = time.monotonic()
        problem = "exporter stopping"
        try:
            self._read(ws)
        except Exception as exc:  # noqa: BLE001
            problem = self._failure(exc)
        finally:
            self._close()
            self._store.stream_closed(self.account_id, problem)
        if time.monotonic() - connected_at >= min(30.0, self._tuning.timeout):
            self._backoff.reset()  # it was healthy: the next reconnect should be quick
        return problem

    def _failure(self, exc: Exception) -> str:
        """Why an attempt failed; forgets the session when the failure says it is invalid.

        An error that is not one of the stream's own (a bug, or an answer nothing expected)
        is counted as well.
        """
        if isinstance(exc, STREAM_ERRORS):
            self._paused = isinstance(exc, LoginPaused)
            if _session_invalid(exc):
                self._logged_in = False
            return _describe(exc)
        self._metrics.unexpected_errors.labels(Thread.STREAM.value).inc()
        log.debug("unexpected error in a stream", exc_info=True)
        return f"unexpected error: {_describe(exc)}"

    def _close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            ws.shutdown()

    def _open(self) -> websocket.WebSocket:
        """Log in if needed, resync the devices, connect and subscribe."""
        # All of it goes through the gate, so that a thousand streams dropped at once
        # reconnect at a steady pace instead of stampeding the API and the exporter's CPU
        # (websocket-client reads a handshake byte by byte: hundreds at once starve /metrics).
        with self._gate:
            self._log_in_and_resync()
            ws = websocket.WebSocket(skip_utf8_validation=True)
            self._ws = ws  # before connecting, so stop() can cut a hanging handshake too
            if self._stopping.is_set():
                raise StreamEnded("exporter stopping")
            self._connect(ws)
            self._store.stream_connected(self.account_id)
            devices = self._store.subscriptions(self.account_id)
            if devices:
                ws.send(messages.subscribe(devices))
        self._store.stream_subscribed(self.account_id, devices)
        log.info("stream up", extra={"account_id": self.account_id, "devices": len(devices)})
        return ws

    def _connect(self, ws: websocket.WebSocket) -> None:
        """The handshake, within connect_timeout in all (each read alone is bounded too)."""
        timeout = self._tuning.connect_timeout
        with WATCHDOG.limit(timeout) as handshake:
            WATCHDOG.attach(ws)
            try:
                ws.connect(
                    self._session.stream_url(self.account_id),
                    header=self._session.stream_headers(),
                    timeout=timeout,
                    redirect_limit=0,  # a redirect would take the cookie and API key along
                )
            except (websocket.WebSocketException, OSError):
                if handshake.cut:
                    raise StreamEnded(f"stream handshake not complete after {timeout:g}s") from None
                response = ws.handshake_response
                if response is not None and 300 <= response.status < 400:
                    raise StreamEnded(
                        f"stream handshake refused: HTTP {response.status} redirect not followed"
                    ) from None
                raise

    def _log_in_and_resync(self) -> None:
        """Log in if needed, then resync; a session found gone by the resync is replaced at
        once. A session can end while the stream is down without the stream saying so (a
        bare close frame), and waiting for another failed attempt and backoff would only
        prolong the outage."""
        fresh = not self._logged_in
        if fresh:
            self._login()
        try:
            self._resync()
        except AuthError:
            if fresh:
                raise
            log.info("session lost; logging in again", extra={"account_id": self.account_id})
            self._logged_in = False
            self._login()
            self._resync()

    def _login(self) -> None:
        user = self._session.login()
        if user.active_account_id != self.account_id:
            self._session.switch_account(self.account_id)
        self._logged_in = True
        log.info("logged in", extra={"account_id": self.account_id})

    def _resync(self) -> None:
        devices = self._session.list_devices()
        changes = self._store.set_devices(self.account_id, devices, True, time.time())
        if self._synced:
            self._log_changes(changes)
        self._synced = True

    # --- reading ------------------------------------------------------------------------------

    def _read(self, ws: websocket.WebSocket) -> None:
        """Read until the stream ends; ping when quiet, give up after `timeout` of silence."""
        tuning = self._tuning
        # Set once: changing a socket's timeout costs a system call, and this loop runs per frame.
        # A keep-alive is then at most a quarter of its interval late.
        keep_alive = self._session.keep_alive_interval() or MAX_WAIT
        ws.settimeout(min(tuning.ping_interval, tuning.device_refresh, keep_alive / 4, MAX_WAIT))
        if ws.sock is None:
            raise StreamEnded("connection lost")
        reader = FrameReader(ws.sock, tuning.timeout)
        next_refresh = reader.frame_at + tuning.device_refresh
        while not self._stopping.is_set():
            try:
                opcode, payload = reader.read()
            except TimeoutError:
                now = time.monotonic()
                reader.check(now)  # nothing at all for the stream timeout: Stalled
                ws.ping()
            else:
                now = reader.frame_at
                if opcode == frames.TEXT or opcode == frames.BINARY:
                    self._on_message(payload)
                elif opcode == frames.PING:
                    ws.pong(payload)
                elif opcode == frames.CLOSE:
                    raise StreamEnded(_close_reason(payload))
            if now >= next_refresh:
                self._refresh(ws)
                next_refresh = time.monotonic() + tuning.device_refresh
            if self._session.keep_alive_due():
                self._keep_alive()

    def _keep_alive(self) -> None:
        """A cheap authenticated call before EEN's inactivity timeout can end the session: the
        stream alone may not count as activity (een-api.md §1.7)."""
        try:
            self._session.keep_alive()
        except AuthError as exc:
            raise SessionLost(str(exc)) from None
        except ApiError as exc:
            log.warning(
                "session keep-alive failed; the stream carries on",
                extra={"account_id": self.account_id, "reason": str(exc)},
            )

    def _on_message(self, raw: bytes) -> None:
        try:
            message = parse_message(raw)
        except MalformedMessage as exc:
            self._store.apply(self.account_id, NOTHING, time.time())
            log.warning(
                "malformed stream message ignored",
                extra={"account_id": self.account_id, "reason": str(exc)},
            )
            return
        self._store.apply(self.account_id, _update(message), time.time())
        for refused in message.bad_events:
            log.warning(
                "malformed event ignored",
                extra={
                    "account_id": self.account_id,
                    "device_id": refused.device_id,
                    "event": refused.code,
                    "reason": refused.reason,
                },
            )
        if message.malformed:
            log.warning(
                "malformed device status ignored (not an integer from 0 to 2^64-1)",
                extra={
                    "account_id": self.account_id,
                    "devices": ",".join(message.malformed),
                    "statuses": ",".join(message.malformed.values()),
                },
            )
        if message.code == messages.OK:
            self._log_entity_errors(message)
            return
        if message.code in (messages.AUTH_LOST, messages.ACCESS_DENIED):
            raise SessionLost(f"stream says {message.code} {message.text}".strip())
        log.warning(
            "stream error message",
            extra={"account_id": self.account_id, "code": message.code, "text": message.text},
        )

    def _log_entity_errors(self, message: StreamMessage) -> None:
        for esn, error in message.errors.items():
            if error.code == messages.DROPPED:
                continue
            log.warning(
                "device refused by the stream",
                extra={
                    "account_id": self.account_id,
                    "device_id": esn,
                    "code": error.code,
                    "text": error.text,
                },
            )

    def _refresh(self, ws: websocket.WebSocket) -> None:
        """Re-read the device list: subscribe new devices, drop deleted ones."""
        try:
            devices = self._session.list_devices()
        except AuthError as exc:
            raise SessionLost(str(exc)) from None
        except ApiError as exc:
            log.warning(
                "device refresh failed; keeping the current list",
                extra={"account_id": self.account_id, "reason": str(exc)},
            )
            return
        changes = self._store.set_devices(self.account_id, devices, False, time.time())
        if changes.added:
            ws.send(messages.subscribe(self._store.subscriptions(self.account_id, changes.added)))
        if changes.removed:
            ws.send(messages.unsubscription(list(changes.removed)))
        self._log_changes(changes)

    def _log_changes(self, changes: DeviceChanges) -> None:
        if changes.added or changes.removed or changes.renamed:
            log.info(
                "devices changed",
                extra={
                    "account_id": self.account_id,
                    "added": ",".join(changes.added),
                    "removed": ",".join(changes.removed),
                    "renamed": ",".join(changes.renamed),
                },
            )


def _update(message: StreamMessage) -> StreamUpdate:
    """What the store needs of a message, as model types."""
    answered = (
        message.errors.keys() | message.malformed.keys()
        if message.errors or message.malformed
        else ()
    )
    return StreamUpdate(message.statuses, answered, message.events)


def _interrupt(ws: websocket.WebSocket) -> None:
    """Wake a thread blocked on `ws` (in the handshake or a read) by shutting its socket down."""
    sock = ws.sock
    if sock is None:
        return
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


def _session_invalid(exc: BaseException) -> bool:
    if isinstance(exc, AuthError | SessionLost):
        return True
    return isinstance(exc, websocket.WebSocketBadStatusException) and exc.status_code == 401


def _close_reason(payload: bytes) -> str:
    if len(payload) >= 2:
        code = int.from_bytes(payload[:2], "big")
        text = payload[2:].decode("utf-8", "replace")
        return f"closed by the server ({code}{' ' + text if text else ''})"
    return "closed by the server"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, websocket.WebSocketBadStatusException):
        return f"stream handshake refused: HTTP {exc.status_code}"
    if isinstance(exc, websocket.WebSocketConnectionClosedException):
        return "connection lost"
    if isinstance(exc, ApiError | StreamEnded | frames.ReadError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
