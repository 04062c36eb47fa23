"""One account's API v3 watch: list, subscribe, stream server-sent events, on its own thread.

One attempt: an access token for the account, every camera and bridge with its status (the
resync: the listing is the snapshot), a new temporary event subscription with a filter per
device, and its SSE stream until it ends. Between attempts: exponential backoff with full
jitter, at least a 429's Retry-After. Before the access token is due for renewal the stream is
left on purpose and the next attempt starts at once: EEN ends a stream whose token dies, and
each attempt re-lists, so no change is lost in the gap. Whatever goes wrong in an attempt,
even a bug, ends only that attempt.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from exporter.een.pacing import MAX_WAIT, Backoff, LoginGate, wait
from exporter.een.stream import StreamTuning
from exporter.state.model import DeviceInfo, DeviceKind, StreamUpdate
from exporter.state.selfmetrics import SelfMetrics, Thread
from exporter.state.status import UNDOCUMENTED, documented
from exporter.state.store import DeviceChanges, StateStore
from exporter.transport import rest
from exporter.v3 import sse
from exporter.v3.access import AccountAccess, Credential
from exporter.v3.api import ApiError, Device, Subscription, V3Client
from exporter.v3.oauth import Failure, OAuthError
from exporter.v3.tokenfile import TokenFileError

log = logging.getLogger(__name__)

NOTHING = StreamUpdate()
KINDS = {"camera": DeviceKind.CAMERA, "bridge": DeviceKind.BRIDGE}
# What ends one attempt (and is retried after a backoff), as opposed to a bug.
STREAM_ERRORS = (ApiError, OAuthError, TokenFileError, sse.ReadError)


class Renewal(Exception):
    """The access token is due for renewal: reconnect now, with a fresh one."""


@dataclass(frozen=True)
class Ended:
    problem: str
    retry_after: float | None = None
    planned: bool = False  # a renewal: no backoff
    quiet: bool = False  # a refused grant: logged once by discovery, not per account


class V3AccountStream(threading.Thread):
    def __init__(
        self,
        account_id: str,
        access: AccountAccess,
        client: V3Client,
        store: StateStore,
        metrics: SelfMetrics,
        gate: LoginGate,
        tuning: StreamTuning,
        start_delay: float = 0.0,
    ) -> None:
        super().__init__(name=f"een-stream-{account_id}", daemon=True)
        self.account_id = account_id
        self._access = access
        self._client = client
        self._store = store
        self._metrics = metrics
        self._gate = gate
        self._tuning = tuning
        self._start_delay = start_delay
        self._http = rest.session()  # its calls can be cut by the watchdog
        self._reader: sse.EventReader | None = None
        self._credential: Credential | None = None
        self._subscription: Subscription | None = None
        self._synced = False
        self._undocumented = Undocumented(account_id)
        self._stopping = threading.Event()
        self._backoff = Backoff(tuning.backoff_base, tuning.backoff_max)

    def stop(self) -> None:
        """Ask the thread to end; wakes it from a wait or a blocking read."""
        self._stopping.set()
        reader = self._reader
        if reader is not None:
            reader.interrupt()

    def run(self) -> None:
        if wait(self._stopping, self._start_delay):
            return
        try:
            while not self._stopping.is_set():
                ended = self._attempt()
                if self._stopping.is_set():
                    break
                if ended.planned:
                    log.info(
                        "stream renewed",
                        extra={"account_id": self.account_id, "reason": ended.problem},
                    )
                    continue
                delay = max(self._backoff.next_delay(), ended.retry_after or 0.0)
                log.log(
                    logging.DEBUG if ended.quiet else logging.WARNING,
                    "stream down",
                    extra={
                        "account_id": self.account_id,
                        "reason": ended.problem,
                        "retry_in": round(delay, 3),
                    },
                )
                wait(self._stopping, delay)
        finally:
            self._http.close()

    # --- one attempt ------------------------------------------------------------------------

    def _attempt(self) -> Ended:
        try:
            reader = self._open()
        except Exception as exc:  # noqa: BLE001 (the thread's boundary: see _failure)
            self._close()
            ended = self._failure(exc)
            self._store.account_failing(self.account_id, ended.problem)
            return ended
        connected_at = time.monotonic()
        ended = Ended("exporter stopping")
        try:
            self._read(reader)
            if not self._stopping.is_set():
                ended = Ended("the server ended the stream")
        except Renewal as exc:
            ended = Ended(str(exc), planned=True)
        except Exception as exc:  # noqa: BLE001
            ended = self._failure(exc)
        finally:
            self._close()
            self._store.stream_closed(self.account_id, ended.problem)
            self._undocumented.flush()
        if time.monotonic() - connected_at >= min(30.0, self._tuning.timeout):
            self._backoff.reset()  # it was healthy: the next reconnect should be quick
        return ended

    def _failure(self, exc: Exception) -> Ended:
        """Why an attempt failed; a 401 makes the next attempt use a new token."""
        if not isinstance(exc, STREAM_ERRORS):
            self._metrics.unexpected_errors.labels(Thread.STREAM.value).inc()
            log.debug("unexpected error in a stream", exc_info=True)
            return Ended(f"unexpected error: {type(exc).__name__}: {exc}")
        status = getattr(exc, "status", None)
        if status == 401 and self._credential is not None:
            self._access.invalidate(self._credential)
        refused = isinstance(exc, OAuthError) and exc.failure is not Failure.TRANSIENT
        retry_after = getattr(exc, "retry_after", None)
        return Ended(str(exc) or type(exc).__name__, retry_after, quiet=refused)

    def _open(self) -> sse.EventReader:
        """Token, resync, subscribe, connect: through the gate, so that many accounts dropped
        at once come back at a steady pace."""
        with self._gate:
            credential = self._credential = self._access.get()
            devices = self._client.devices(credential.base, credential.value)
            self._resync(devices)
            actors = [f"{device.kind}:{device.id}" for device in devices]
            subscription = self._client.subscribe(credential.base, credential.value, actors)
            self._subscription = subscription
            if self._stopping.is_set():
                raise sse.ConnectionClosed("exporter stopping")
            reader = sse.open_stream(
                subscription.sse_url,
                credential.value,
                self._tuning.timeout,
                self._http,
                poll=self._poll_interval(credential),
            )
            self._reader = reader
            self._store.stream_connected(self.account_id)
        # The listing was the snapshot: ready at once.
        self._store.stream_subscribed(self.account_id, ())
        log.info("stream up", extra={"account_id": self.account_id, "devices": len(devices)})
        return reader

    def _poll_interval(self, credential: Credential) -> float:
        """How long a read may wait for a byte: the stream's timers (a stall, the device
        refresh, the token's renewal) are checked at least this often, events or not."""
        tuning = self._tuning
        renewal = max(credential.renew_at - time.monotonic(), 0.05)
        return min(tuning.timeout / 3, tuning.device_refresh, renewal, MAX_WAIT)

    def _resync(self, devices: list[Device]) -> None:
        changes = self._store.set_devices(
            self.account_id, [self._info(device) for device in devices], True, time.time()
        )
        if self._synced:
            self._log_changes(changes)
        self._synced = True

    def _close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()
        subscription, self._subscription = self._subscription, None
        credential = self._credential
        if subscription is None or credential is None or self._stopping.is_set():
            return
        # Temporary subscriptions expire by themselves; deleting is only tidier.
        with contextlib.suppress(ApiError):
            self._client.delete_subscription(credential.base, credential.value, subscription.id)

    # --- reading ------------------------------------------------------------------------------

    def _read(self, reader: sse.EventReader) -> None:
        """Apply events until the stream ends; re-list every device_refresh; leave on purpose
        when the token is due for renewal. The read wakes at least every poll interval, so
        the timers run on time though no event arrives (v1's loop does the same)."""
        credential = self._credential
        assert credential is not None
        next_refresh = reader.unit_at + self._tuning.device_refresh
        while not self._stopping.is_set():
            try:
                event = reader.read()
            except TimeoutError:
                now = time.monotonic()
                reader.check(now)  # no event or comment for the stream timeout: Stalled
            except sse.EndOfStream:
                return
            else:
                now = reader.unit_at
                if event is not None:
                    self._on_event(event)
            if now >= credential.renew_at:
                raise Renewal("access token renewal")
            if now >= next_refresh:
                self._refresh(credential)
                next_refresh = time.monotonic() + self._tuning.device_refresh

    def _on_event(self, event: dict[str, object]) -> None:
        change = sse.status_change(event)
        if change is None:
            self._store.apply(self.account_id, NOTHING, time.time())
            return
        status = documented(change.status)
        if status is UNDOCUMENTED:
            self._undocumented.met(change.status)
        update = StreamUpdate({change.actor_id: status})
        self._store.apply(self.account_id, update, time.time())

    def _refresh(self, credential: Credential) -> None:
        """Re-list (the one fallback that alone guarantees correct status, §5.2) and add a
        filter for each new device."""
        try:
            devices = self._client.devices(credential.base, credential.value)
        except ApiError as exc:
            if exc.status == 401:
                raise
            log.warning(
                "device refresh failed; keeping the current list",
                extra={"account_id": self.account_id, "reason": str(exc)},
            )
            return
        changes = self._store.set_devices(
            self.account_id, [self._info(device) for device in devices], True, time.time()
        )
        subscription = self._subscription
        if changes.added and subscription is not None:
            kinds = {device.id: device.kind for device in devices}
            actors = [f"{kinds[esn]}:{esn}" for esn in changes.added]
            self._client.add_filters(credential.base, credential.value, subscription.id, actors)
        self._log_changes(changes)

    def _info(self, device: Device) -> DeviceInfo:
        status = documented(device.status)
        if status is UNDOCUMENTED:
            self._undocumented.met(device.status)
        return DeviceInfo(
            device.id, KINDS[device.kind], device.name, device.bridge_id or "", status
        )

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


