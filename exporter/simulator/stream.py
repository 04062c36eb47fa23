"""The WebSocket poll stream (een-api.md §4.2): connections, subscriptions and fan-out.

Each socket is a websockets sans-I/O `ServerProtocol` pumped over an asyncio stream. Everything
runs on the simulator's one event loop, so the shared indexes need no locks.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from websockets.frames import Frame, Opcode
from websockets.protocol import CLOSED, OPEN
from websockets.server import ServerProtocol

from exporter.simulator.longpoll import LongPolls
from exporter.simulator.readings import SNAPSHOT_CHUNK, Readings, SessionLoss
from exporter.simulator.resources import (
    MEDIA_RESOURCES,
    STATUS_RESOURCES,
    Media,
    SpecError,
    Subscription,
    parse_spec,
    resolves,
    status_values,
)
from exporter.simulator.world import World

log = logging.getLogger(__name__)
# websockets logs every handshake header (the auth_key cookie, the API key) and every frame at
# DEBUG, and each close at INFO: the protocol gets a logger of its own that passes on only
# warnings and errors, whatever the simulator's level.
_protocol_log = logging.getLogger(f"{__name__}.websockets")
_protocol_log.setLevel(logging.WARNING)

# A subscription naming every camera of a large account is big; allow 64 MiB messages.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
CLOSE_TIMEOUT = 2.0
READ_CHUNK = 256 * 1024


def envelope(data: dict[str, Any], status_code: int = 200, message: str = "OK") -> bytes:
    payload = {"status_code": status_code, "message": message, "data": data}
    return json.dumps(payload, separators=(",", ":")).encode()


def entity_error(status_code: int, message: str) -> dict[str, Any]:
    return {"error": [{"status_code": status_code, "message": message}]}


def chunked(items: list[tuple[str, dict[str, Any]]], size: int) -> Iterator[dict[str, Any]]:
    for start in range(0, len(items), size):
        yield dict(items[start : start + size])


@dataclass(eq=False)
class StreamConnection:
    """One open poll-stream socket, bound to a session and the account it was opened for."""

    hub: StreamHub
    protocol: ServerProtocol
    writer: asyncio.StreamWriter
    session_key: str
    account_id: str
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    stalled: bool = False
    answered: bool = False  # whether the handshake answer went out (a stall can hold it)
    _held: list[bytes] = field(default_factory=list)  # bytes received while stalled
    # Once its session is gone (the `message` reading): the answer to every request.
    lost: bytes | None = None
    _fragments: list[bytes] = field(default_factory=list)
    # The pre, thumb and video values last sent per ESN, so ticks push only what moved.
    media_sent: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A stream opened for a stalled account hangs before its handshake answer, which
        # stays queued in the protocol until the stall ends (see flush).
        self.stalled = self.hub.is_stalled(self.account_id)

    def send(self, message: bytes) -> None:
        """Queue one text message; a stalled or closing socket sends nothing."""
        if self.stalled or self.protocol.state is not OPEN:
            return
        self.protocol.send_text(message)
        self.flush()

    def close(self, code: int, reason: str) -> None:
        """Start the closing handshake, and cut the socket if the client does not finish it."""
        if self.stalled:
            self.abort()  # a stalled socket sends nothing, not even a close frame
            return
        if self.protocol.state is OPEN:
            self.protocol.send_close(code, reason)
            self.flush()
        asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, self.abort)

    def abort(self) -> None:
        """Cut the TCP connection without a close frame."""
        self.writer.transport.abort()

    def flush(self) -> None:
        if self.stalled:
            return
        for data in self.protocol.data_to_send():
            self.answered = True
            if data:
                self.writer.write(data)
            elif self.writer.can_write_eof():
                self.writer.write_eof()

    def stall(self) -> None:
        self.stalled = True

    def unstall(self) -> None:
        self.stalled = False
        held, self._held = self._held, []
        for data in held:
            self._receive(data)
        self.flush()  # a handshake answer held since the stream opened goes out now

    async def run(self, reader: asyncio.StreamReader) -> None:
        """Pump bytes into the protocol until the socket closes."""
        while self.protocol.state is not CLOSED:
            data = await reader.read(READ_CHUNK)
            if not data:
                self.protocol.receive_eof()
                self.flush()
                return
            if self.stalled:
                # Not feeding the protocol is what stops it answering pings.
                self._held.append(data)
                continue
            self._receive(data)

    def _receive(self, data: bytes) -> None:
        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if isinstance(event, Frame):
                self._on_frame(event)
        self.flush()

    def _on_frame(self, frame: Frame) -> None:
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
            self._fragments.append(bytes(frame.data))
            if frame.fin:
                message = b"".join(self._fragments)
                self._fragments.clear()
                self.hub.on_message(self, message)


class StreamHub:
    """All open streams, indexed by ESN, session and account for O(subscribers) fan-out."""

    def __init__(self, world: World, readings: Readings | None = None) -> None:
        self.world = world
        self.readings = readings or Readings()
        self.connections: set[StreamConnection] = set()
        self._by_esn: dict[str, set[StreamConnection]] = {}
        self._by_session: dict[str, set[StreamConnection]] = {}
        self._by_account: dict[str, set[StreamConnection]] = {}
        self._stalled_accounts: set[str] = set()
        self.media = Media(world)
        self.polls = LongPolls(world, self.media)  # HTTP long polling shares the fan-out
        self._media_esns: set[str] = set()  # ESNs some stream asked pre, thumb or video of

    # -- bookkeeping --------------------------------------------------------------------------

    def register(self, connection: StreamConnection) -> None:
        self.connections.add(connection)
        self._by_session.setdefault(connection.session_key, set()).add(connection)
        self._by_account.setdefault(connection.account_id, set()).add(connection)

    def unregister(self, connection: StreamConnection) -> None:
        self.connections.discard(connection)
        self._discard(self._by_session, connection.session_key, connection)
        self._discard(self._by_account, connection.account_id, connection)
        esns = list(connection.subscriptions)
        connection.subscriptions.clear()
        for esn in esns:
            self._discard(self._by_esn, esn, connection)
            self._index_media(esn)

    def count_for_account(self, account_id: str) -> int:
        return len(self._by_account.get(account_id, ()))

    def is_stalled(self, account_id: str) -> bool:
        return account_id in self._stalled_accounts

    def _open(self, account_id: str | None) -> list[StreamConnection]:
        """The open streams of one account, or all of them."""
        if account_id is None:
            return list(self.connections)
        return list(self._by_account.get(account_id, ()))

    @staticmethod
    def _discard(
        index: dict[str, set[StreamConnection]], key: str, connection: StreamConnection
    ) -> None:
        members = index.get(key)
        if members is None:
            return
        members.discard(connection)
        if not members:
            del index[key]

    # -- world events -------------------------------------------------------------------------

    def publish_status(self, esn: str, status: int) -> None:
        """Push a status word (a real change, or churn's noise: 0 or the invalid bit) in the
        status resources each stream asked for."""
        device = self.world.devices.get(esn)
        if device is None:
            return
        self.media.observe(device, time.time())
        self.polls.publish_status(device, status)
        messages: dict[frozenset[str], bytes] = {}  # one message per distinct request
        for connection in self._by_esn.get(esn, ()):
            wanted = connection.subscriptions[esn].resources & STATUS_RESOURCES
            if not wanted:
                continue
            message = messages.get(wanted)
            if message is None:
                values = status_values(self.world, device, status, wanted)
                message = messages[wanted] = envelope({esn: values})
            connection.send(message)

    def tick_media(self, now: float) -> None:
        """Push the pre, thumb and video values that moved since the last tick."""
        self.polls.tick_media(now)
        for esn in list(self._media_esns):
            device = self.world.devices.get(esn)
            if device is None:
                continue
            for connection in self._by_esn.get(esn, ()):
                subscription = connection.subscriptions[esn]
                values = self.media.values(device, subscription.resources, now)
                sent = connection.media_sent.setdefault(esn, {})
                changed = {k: v for k, v in values.items() if sent.get(k) != v}
                if changed:
                    sent.update(changed)
                    connection.send(envelope({esn: changed}))

    def wants(self, esn: str, code: str) -> bool:
        """Whether any stream or long poll asked for that event of that ESN."""
        streams = any(code in c.subscriptions[esn].events for c in self._by_esn.get(esn, ()))
        return streams or self.polls.wants(esn, code)

    def publish_events(self, esn: str, events: dict[str, dict[str, Any]]) -> dict[str, int]:
        """Push events of one ESN, in one message per stream holding the codes it asked for;
        returns how many streams each code reached."""
        reached = dict.fromkeys(events, 0)
        shared: bytes | None = None  # the message with every code, built once
        for connection in self._by_esn.get(esn, ()):
            wanted = connection.subscriptions[esn].events
            chosen = {code: body for code, body in events.items() if code in wanted}
            if not chosen:
                continue
            if len(chosen) == len(events):
                shared = shared or envelope({esn: {"event": events}})
                connection.send(shared)
            else:
                connection.send(envelope({esn: {"event": chosen}}))
            for code in chosen:
                reached[code] += 1
        for code, polls in self.polls.publish_events(esn, events).items():
            reached[code] += polls
        return reached

    def forget_devices(self, esns: Iterable[str]) -> None:
        """Deleted devices: stop pushing them (the client finds out by re-listing)."""
        esns = list(esns)
        self.polls.forget(esns)
        for esn in esns:
            self.media.forget(esn)
            self._media_esns.discard(esn)
            for connection in self._by_esn.pop(esn, ()):
                connection.subscriptions.pop(esn, None)

    def end_session(self, session_key: str) -> int:
        """The session is gone: every stream on it learns it as the session-loss reading says."""
        self.polls.end_session(session_key)
        connections = list(self._by_session.get(session_key, ()))
        for connection in connections:
            self._lose_session(connection)
        return len(connections)

    def close_account(self, account_id: str) -> None:
        """The account was deleted: its streams have nothing left to serve."""
        for connection in list(self._by_account.get(account_id, ())):
            connection.close(1008, "account deleted")

    def drop(self, account_id: str | None = None) -> int:
        """Cut the open streams (of one account, or all) without a close frame."""
        connections = self._open(account_id)
        for connection in connections:
            connection.abort()
        return len(connections)

    def stall(self, account_id: str | None = None) -> int:
        """Silence the open streams (of one account, or all).

        A stall of all streams leaves later streams normal. A stalled account stays stalled
        until unstall_all: its new streams hang too, so its clients cannot simply reconnect.
        """
        if account_id is not None:
            self._stalled_accounts.add(account_id)
        connections = self._open(account_id)
        for connection in connections:
            connection.stall()
        return len(connections)

    def unstall_all(self) -> None:
        self._stalled_accounts.clear()
        for connection in list(self.connections):
            connection.unstall()

    def close_all(self) -> None:
        for connection in list(self.connections):
            connection.stalled = False
            connection.close(1001, "server shutting down")

    # -- session loss (readings.py) -------------------------------------------------------------

    def has_session(self, session_key: str) -> bool:
        """Whether any stream is open on that session."""
        return session_key in self._by_session

    def _lose_session(self, connection: StreamConnection) -> None:
        reading = self.readings.session_loss
        if reading is SessionLoss.CLOSE:
            connection.close(1000, "")  # a close that says nothing about why
            return
        lost = envelope({}, 412, "auth lost")
        connection.send(lost)
        if reading is SessionLoss.HTTP:
            connection.close(1008, "auth lost")
            return
        # MESSAGE: the socket stays open but serves nothing; the client must act on the 412.
        self._forget_subscriptions(connection)
        connection.lost = lost

    def refuse_session(self, connection: StreamConnection) -> None:
        """A stream opened without a valid session, under the message or close reading."""
        if self.readings.session_loss is SessionLoss.CLOSE:
            connection.close(1000, "")
            return
        connection.lost = envelope({}, 401, "access denied")
        connection.send(connection.lost)

    def _forget_subscriptions(self, connection: StreamConnection) -> None:
        for esn in connection.subscriptions:
            self._discard(self._by_esn, esn, connection)
        connection.subscriptions.clear()

    # -- client messages ----------------------------------------------------------------------

    def on_message(self, connection: StreamConnection, raw: bytes) -> None:
        if connection.lost is not None:
            connection.send(connection.lost)
            return
        try:
            request = json.loads(raw)
        except ValueError:
            connection.send(envelope({}, 400, "malformed JSON request"))
            return
        if not isinstance(request, dict):
            connection.send(envelope({}, 400, "JSON request must be a JSON object"))
            return
        cameras = request.get("cameras")
        drop = request.get("drop")
        if cameras is None and drop is None:
            connection.send(envelope({}, 400, 'request needs "cameras" or "drop"'))
            return
        if drop is not None:
            self._drop(connection, drop)
        if cameras is not None:
            self._subscribe(connection, cameras)

    def _subscribe(self, connection: StreamConnection, cameras: object) -> None:
        if not isinstance(cameras, dict):
            connection.send(envelope({}, 400, '"cameras" must be a JSON object'))
            return
        answers = [(esn, self._add(connection, esn, spec)) for esn, spec in cameras.items()]
        items = [(esn, answer) for esn, answer in answers if answer is not None]
        for data in chunked(items, self.readings.snapshot_chunk):
            connection.send(envelope(data))

    def _add(self, connection: StreamConnection, esn: str, spec: object) -> dict[str, Any] | None:
        """Subscribe one entity; return its current values (the resources that have one) or
        its per-entity error, or None when none of its resources has a value to send yet."""
        try:
            subscription = parse_spec(spec)
        except SpecError as exc:
            return entity_error(400, str(exc))
        if not resolves(self.world, connection.account_id, esn):
            return self.readings.unresolved(foreign=esn in self.world.devices)
        connection.subscriptions[esn] = subscription
        connection.media_sent.pop(esn, None)
        self._by_esn.setdefault(esn, set()).add(connection)
        self._index_media(esn)
        device = self.world.devices.get(esn)
        if device is None:
            return None  # an account: events only
        values = status_values(self.world, device, device.status, subscription.resources)
        media = self.media.values(device, subscription.resources, time.time())
        connection.media_sent[esn] = dict(media)
        return (values | media) or None

    def _index_media(self, esn: str) -> None:
        """Keep `esn` among the media ESNs while some stream asks pre, thumb or video of it."""
        if any(c.subscriptions[esn].resources & MEDIA_RESOURCES for c in self._by_esn.get(esn, ())):
            self._media_esns.add(esn)
        else:
            self._media_esns.discard(esn)

    def _drop(self, connection: StreamConnection, drop: object) -> None:
        """Drop entities, or with `keys` only those resources of them (een-api.md §4.2, from
        the wspoll-api-updates draft); an entity left with no resource is dropped whole."""
        esns = drop.get("cameras") if isinstance(drop, dict) else None
        keys = drop.get("keys", []) if isinstance(drop, dict) else None
        if (
            not isinstance(esns, list)
            or not all(isinstance(esn, str) for esn in esns)
            or not isinstance(keys, list)
            or not all(isinstance(key, str) for key in keys)
        ):
            message = '"drop" must be {"cameras": [esn, ...], "keys": [resource, ...]}'
            connection.send(envelope({}, 400, message))
            return
        dropped = [esn for esn in esns if self._drop_one(connection, esn, frozenset(keys))]
        items = [(esn, entity_error(410, "dropped")) for esn in dropped]
        for data in chunked(items, SNAPSHOT_CHUNK):
            connection.send(envelope(data))

    def _drop_one(self, connection: StreamConnection, esn: str, keys: frozenset[str]) -> bool:
        """Drop `keys` of one entity (all when empty); True when the entity is gone."""
        subscription = connection.subscriptions.get(esn)
        resources = subscription.resources - keys if subscription and keys else frozenset()
        if subscription is not None and resources:
            events = subscription.events if "event" in resources else frozenset()
            connection.subscriptions[esn] = Subscription(resources, events)
            self._index_media(esn)
            return False
        connection.subscriptions.pop(esn, None)
        connection.media_sent.pop(esn, None)
        self._discard(self._by_esn, esn, connection)
        self._index_media(esn)
        return True


def new_protocol() -> ServerProtocol:
    return ServerProtocol(max_size=MAX_MESSAGE_BYTES, logger=_protocol_log)
