"""HTTP long polling (EENCloud/api-docs `source/includes/_api_poll.md`, "Initialize Poll" and
"Polling"; een-api.md §4.1).

`POST /poll` with a `{"cameras": {...}}` body creates a poll session and answers the current
value of every requested resource, with the session's token in the body and in two cookies,
`ee-poll-ses` and `poll_id` ("Response includes 2 session cookies and a returned token (which
are identical)"). `GET /poll` with either cookie (or, as the pre-2015 Swagger docs had it,
`?token=`) blocks until something the session asked for changed, or until the poll timeout,
and answers only what changed, possibly nothing. The docs' caveats are kept: in the POST
answer `status` suppresses the other resources, in GET answers `status` is omitted when an
entity asked for several resources, and `status_hex` / `status_hex64` are WebSocket only (left
out here, not refused). Errors: 400 for a body the docs do not allow, 401 without a valid
session or poll session.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from exporter.simulator.http import HttpError, Request, Response
from exporter.simulator.resources import (
    MEDIA_RESOURCES,
    STATUS_RESOURCES,
    WEBSOCKET_ONLY,
    Media,
    SpecError,
    Subscription,
    parse_spec,
    resolves,
    status_values,
)
from exporter.simulator.world import Device, World

POLL_PATH = "/poll"
POLL_COOKIES = ("ee-poll-ses", "poll_id")
LONG_POLL_SECONDS = 25.0  # how long GET /poll waits for a change (undocumented; ours)
MAX_POLLS_PER_SESSION = 64  # the oldest poll sessions of a login go first


@dataclass(eq=False)
class PollSession:
    token: str
    session_key: str
    subscriptions: dict[str, Subscription]
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    media_sent: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, esn: str, values: dict[str, Any]) -> None:
        """Merge changed values; events merge by code (an entity holds one of each)."""
        if not values:
            return
        entry = self.pending.setdefault(esn, {})
        events = values.get("event")
        entry.update({k: v for k, v in values.items() if k != "event"})
        if events:
            entry.setdefault("event", {}).update(events)
        self.changed.set()

    def take(self) -> dict[str, dict[str, Any]]:
        pending, self.pending = self.pending, {}
        self.changed.clear()
        for esn, entry in pending.items():
            subscription = self.subscriptions.get(esn)
            if subscription is not None and len(subscription.resources) > 1:
                entry.pop("status", None)  # "The status parameter will be omitted (if multiple)"
        return {esn: entry for esn, entry in pending.items() if entry}


class LongPolls:
    """The poll sessions of all logins, indexed by ESN for the hub's fan-out."""

    def __init__(self, world: World, media: Media) -> None:
        self.world = world
        self.media = media
        self.timeout_seconds = LONG_POLL_SECONDS
        self.sessions: dict[str, PollSession] = {}
        self._by_esn: dict[str, set[PollSession]] = {}
        self._by_login: dict[str, list[str]] = {}
        self.waiting = 0  # GETs blocked right now (tests wait for one before a change)

    # -- requests -----------------------------------------------------------------------------

    async def handle(self, request: Request, session_key: str, account_id: str) -> Response:
        if request.method == "POST":
            return self.create(request, session_key, account_id)
        if request.method == "GET":
            return await self.wait(request, session_key)
        response = Response.error(405)
        response.headers.append(("Allow", "GET, POST"))
        return response

    def create(self, request: Request, session_key: str, account_id: str) -> Response:
        cameras = request.json_body.get("cameras")
        if not isinstance(cameras, dict) or not cameras:
            raise HttpError(400, 'the body must be {"cameras": {esn: {"resource": [...]}}}')
        subscriptions = {esn: self._parse(esn, spec) for esn, spec in cameras.items()}
        token = secrets.token_urlsafe(9)
        poll = PollSession(token, session_key, {})
        now = time.time()
        answer: dict[str, dict[str, Any]] = {}
        for esn, subscription in subscriptions.items():
            if not resolves(self.world, account_id, esn):
                continue  # not the caller's: not listed, as for an entity with nothing to say
            poll.subscriptions[esn] = subscription
            self._by_esn.setdefault(esn, set()).add(poll)
            values = self._current(esn, subscription, now)
            poll.media_sent[esn] = {k: v for k, v in values.items() if k in MEDIA_RESOURCES}
            if "status" in values:
                values = {"status": values["status"]}  # "status takes precedence (if multiple)"
            if values:
                answer[esn] = values
        self._remember(poll)
        response = Response.json({"cameras": answer, "token": token})
        for name in POLL_COOKIES:
            response.headers.append(("Set-Cookie", f"{name}={token}; Path=/"))
        return response

    async def wait(self, request: Request, session_key: str) -> Response:
        token = next((request.cookies[n] for n in POLL_COOKIES if n in request.cookies), None)
        token = token or request.query.get("token")
        poll = self.sessions.get(token or "")
        if poll is None or poll.session_key != session_key:
            raise HttpError(401, "no valid poll session (POST /poll first)")
        if not poll.pending:
            self.waiting += 1
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(poll.changed.wait(), self.timeout_seconds)
            finally:
                self.waiting -= 1
        if self.sessions.get(poll.token) is not poll:
            raise HttpError(401, "no valid poll session (the login ended)")
        return Response.json({"cameras": poll.take()})

    def _parse(self, esn: object, spec: object) -> Subscription:
        try:
            subscription = parse_spec(spec)
        except SpecError as exc:
            raise HttpError(400, f"{esn}: {exc}") from None
        if "event" in subscription.resources and not subscription.events:
            # "The event parameter is required to have the event resource present when
            # polling over HTTP"
            raise HttpError(400, f"{esn}: the event resource needs an event list over HTTP")
        return subscription

    def _current(self, esn: str, subscription: Subscription, now: float) -> dict[str, Any]:
        device = self.world.devices.get(esn)
        if device is None:
            return {}
        wanted = subscription.resources - WEBSOCKET_ONLY
        values = status_values(self.world, device, device.status, wanted)
        return values | self.media.values(device, wanted, now)

    def _remember(self, poll: PollSession) -> None:
        self.sessions[poll.token] = poll
        tokens = self._by_login.setdefault(poll.session_key, [])
        tokens.append(poll.token)
        while len(tokens) > MAX_POLLS_PER_SESSION:
            self._end(tokens.pop(0))

    def _end(self, token: str) -> None:
        poll = self.sessions.pop(token, None)
        if poll is None:
            return
        for esn in poll.subscriptions:
            members = self._by_esn.get(esn)
            if members is not None:
                members.discard(poll)
                if not members:
                    del self._by_esn[esn]
        poll.changed.set()  # a waiting GET answers 401 now

    # -- fan-out from the hub -----------------------------------------------------------------

    def publish_status(self, device: Device, status: int) -> None:
        for poll in self._by_esn.get(device.esn, ()):
            wanted = poll.subscriptions[device.esn].resources & STATUS_RESOURCES - WEBSOCKET_ONLY
            poll.add(device.esn, status_values(self.world, device, status, wanted))

    def publish_events(self, esn: str, events: dict[str, dict[str, Any]]) -> dict[str, int]:
        reached = dict.fromkeys(events, 0)
        for poll in self._by_esn.get(esn, ()):
            wanted = poll.subscriptions[esn].events
            chosen = {code: body for code, body in events.items() if code in wanted}
            poll.add(esn, {"event": chosen})
            for code in chosen:
                reached[code] += 1
        return reached

    def wants(self, esn: str, code: str) -> bool:
        return any(code in p.subscriptions[esn].events for p in self._by_esn.get(esn, ()))

    def tick_media(self, now: float) -> None:
        for esn, polls in list(self._by_esn.items()):
            device = self.world.devices.get(esn)
            if device is None:
                continue
            for poll in polls:
                wanted = poll.subscriptions[esn].resources & MEDIA_RESOURCES
                if not wanted:
                    continue
                sent = poll.media_sent.setdefault(esn, {})
                values = self.media.values(device, wanted, now)
                changed = {k: v for k, v in values.items() if sent.get(k) != v}
                sent.update(changed)
                poll.add(esn, changed)

    def forget(self, esns: list[str]) -> None:
        for esn in esns:
            for poll in self._by_esn.pop(esn, ()):
                poll.subscriptions.pop(esn, None)
                poll.pending.pop(esn, None)

    def end_session(self, session_key: str) -> None:
        for token in self._by_login.pop(session_key, []):
            self._end(token)
