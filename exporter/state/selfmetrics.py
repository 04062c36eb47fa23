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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric

from exporter import __version__
from exporter.state.model import AccountInfo
from exporter.state.sharding import Shard

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
    ISAUTH = "isauth"  # the keep-alive before EEN's inactivity timeout
    LOGOUT = "logout"


class Thread(enum.Enum):
    """The exporter's long-lived threads, by kind; the values are the `thread` label."""

    DISCOVERY = "discovery"
    STREAM = "stream"


DEFAULT_OBJECTIVE = 0.995


@dataclass(frozen=True)
class Objectives:
    """Availability objectives (0-1) of the accounts, for rules/availability.yml: one
    default and overrides by account id (EEN_AVAILABILITY_OBJECTIVE, ..._OBJECTIVES).

    >>> Objectives(0.995, {"11111111": 0.999}).of("11111111"), Objectives().of("22222222")
    (0.999, 0.995)
    """

    default: float = DEFAULT_OBJECTIVE
    overrides: Mapping[str, float] = field(default_factory=dict)

    def of(self, account_id: str) -> float:
        return self.overrides.get(account_id, self.default)


class SelfMetrics:
    def __init__(
        self,
        shard: Shard | None = None,
        endpoints: Iterable[str] | None = None,
        objectives: Objectives | None = None,
    ) -> None:
        """`endpoints`: the `endpoint` label values (default v1's)."""
        self.registry = CollectorRegistry()
        self._shard = shard or Shard()
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
        shard_info = Gauge(
            "een_exporter_shard_info",
            "Always 1; this exporter's shard index and the shard total it was started with.",
            ["index", "total"],
            registry=self.registry,
        )
        shard_info.labels(str(self._shard.index), str(self._shard.total)).set(1)
        self._accounts_monitored = Gauge(
            "een_exporter_accounts_monitored",
            "Accounts this exporter monitors: those discovery lists that hash to its shard.",
            registry=self.registry,
        )
        self._ownership = _Ownership()
        self._objectives = _ObjectiveSeries(objectives or Objectives())
        for endpoint in endpoints or (e.value for e in Endpoint):
            self.api_requests.labels(endpoint)
            self.api_failures.labels(endpoint)
        for thread in Thread:
            self.unexpected_errors.labels(thread.value)
        self._process = CollectorRegistry()
        ProcessCollector(registry=self._process)
        PlatformCollector(registry=self._process)
        self._process_lock = threading.Lock()
        self._process_text = b""
        self._process_read_at = -PROCESS_TTL

    def accounts_discovered(self, accounts: Sequence[AccountInfo]) -> None:
        """Record what discovery listed (after EEN_ACCOUNTS filters) and who owns each."""
        owners = tuple(sorted((a.id, self._shard.owner(a.id)) for a in accounts))
        self._ownership.update(owners)
        monitored = tuple(account for account, owner in owners if owner == self._shard.index)
        self._objectives.update(monitored)
        self._accounts_monitored.set(len(monitored))

    def render(self) -> bytes:
        """The own counters, always fresh, then process metrics at most PROCESS_TTL old."""
        now = time.monotonic()
        with self._process_lock:
            if now - self._process_read_at >= PROCESS_TTL:
                self._process_text = generate_latest(self._process)
                self._process_read_at = now
            process = self._process_text
        own = generate_latest(self.registry) + self._ownership.text + self._objectives.text
        return own + process


class _Ownership:
    """een_exporter_account_shard: one series per discovered account, naming its shard.

    Every shard lists every account, so Prometheus can tell an account that no shard
    monitors (it has this series but no een_account_info) and shards that disagree on
    --shard.total. Rendered when discovery changes it, not on every scrape.
    """

    def __init__(self) -> None:
        self._owners: tuple[tuple[str, int], ...] = ()
        self._registry = CollectorRegistry()
        self._registry.register(self)
        self.text = generate_latest(self._registry)

    def update(self, owners: tuple[tuple[str, int], ...]) -> None:
        if owners != self._owners:
            self._owners = owners
            self.text = generate_latest(self._registry)

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "een_exporter_account_shard",
            "Always 1 for every account discovery lists; shard is the index that monitors it.",
            labels=["account_id", "shard"],
        )
        for account_id, owner in self._owners:
            family.add_metric([account_id, str(owner)], 1)
        yield family


class _ObjectiveSeries:
    """een_account_availability_objective: the objective of every account this exporter
    monitors, for the availability rules to join. Rendered when discovery changes them."""

    def __init__(self, objectives: Objectives) -> None:
        self._objectives = objectives
        self._accounts: tuple[str, ...] = ()
        self._registry = CollectorRegistry()
        self._registry.register(self)
        self.text = generate_latest(self._registry)

    def update(self, accounts: tuple[str, ...]) -> None:
        if accounts != self._accounts:
            self._accounts = accounts
            self.text = generate_latest(self._registry)

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "een_account_availability_objective",
            "The account's camera availability objective (0-1), from EEN_AVAILABILITY_OBJECTIVE "
            "and EEN_AVAILABILITY_OBJECTIVES; read by rules/availability.yml.",
            labels=["account_id"],
        )
        for account_id in self._accounts:
            family.add_metric([account_id], self._objectives.of(account_id))
        yield family
