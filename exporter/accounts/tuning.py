"""The engine's timing knobs (each API's own, such as its REST limits, stay with the API)."""

from __future__ import annotations

from dataclasses import dataclass, field


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


@dataclass(frozen=True)
class EngineTuning:
    stream: StreamTuning = field(default_factory=StreamTuning)
    login_concurrency: int = 4
    # New streams start at a random moment within 10 ms per account, at most this many seconds.
    start_jitter: float = 5.0
