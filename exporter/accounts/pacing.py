"""How often the exporter may knock on the EEN API: reconnect backoff, the login gate, and
waits that cannot overflow."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

# Event.wait and socket timeouts overflow near 2**33 seconds; any longer wait is taken in
# steps of this size (a wait that long is as good as forever anyway).
MAX_WAIT = 86_400.0


def wait(event: threading.Event, seconds: float) -> bool:
    """`event.wait(seconds)` for a wait of any length; whether the event was set.

    >>> wait(threading.Event(), 0.0), wait(threading.Event(), -1.0)
    (False, False)
    """
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if event.wait(min(left, MAX_WAIT)):
            return True
    return event.is_set()


class Backoff:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, base * 2^n)).

    >>> b = Backoff(base=1.0, cap=8.0, rng=lambda: 1.0)
    >>> [b.next_delay() for _ in range(5)]
    [1.0, 2.0, 4.0, 8.0, 8.0]
    """

    def __init__(self, base: float, cap: float, rng: Callable[[], float] = random.random) -> None:
        self._base = base
        self._cap = cap
        self._rng = rng
        self._attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self._cap, self._base * 2.0 ** min(self._attempt, 32))
        self._attempt += 1
        return ceiling * self._rng()

    def reset(self) -> None:
        self._attempt = 0


class LoginGate:
    """Bounds how many session setups (login, device list, stream handshake) run at once.

    A thousand accounts starting, or reconnecting after a network blip, then reach the API
    a few at a time instead of all together.
    """

    def __init__(self, concurrency: int) -> None:
        self._slots = threading.BoundedSemaphore(concurrency)
        self._lock = threading.Lock()
        self.active = 0
        self.peak = 0  # the most logins that ever ran at once (for tests and benchmarks)

    def __enter__(self) -> LoginGate:
        self._slots.acquire()
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        return self

    def __exit__(self, *_: object) -> None:
        with self._lock:
            self.active -= 1
        self._slots.release()
