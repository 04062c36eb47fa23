"""The exporter's own metrics that are not per account, kept in a prometheus_client registry.

# TYPE een_api_requests_total counter
een_api_requests_total{endpoint="device_list"} 12.0
# TYPE een_login_failures_total counter
een_login_failures_total 0.0
"""

from __future__ import annotations

import enum
import threading
import time

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

from exporter import __version__

# A `_created` series per counter says nothing an operator needs and doubles the counters.
disable_created_metrics()

# process_* come from /proc: with a thousand streams, counting /proc/self/fd alone costs more
# than serving the cached camera metrics, and reading them more than once a second tells
# nobody anything.
PROCESS_TTL = 1.0


class Endpoint(enum.Enum):
    """The v1 REST calls the exporter makes; the values are the `endpoint` label."""

    AUTHENTICATE = "authenticate"
    AUTHORIZE = "authorize"
    ACCOUNT_LIST = "account_list"
    SWITCH_ACCOUNT = "switch_account"
    DEVICE_LIST = "device_list"
    LOGOUT = "logout"


class Thread(enum.Enum):
    """The exporter's long-lived threads, by kind; the values are the `thread` label."""

    DISCOVERY = "discovery"
    STREAM = "stream"


class SelfMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.api_requests = Counter(
            "een_api_requests",
            "EEN REST API calls made, by endpoint.",
            ["endpoint"],
            registry=self.registry,
        )
        self.api_failures = Counter(
            "een_api_request_failures",
            "EEN REST API calls that failed (network error, timeout or non-2xx), by endpoint.",
            ["endpoint"],
            registry=self.registry,
        )
        self.login_failures = Counter(
            "een_login_failures",
            "Logins (authenticate + authorize) that failed.",
            registry=self.registry,
        )
        self.credentials_refused = Gauge(
            "een_credentials_refused",
            "1 while EEN refuses the exporter's login (user name, password or two-factor "
            "user); logins are then paused, see the log.",
            registry=self.registry,
        )
        self.unexpected_errors = Counter(
            "een_exporter_unexpected_errors",
            "Errors the exporter did not expect (a bug, or an answer it cannot handle), caught "
            "by the discovery or a stream thread, which then backs off and carries on.",
            ["thread"],
            registry=self.registry,
        )
        build_info = Gauge(
            "een_exporter_build_info",
            "Always 1; the version label is the exporter's version.",
            ["version"],
            registry=self.registry,
        )
        build_info.labels(__version__).set(1)
        for endpoint in Endpoint:
            self.api_requests.labels(endpoint.value)
            self.api_failures.labels(endpoint.value)
        for thread in Thread:
            self.unexpected_errors.labels(thread.value)
        self._process = CollectorRegistry()
        ProcessCollector(registry=self._process)
        PlatformCollector(registry=self._process)
        self._process_lock = threading.Lock()
        self._process_text = b""
        self._process_read_at = -PROCESS_TTL

    def render(self) -> bytes:
        """The own counters, always fresh, then process metrics at most PROCESS_TTL old."""
        now = time.monotonic()
        with self._process_lock:
            if now - self._process_read_at >= PROCESS_TTL:
                self._process_text = generate_latest(self._process)
                self._process_read_at = now
            process = self._process_text
        return generate_latest(self.registry) + process
