"""v3 event subscriptions and their server-sent-events streams (een-api-v3.md §5): the
subscriptions, the SSE connections, and status-change events that follow the world. The REST
resources that create and list them are `events.py`.

Everything runs on the simulator's event loop; nothing here needs a lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import re
import secrets
import string
from dataclasses import dataclass, field
from typing import Any

from exporter.simulator.http import SERVER_NAME, Request
from exporter.simulator.v3.status import connection_status
from exporter.simulator.v3.tokens import TokenStore, V3Settings
from exporter.simulator.v3.wire import ApiError, bearer, error_response, iso_timestamp
from exporter.simulator.world import Device

STATUS_EVENT = "een.deviceCloudStatusUpdateEvent.v1"
HISTORY_LIMIT = 1000  # closed status spans kept per device
STATUS_DATA = "een.deviceCloudStatusUpdate.v1"
CREATOR = "een.systemHealth"
SSE_PATH = re.compile(r"/sse/v3\.0/eventSubscriptions/(?P<subscription_id>[^/]+)")
TICK_SECONDS = 0.5  # how often a stream checks its token and its keep-alive
_ID_ALPHABET = string.ascii_letters + string.digits


@dataclass
class Filter:
    id: str
    actors: list[str]
    types: list[str]

    def matches(self, actor: str, event_type: str) -> bool:
        return actor in self.actors and event_type in self.types

    def as_json(self, type_key: str = "id") -> dict[str, Any]:
        """The OAS `Filter`; `type_key` names each `types` item's key (readings.FilterTypeKey)."""
        types = [{type_key: t} for t in self.types]
        return {"id": self.id, "actors": self.actors, "types": types}


@dataclass(eq=False)
class Subscription:
    id: str
    account_id: str
    filters: list[Filter] = field(default_factory=list)
    stream: SseStream | None = None
    expiry: asyncio.TimerHandle | None = None
    next_filter: int = 1

    def add_filter(self, actors: list[str], types: list[str]) -> Filter:
        new = Filter(str(self.next_filter), actors, types)
        self.next_filter += 1
        self.filters.append(new)
        return new

    def wants(self, actor: str, event_type: str) -> bool:
        return any(f.matches(actor, event_type) for f in self.filters)


@dataclass(eq=False)
class SseStream:
    """One client connected to a subscription's SSE URL, sending a chunked text/event-stream."""

    subscription: Subscription
    writer: asyncio.StreamWriter
    access_token: str
    stalled: bool = False
    answered: bool = False  # whether the response head went out (an account stall holds it)
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    def answer(self) -> None:
        if self.answered or self.stalled:
            return
        self.answered = True
        head = [
            "HTTP/1.1 200 OK",
            f"Server: {SERVER_NAME}",
            f"Date: {email.utils.formatdate(usegmt=True)}",
            "Content-Type: text/event-stream; charset=utf-8",
            "Cache-Control: no-cache",
            "Transfer-Encoding: chunked",
            "Connection: close",
        ]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))

    def send(self, text: str) -> None:
        """One chunk of the event stream; nothing while stalled or after the end."""
        if self.stalled or not self.answered or self.ended.is_set():
            return
        data = text.encode()
        self.writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def end(self) -> None:
        """A clean end: the last chunk, then the server closes the connection."""
        if self.ended.is_set():
            return
        if self.answered and not self.stalled:
            self.writer.write(b"0\r\n\r\n")
        elif self.stalled:
            self.writer.transport.abort()  # a stalled stream sends nothing, not even the end
        self.ended.set()

    def abort(self) -> None:
        """Cut the TCP connection mid-stream (no last chunk)."""
        self.writer.transport.abort()
        self.ended.set()

    def unstall(self) -> None:
        self.stalled = False
        self.answer()


