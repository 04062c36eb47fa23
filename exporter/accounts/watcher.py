"""One account's stream loop, on its own thread, whichever API's `Watch` it drives.

Lifecycle: a start delay (spreading many new streams out), then attempts until stopped. An
attempt connects and subscribes inside the shared login gate, so that a thousand streams
dropped at once come back at a steady pace instead of stampeding the API and the exporter's
CPU; then it reads until the stream ends. Between attempts: exponential backoff with full
jitter, at least what the failure asks for (a 429's Retry-After, a paused login), none after
a planned end (a token renewal); a connection that was healthy for a while resets the
backoff. While the stream is down the store keeps the devices' last known values and
`een_stream_up` is 0. Whatever goes wrong in an attempt, even a bug, ends only that attempt.
"""

from __future__ import annotations

import logging
import threading
import time

from exporter.accounts.cloud import Ended, Watch, describe
from exporter.accounts.pacing import Backoff, LoginGate, wait
from exporter.accounts.tuning import StreamTuning
from exporter.state.selfmetrics import SelfMetrics, Thread
from exporter.state.store import StateStore

log = logging.getLogger(__name__)

HEALTHY = 30.0  # seconds connected (or the stream timeout, if shorter) that reset the backoff


class Watcher(threading.Thread):
    def __init__(
        self,
        account_id: str,
        watch: Watch,
        stopping: threading.Event,
        store: StateStore,
        metrics: SelfMetrics,
        gate: LoginGate,
        tuning: StreamTuning,
        start_delay: float = 0.0,
    ) -> None:
        super().__init__(name=f"een-stream-{account_id}", daemon=True)
        self.account_id = account_id
        self._watch = watch
        self._stopping = stopping
        self._store = store
        self._metrics = metrics
        self._gate = gate
        self._tuning = tuning
        self._start_delay = start_delay
        self._backoff = Backoff(tuning.backoff_base, tuning.backoff_max)

    def stop(self) -> None:
        """Ask the thread to end; wakes it from a wait, a connect or a blocking read."""
        self._stopping.set()
        self._watch.interrupt()

    def run(self) -> None:
        try:
            if wait(self._stopping, self._start_delay):
                return
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
                # A paused login is no news: the refusal that paused it was logged once.
                log.log(
                    logging.DEBUG if ended.quiet else logging.WARNING,
                    "stream down",
                    extra={
                        "account_id": self.account_id,
                        "reason": ended.problem,
                        "retry_in": delay,
                    },
                )
                wait(self._stopping, delay)
        finally:
            self._watch.finish()

    def _attempt(self) -> Ended:
        """Connect, stream until the end; returns why it ended."""
        watch = self._watch
        try:
            with self._gate:
                watch.connect()
                self._store.stream_connected(self.account_id)
                subscribed = watch.subscribe()
            self._store.stream_subscribed(self.account_id, subscribed.awaited)
            log.info(
                "stream up", extra={"account_id": self.account_id, "devices": subscribed.devices}
            )
        except Exception as exc:  # noqa: BLE001 (the thread's boundary: see _failure)
            watch.close()
            ended = self._failure(exc)
            self._store.account_failing(self.account_id, ended.problem)
            return ended
        connected_at = time.monotonic()
        ended = Ended("exporter stopping")
        try:
            ended = watch.read() or ended
        except Exception as exc:  # noqa: BLE001
            ended = self._failure(exc)
        finally:
            watch.close()
            self._store.stream_closed(self.account_id, ended.problem)
        if time.monotonic() - connected_at >= min(HEALTHY, self._tuning.timeout):
            self._backoff.reset()  # it was healthy: the next reconnect should be quick
        return ended

    def _failure(self, exc: Exception) -> Ended:
        """The watch's reading of its own errors; any other (a bug, or an answer nothing
        expected) is counted as well."""
        ended = self._watch.failure(exc)
        if ended is not None:
            return ended
        self._metrics.unexpected_errors.labels(Thread.STREAM.value).inc()
        log.debug("unexpected error in a stream", exc_info=True)
        return Ended(f"unexpected error: {describe(exc)}")
