"""One account's API v3 watch: list, subscribe, stream server-sent events, as an engine `Watch`.

One attempt: an access token for the account, every camera and bridge with its status (the
resync: the listing is the snapshot), a new temporary event subscription with a filter per
device, and its SSE stream until it ends. A 429's Retry-After is what the next attempt waits
at least; a refused grant is logged once by the grant's health, here only at debug. Before
the access token is due for renewal the stream is left on purpose and the next attempt
starts at once: EEN ends a stream whose token dies, and each attempt re-lists, so no change
is lost in the gap. The engine (exporter.accounts.watcher) runs the attempts, the backoff
and the stop.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable

from exporter.accounts.cloud import AccountWatch, Ended, Subscribed, log_changes
from exporter.accounts.pacing import MAX_WAIT
from exporter.accounts.tuning import StreamTuning
from exporter.state.model import DeviceInfo, DeviceKind, StreamUpdate
from exporter.state.status import UNDOCUMENTED, documented
from exporter.state.store import StateStore
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


class SseWatch(AccountWatch):
    def __init__(
        self,
        account_id: str,
        access: AccountAccess,
        client: V3Client,
        store: StateStore,
        tuning: StreamTuning,
        stopping: threading.Event,
    ) -> None:
        super().__init__(account_id, store, tuning, stopping)
        self._access = access
        self._client = client
        self._http = rest.session()  # its calls can be cut by the watchdog
        self._reader: sse.EventReader | None = None
        self._credential: Credential | None = None
        self._subscription: Subscription | None = None
        self._listed = 0  # devices the last listing found
        self._undocumented = Undocumented(account_id)

    def interrupt(self) -> None:
        reader = self._reader
        if reader is not None:
            reader.interrupt()

    def finish(self) -> None:
        self._http.close()

    # --- one attempt ------------------------------------------------------------------------

    def connect(self) -> None:
        """Token, resync, subscribe, connect."""
        credential = self._credential = self._access.get()
        devices = self._client.devices(credential.base, credential.value)
        self._resync(devices)
        actors = [f"{device.kind}:{device.id}" for device in devices]
        subscription = self._client.subscribe(credential.base, credential.value, actors)
        self._subscription = subscription
        if self._stopping.is_set():
            raise sse.ConnectionClosed("exporter stopping")
        self._reader = sse.open_stream(
            subscription.sse_url,
            credential.value,
            self._tuning.timeout,
            self._http,
            poll=self._poll_interval(credential),
        )

    def subscribe(self) -> Subscribed:
        # The listing was the snapshot: ready at once.
        return Subscribed((), self._listed)

    def read(self) -> Ended | None:
        reader, credential = self._reader, self._credential
        if reader is None or credential is None:
            raise sse.ConnectionClosed("exporter stopping")
        return self._read(reader, credential)

    def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()
        self._undocumented.flush()
        subscription, self._subscription = self._subscription, None
        credential = self._credential
        if subscription is None or credential is None or self._stopping.is_set():
            return
        # Temporary subscriptions expire by themselves; deleting is only tidier.
        with contextlib.suppress(ApiError):
            self._client.delete_subscription(credential.base, credential.value, subscription.id)

    def failure(self, exc: Exception) -> Ended | None:
        """Why an attempt failed; a 401 makes the next attempt use a new token."""
        if not isinstance(exc, STREAM_ERRORS):
            return None
        status = getattr(exc, "status", None)
        if status == 401 and self._credential is not None:
            self._access.invalidate(self._credential)
        refused = isinstance(exc, OAuthError) and exc.failure is not Failure.TRANSIENT
        retry_after = getattr(exc, "retry_after", None)
        return Ended(str(exc) or type(exc).__name__, retry_after, quiet=refused)

    def _poll_interval(self, credential: Credential) -> float:
        """How long a read may wait for a byte: the stream's timers (a stall, the device
        refresh, the token's renewal) are checked at least this often, events or not."""
        tuning = self._tuning
        renewal = max(credential.renew_at - time.monotonic(), 0.05)
        return min(tuning.timeout / 3, tuning.device_refresh, renewal, MAX_WAIT)

    def _resync(self, devices: list[Device]) -> None:
        self._listed = len(devices)
        self._resynced([self._info(device) for device in devices])

    # --- reading ------------------------------------------------------------------------------

    def _read(self, reader: sse.EventReader, credential: Credential) -> Ended | None:
        """Apply events until the stream ends; re-list every device_refresh; leave on purpose
        when the token is due for renewal. The read wakes at least every poll interval, so
        the timers run on time though no event arrives (v1's loop does the same)."""
        next_refresh = reader.unit_at + self._tuning.device_refresh
        while not self._stopping.is_set():
            try:
                event = reader.read()
            except TimeoutError:
                now = time.monotonic()
                reader.check(now)  # no event or comment for the stream timeout: Stalled
            except sse.EndOfStream:
                return None if self._stopping.is_set() else Ended("the server ended the stream")
            else:
                now = reader.unit_at
                if event is not None:
                    self._on_event(event)
            if now >= credential.renew_at:
                return Ended("access token renewal", planned=True)
            if now >= next_refresh:
                self._refresh(credential)
                next_refresh = time.monotonic() + self._tuning.device_refresh
        return None

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
        log_changes(self.account_id, changes)

    def _info(self, device: Device) -> DeviceInfo:
        status = documented(device.status)
        if status is UNDOCUMENTED:
            self._undocumented.met(device.status)
        return DeviceInfo(
            device.id, KINDS[device.kind], device.name, device.bridge_id or "", status
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
