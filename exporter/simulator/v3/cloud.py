"""The simulated EEN API v3 beside v1, on the same server and world (een-api-v3.md).

`V3Cloud` holds v3's state (tokens, subscriptions, faults) and listens to the world's changes
through `Cloud.listeners`; `routes.py` routes v3 requests to the handlers that use it. The auth
host, the API host and the SSE host of the real cloud are all this one server.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from exporter.simulator.cloud import Cloud
from exporter.simulator.http import Request
from exporter.simulator.v3.readings import PortReading, V3Readings
from exporter.simulator.v3.sse import EventHub
from exporter.simulator.v3.tokens import TokenStore, V3Settings
from exporter.simulator.v3.wire import iso_timestamp

_HOST_HEADER = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


@dataclass
class V3Faults:
    """Pending injected HTTP answers for v3 calls (429 with Retry-After, 5xx, ...)."""

    status: int = 0
    remaining: int = 0
    retry_after: int | None = None
    path_prefix: str | None = None

    def take(self, path: str) -> tuple[int, int | None] | None:
        if self.remaining <= 0:
            return None
        if self.path_prefix is not None and not path.startswith(self.path_prefix):
            return None
        self.remaining -= 1
        return self.status, self.retry_after

    def reset(self) -> None:
        self.status = self.remaining = 0
        self.retry_after = self.path_prefix = None


class V3Cloud:
    """v3's state beside v1's `Cloud`: its settings and address, tokens, subscriptions and
    injected faults. What the handlers (api, auth, events, control) are given."""

    def __init__(
        self,
        cloud: Cloud,
        settings: V3Settings,
        *,
        scheme: str,
        host: str,
        port: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cloud = cloud
        self.settings = settings
        self.scheme = scheme
        self.host = host
        self.port = port
        self.tokens = TokenStore(settings, clock)
        self.started_at = iso_timestamp(clock())
        self.events = EventHub(settings, self.tokens, self.started_at)
        self.faults = V3Faults()
        self.readings = V3Readings()
        cloud.listeners.append(self)

    # -- addresses ------------------------------------------------------------------------------

    def base_url(self) -> dict[str, object]:
        """`httpsBaseUrl` as the token, clientSettings and authorizationTokens answers give it;
        without `port` under the `base_url_port=omitted` reading (readings.py)."""
        if self.readings.base_url_port is PortReading.OMITTED:
            return {"hostname": self.host}
        return {"hostname": self.host, "port": self.port}

    def public_url(self, request: Request | None = None) -> str:
        """scheme://host:port as the client reached us (its Host header), for sseUrl."""
        host = request.headers.get("host", "") if request is not None else ""
        if not _HOST_HEADER.fullmatch(host):
            bracketed = f"[{self.host}]" if ":" in self.host else self.host
            host = f"{bracketed}:{self.port}"
        return f"{self.scheme}://{host}"

    # -- the world's changes (Cloud.listeners) ------------------------------------------------

    def status_changed(self, esn: str, previous: int) -> None:
        device = self.cloud.world.devices.get(esn)
        if device is not None:
            self.events.status_changed(device, previous)

    def account_deleted(self, account_id: str) -> None:
        self.events.account_deleted(account_id)
        self.tokens.forget_account(account_id)

    def faults_reset(self) -> None:
        self.faults.reset()
        self.events.unstall_all()

    def shutdown(self) -> None:
        self.events.shutdown()