class EventHub:
    """Subscriptions by id and account, their streams, and per-device status spans."""

    def __init__(self, settings: V3Settings, tokens: TokenStore, started_at: str) -> None:
        self.settings = settings
        self.tokens = tokens
        self.started_at = started_at  # the open span of a device unchanged since start
        self.subscriptions: dict[str, Subscription] = {}
        self._by_account: dict[str, dict[str, Subscription]] = {}
        self._stalled_accounts: set[str] = set()
        # The open span of each device that changed since start: (event id, start timestamp).
        self._spans: dict[str, tuple[str, str]] = {}
        # Undocumented connectionStatus values a device shows instead of its world status
        # (a future value EEN may add; PUT /_sim/v3/devices/{esn}/status), until it changes.
        self.overrides: dict[str, str] = {}
        # The closed status spans of each device, oldest first (GET /events), at most
        # HISTORY_LIMIT per device: (event id, start, end, connectionStatus).
        self.history: dict[str, list[tuple[str, str, str, str]]] = {}

    # -- subscriptions --------------------------------------------------------------------------

    def create(self, account_id: str) -> Subscription:
        subscription = Subscription(secrets.token_hex(16), account_id)
        self.subscriptions[subscription.id] = subscription
        self._by_account.setdefault(account_id, {})[subscription.id] = subscription
        self._arm_expiry(subscription)
        return subscription

    def delete(self, subscription: Subscription) -> None:
        self.subscriptions.pop(subscription.id, None)
        members = self._by_account.get(subscription.account_id, {})
        members.pop(subscription.id, None)
        if not members:
            self._by_account.pop(subscription.account_id, None)
        if subscription.expiry is not None:
            subscription.expiry.cancel()
            subscription.expiry = None
        if subscription.stream is not None:
            subscription.stream.end()

    def of_account(self, account_id: str) -> list[Subscription]:
        return list(self._by_account.get(account_id, {}).values())

    def owned(self, subscription_id: str, account_id: str) -> Subscription:
        subscription = self.subscriptions.get(subscription_id)
        if subscription is None or subscription.account_id != account_id:
            raise ApiError(404, "resourceNotFound", "The resource was not found")
        return subscription

    def _arm_expiry(self, subscription: Subscription) -> None:
        """A temporary subscription without a client is deleted after timeToLiveSeconds."""
        if subscription.expiry is not None:
            subscription.expiry.cancel()
        loop = asyncio.get_running_loop()
        subscription.expiry = loop.call_later(
            self.settings.sse_ttl_seconds, self._expire, subscription.id
        )

    def _expire(self, subscription_id: str) -> None:
        subscription = self.subscriptions.get(subscription_id)
        if subscription is not None and subscription.stream is None:
            self.delete(subscription)

    # -- world changes ----------------------------------------------------------------------------

    def open_span(self, esn: str) -> tuple[str, str]:
        """(event id, start) of the device's current status span; a device unchanged since the
        simulator started has one from then, with an id of its own."""
        return self._spans.get(esn, (f"sim{esn}start", self.started_at))

    def status_of(self, device: Device) -> str:
        """The connectionStatus the API and the events show for `device`."""
        override = self.overrides.get(device.esn)
        return override or connection_status(device.type, device.status).value

    def status_changed(self, device: Device, previous: int) -> None:
        old = self.overrides.pop(device.esn, None) or connection_status(device.type, previous)
        self.announce(device, str(old), connection_status(device.type, device.status).value)

    def announce(self, device: Device, old: str, new: str) -> None:
        """The span events of a change from `old` to `new` to the streams that want them."""
        if old == new:
            return  # v1 bits moved, v3's view did not
        now = iso_timestamp(self.tokens.clock())
        span_id, span_start = self.open_span(device.esn)
        new_id = _event_id()
        self._spans[device.esn] = (new_id, now)
        closed = self.history.setdefault(device.esn, [])
        closed.append((span_id, span_start, now, old))
        del closed[:-HISTORY_LIMIT]
        actor = f"{device.type.value}:{device.esn}"
        subscribers = [
            s
            for s in self._by_account.get(device.account_id, {}).values()
            if s.stream is not None and s.wants(actor, STATUS_EVENT)
        ]
        if not subscribers:
            return
        # Like webhook deliveries of span events (AS6): the old span's end, then the new start.
        ended = status_event(device, span_id, span_start, now, old)
        started = status_event(device, new_id, now, None, new)
        message = "".join(sse_data(event) for event in (ended, started))
        for subscription in subscribers:
            assert subscription.stream is not None
            subscription.stream.send(message)

    def send_raw(self, account_id: str, event: dict[str, Any]) -> int:
        """`event` to every connected stream of the account, whatever its filters want (a
        future event type a client must pass over); how many streams it went to."""
        streams = [s.stream for s in self.of_account(account_id) if s.stream is not None]
        for stream in streams:
            stream.send(sse_data(event))
        return len(streams)

    def account_deleted(self, account_id: str) -> None:
        for subscription in list(self._by_account.get(account_id, {}).values()):
            self.delete(subscription)
        self._stalled_accounts.discard(account_id)

    # -- faults ---------------------------------------------------------------------------------

    def streams(self, account_id: str | None = None) -> list[SseStream]:
        subscriptions = (
            self.subscriptions.values()
            if account_id is None
            else self._by_account.get(account_id, {}).values()
        )
        return [s.stream for s in subscriptions if s.stream is not None]

    def drop(self, account_id: str | None) -> int:
        streams = self.streams(account_id)
        for stream in streams:
            stream.abort()
        return len(streams)

    def stall(self, account_id: str | None) -> int:
        if account_id is not None:
            self._stalled_accounts.add(account_id)
        streams = self.streams(account_id)
        for stream in streams:
            stream.stalled = True
        return len(streams)

    def unstall_all(self) -> None:
        self._stalled_accounts.clear()
        for stream in self.streams():
            stream.unstall()

    def end_all(self) -> int:
        streams = self.streams()
        for stream in streams:
            stream.end()
        return len(streams)

    def shutdown(self) -> None:
        for subscription in list(self.subscriptions.values()):
            if subscription.expiry is not None:
                subscription.expiry.cancel()
            if subscription.stream is not None:
                subscription.stream.stalled = False
                subscription.stream.end()

    def counts(self) -> dict[str, int]:
        streams = self.streams()
        return {
            "subscriptions": len(self.subscriptions),
            "sse_streams": len(streams),
            "stalled_sse_streams": sum(s.stalled for s in streams),
        }

    # -- the SSE connection ---------------------------------------------------------------------

    async def serve(
        self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Serve one SSE connection until it ends; the caller closes the socket."""
        match = SSE_PATH.fullmatch(request.path)
        assert match is not None
        try:
            if request.method != "GET":
                message = f"HTTP method {request.method} not supported"
                raise ApiError(405, "methodNotSupported", message)
            token = bearer(request, self.tokens)
            subscription = self.owned(match["subscription_id"], token.account_id)
            if subscription.stream is not None:
                # OAS: one client at a time (§5.3); the simulator refuses the second.
                raise ApiError(409, "alreadyExists", "a client is already connected")
        except ApiError as exc:
            response = error_response(exc.status, exc.reason, exc.message, request.path)
            writer.write(response.serialize(keep_alive=False))
            return
        stream = SseStream(subscription, writer, token.value)
        stream.stalled = subscription.account_id in self._stalled_accounts
        subscription.stream = stream
        if subscription.expiry is not None:
            subscription.expiry.cancel()
            subscription.expiry = None
        stream.answer()
        watcher = asyncio.create_task(_watch_eof(reader, stream))
        try:
            await self._pump(stream)
        finally:
            watcher.cancel()
            subscription.stream = None
            if subscription.id in self.subscriptions:
                self._arm_expiry(subscription)

    async def _pump(self, stream: SseStream) -> None:
        """Keep-alive comments and the token check, until the stream ends."""
        keepalive = self.settings.sse_keepalive_seconds
        loop = asyncio.get_running_loop()
        next_keepalive = loop.time() + keepalive
        while not stream.ended.is_set():
            wait = min(TICK_SECONDS, next_keepalive - loop.time()) if keepalive else TICK_SECONDS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stream.ended.wait(), max(wait, 0.0))
            if stream.ended.is_set():
                return
            if self.tokens.access(stream.access_token) is None:
                stream.end()  # the token expired or was rotated away: the stream ends (§5.4)
                return
            if keepalive and loop.time() >= next_keepalive:
                stream.send(": keepalive\n\n")
                next_keepalive = loop.time() + keepalive


async def _watch_eof(reader: asyncio.StreamReader, stream: SseStream) -> None:
    """The client hung up (or the socket broke): the stream is over."""
    try:
        while await reader.read(4096):
            pass
    except (ConnectionError, OSError):
        pass
    stream.ended.set()


def status_event(
    device: Device, event_id: str, start: str, end: str | None, status: str
) -> dict[str, Any]:
    """An een.deviceCloudStatusUpdateEvent.v1 in OAS-EV's envelope (§5.1)."""
    return {
        "id": event_id,
        "startTimestamp": start,
        "endTimestamp": end,
        "span": True,
        "accountId": device.account_id,
        "actorId": device.esn,
        "actorAccountId": device.account_id,
        "actorType": device.type.value,
        "creatorId": CREATOR,
        "type": STATUS_EVENT,
        "dataSchemas": [STATUS_DATA],
        "data": [
            {"type": STATUS_DATA, "creatorId": CREATOR, "newStatus": {"connectionStatus": status}}
        ],
    }


def sse_data(event: dict[str, Any]) -> str:
    """One SSE message whose data is the event's JSON (een-api-v3.md §5.4)."""
    return f"data: {json.dumps(event, separators=(',', ':'))}\n\n"


def _event_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(20))


def sse_path(subscription: Subscription) -> str:
    return f"/sse/v3.0/eventSubscriptions/{subscription.id}"
