"""One account's poll stream (v1): its own EEN session and WebSocket, as an engine `Watch`.

One attempt, the setup inside the shared login gate: log in and switch into the account if
the session is not valid, read the device list (resync), connect and subscribe every device
to `status` and to the configured events of its kind; then read until the stream ends. A
failure that says the session is invalid makes the next attempt log in again; while EEN
refuses the credentials (LoginPause) the next attempt waits for the pause. The engine
(exporter.accounts.watcher) runs the attempts, the backoff and the stop.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time

import websocket

from exporter.accounts.cloud import AccountWatch, Ended, Subscribed, describe, log_changes
from exporter.accounts.pacing import MAX_WAIT
from exporter.accounts.tuning import StreamTuning
from exporter.een import frames, messages
from exporter.een.api import ApiError, AuthError, EenSession, LoginPaused
from exporter.een.frames import FrameReader
from exporter.een.messages import MalformedMessage, StreamMessage, parse_message
from exporter.state.model import StreamUpdate
from exporter.state.store import StateStore
from exporter.transport.deadlines import WATCHDOG

log = logging.getLogger(__name__)

NOTHING = StreamUpdate()


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


class PollWatch(AccountWatch):
    def __init__(
        self,
        account_id: str,
        session: EenSession,
        store: StateStore,
        tuning: StreamTuning,
        stopping: threading.Event,
    ) -> None:
        super().__init__(account_id, store, tuning, stopping)
        self._session = session
        self._logged_in = False
        self._ws: websocket.WebSocket | None = None

    def interrupt(self) -> None:
        ws = self._ws
        if ws is not None:
            _interrupt(ws)

    def finish(self) -> None:
        self._session.logout()

    # --- one attempt ------------------------------------------------------------------------

    def connect(self) -> None:
        """Log in if needed, resync the devices, connect (websocket-client reads a handshake
        byte by byte: hundreds at once outside the gate would starve /metrics)."""
        self._log_in_and_resync()
        ws = websocket.WebSocket(skip_utf8_validation=True)
        self._ws = ws  # before connecting, so interrupt() can cut a hanging handshake too
        if self._stopping.is_set():
            raise StreamEnded("exporter stopping")
        self._connect(ws)

    def subscribe(self) -> Subscribed:
        devices = self._store.subscriptions(self.account_id)
        if devices:
            self._socket().send(messages.subscribe(devices))
        return Subscribed(devices, len(devices))

    def read(self) -> Ended | None:
        self._read(self._socket())
        return None

    def close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            ws.shutdown()

    def failure(self, exc: Exception) -> Ended | None:
        """Why an attempt failed; forgets the session when the failure says it is invalid."""
        if not isinstance(exc, STREAM_ERRORS):
            return None
        if _session_invalid(exc):
            self._logged_in = False
        retry_after = None if self._logged_in else self._session.login_wait()
        # A paused login is no news: the refusal that paused it was logged once.
        return Ended(_describe(exc), retry_after, quiet=isinstance(exc, LoginPaused))

    def _socket(self) -> websocket.WebSocket:
        ws = self._ws
        if ws is None:
            raise StreamEnded("connection lost")
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
        self._resynced(self._session.list_devices())

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
        log_changes(self.account_id, changes)


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
    return describe(exc)