class Undocumented:
    """The undocumented connectionStatus values one account's stream met, at a bounded cost.

    Each of the first REMEMBERED distinct values is logged once. Past them, values not
    remembered are counted and logged at most once per LOG_INTERVAL with the count, so a server
    sending endless distinct values costs neither memory nor log lines.
    """

    REMEMBERED = 16
    LOG_INTERVAL = 60.0
    SHOWN = 64  # characters of a value kept and logged

    def __init__(self, account_id: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._account_id = account_id
        self._clock = clock
        self._remembered: set[str] = set()
        self._unlogged = 0  # values met past the remembered ones, since the last line
        self._example = ""  # the last of those
        self._logged_at = -math.inf

    def met(self, status: str) -> None:
        shown = status[: self.SHOWN]
        if shown in self._remembered:
            return
        if len(self._remembered) < self.REMEMBERED:
            self._remembered.add(shown)
            self._log(shown, 1)
            return
        self._unlogged += 1
        self._example = shown
        if self._clock() - self._logged_at >= self.LOG_INTERVAL:
            self.flush()

    def flush(self) -> None:
        """Log the values counted but not logged yet, if any (when a stream attempt ends)."""
        if self._unlogged:
            self._log(self._example, self._unlogged)
            self._unlogged = 0

    def _log(self, shown: str, count: int) -> None:
        self._logged_at = self._clock()
        log.warning(
            "undocumented connectionStatus: shown as 0 in every documented status",
            extra={"account_id": self._account_id, "status": shown, "count": count},
        )
