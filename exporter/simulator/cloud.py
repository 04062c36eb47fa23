"""The simulated cloud's state: world, sessions, streams and faults, and the changes to them
that must reach several of these at once (a status change reaches the streams, an ended
session closes its streams, ...). Lives on the simulator's event loop."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import Protocol

from exporter.simulator.events import EventSource
from exporter.simulator.readings import Activity, Readings
from exporter.simulator.sessions import Session, SessionStore
from exporter.simulator.stream import StreamHub
from exporter.simulator.world import World


@dataclass
class Credentials:
    username: str
    password: str
    two_factor: bool = False
    # Required in every v1 request when set (een-sim --api-key); None accepts any key or none.
    api_key: str | None = field(default=None, repr=False)
    # The last two-factor code "sent" (by SMS or e-mail); readable via /_sim/state for tests.
    last_two_factor_code: str | None = None


@dataclass
class Faults:
    latency: float = 0.0  # seconds added to every v1 REST response
    http_status: int = 0
    http_remaining: int = 0

    def take_http_fault(self) -> int | None:
        """The status the next REST call must answer with, if a fault is pending."""
        if self.http_remaining <= 0:
            return None
        self.http_remaining -= 1
        return self.http_status

    def reset(self) -> None:
        self.latency = 0.0
        self.http_status = 0
        self.http_remaining = 0


@dataclass
class LoginMeter:
    """Login requests (authenticate, authorize, switch_account) in flight, and the most ever."""

    active: int = 0
    peak: int = 0

    def begin(self) -> None:
        self.active += 1
        self.peak = max(self.peak, self.active)

    def end(self) -> None:
        self.active -= 1


class CloudListener(Protocol):
    """Another API surface on the same world (v3) that must follow its changes."""

    def status_changed(self, esn: str, previous: int) -> None: ...

    def account_deleted(self, account_id: str) -> None: ...

    def faults_reset(self) -> None: ...

    def shutdown(self) -> None: ...


# The session key's cookie name(s) on login: today's, the one before 2015, or both (een-api.md
# §1.5: the real cloud may set both).
SESSION_COOKIES = {
    "auth_key": ("auth_key",),
    "videobank_sessionid": ("videobank_sessionid",),
    "both": ("auth_key", "videobank_sessionid"),
}


@dataclass
class Cloud:
    world: World
    credentials: Credentials
    sessions: SessionStore
    hub: StreamHub
    events: EventSource
    readings: Readings
    session_cookies: tuple[str, ...] = SESSION_COOKIES["both"]
    faults: Faults = field(default_factory=Faults)
    logins: LoginMeter = field(default_factory=LoginMeter)
    churn_rate: float = 0.0  # random status transitions per second; changeable at run time
    churn_noise: float = 0.0  # share of churn's updates that are status 0 or invalid-bit noise
    listeners: list[CloudListener] = field(default_factory=list)
    _expiry_timers: dict[str, asyncio.TimerHandle] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        world: World,
        credentials: Credentials,
        sessions: SessionStore,
        seed: int = 1,
        readings: Readings | None = None,
    ) -> Cloud:
        # One object, shared with the hub and changed in place (a copy: callers keep theirs).
        readings = replace(readings) if readings else Readings()
        hub = StreamHub(world, readings)
        return cls(world, credentials, sessions, hub, EventSource(world, hub, seed), readings)

    # -- sessions -----------------------------------------------------------------------------

    def open_session(self) -> Session:
        session = self.sessions.create(self.world.user.owner_account_id)
        loop = asyncio.get_running_loop()
        self._expiry_timers[session.key] = loop.call_later(
            self.sessions.session_seconds, self.end_session, session.key
        )
        return session

    def end_session(self, key: str) -> None:
        """Logout, expiry or auth-lost: REST calls get 401, its streams get 412 and close."""
        timer = self._expiry_timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        self.sessions.end(key)
        self.hub.end_session(key)

    def end_idle_sessions(self) -> None:
        """End the sessions inactive for the readings' timeout (none when it is 0)."""
        readings = self.readings
        if not readings.inactive_minutes:
            return
        streams_count = readings.activity is Activity.STREAMS

        def busy(session: Session) -> bool:
            return streams_count and self.hub.has_session(session.key)

        for key in self.sessions.idle(readings.inactive_seconds, busy):
            self.end_session(key)

    def end_all_sessions(self) -> None:
        for session in self.sessions.end_all():
            self.end_session(session.key)

    # -- world changes ------------------------------------------------------------------------

    def set_status(self, esn: str, status: int) -> None:
        """A new status: pushed, then the events the transition makes, in one loop step."""
        device = self.world.devices[esn]
        old = device.status
        if self.world.set_status(esn, status):
            self.hub.publish_status(esn, status)
            self.events.on_status(device, old, status)
            for listener in self.listeners:
                listener.status_changed(esn, old)

    def delete_device(self, esn: str) -> None:
        self.world.delete_device(esn)
        self.hub.forget_devices([esn])

    def move_camera(self, esn: str, account_id: str) -> None:
        """Another account's camera now: the streams of its old account stop pushing it."""
        self.world.move_camera(esn, account_id)
        self.hub.forget_devices([esn])

    def delete_account(self, account_id: str) -> None:
        self.hub.forget_devices(self.world.delete_account(account_id))
        self.hub.close_account(account_id)
        for listener in self.listeners:
            listener.account_deleted(account_id)

    def reset_faults(self) -> None:
        self.faults.reset()
        self.hub.unstall_all()
        for listener in self.listeners:
            listener.faults_reset()

    def shutdown(self) -> None:
        for timer in self._expiry_timers.values():
            timer.cancel()
        self._expiry_timers.clear()
        self.hub.close_all()
        for listener in self.listeners:
            listener.shutdown()
