"""Wires the exporter together: store, self-metrics, /metrics renderer, discovery, HTTP server."""

from __future__ import annotations

from exporter.config import Settings
from exporter.een.api import Credentials
from exporter.een.stream import StreamTuning
from exporter.exposition import Exposition
from exporter.selfmetrics import SelfMetrics
from exporter.store import StateStore
from exporter.supervisor import AccountFilter, Supervisor, SupervisorTuning
from exporter.web import WebServer


def tuning_for(
    settings: Settings, backoff_base: float = 1.0, start_jitter: float = 5.0
) -> SupervisorTuning:
    """The settings' timing knobs, plus two internal ones tests shorten."""
    return SupervisorTuning(
        stream=StreamTuning(
            timeout=settings.stream_timeout_seconds,
            device_refresh=settings.device_refresh_seconds,
            backoff_base=backoff_base,
            backoff_max=settings.backoff_max_seconds,
        ),
        login_concurrency=settings.login_concurrency,
        start_jitter=start_jitter,
    )


class Exporter:
    def __init__(self, settings: Settings, tuning: SupervisorTuning | None = None) -> None:
        self.store = StateStore()
        self.metrics = SelfMetrics(settings.shard)
        self.exposition = Exposition(self.store, self.metrics.render)
        credentials = Credentials(
            settings.url, settings.username, settings.password, settings.api_key
        )
        self.supervisor = Supervisor(
            credentials,
            self.store,
            self.metrics,
            AccountFilter(settings.accounts, settings.accounts_exclude),
            tuning or tuning_for(settings),
            settings.shard,
        )
        self.web = WebServer(
            settings.listen_host, settings.listen_port, self.store, self.exposition
        )

    @property
    def url(self) -> str:
        """Where the HTTP server can be reached from this host."""
        host, port = self.web.address
        if host in ("", "0.0.0.0", "::"):  # noqa: S104 (comparing, not binding)
            host = "127.0.0.1"
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> None:
        self.web.start()
        self.supervisor.start()

    def stop(self, timeout: float = 5.0) -> list[str]:
        """Stop streams (logging their sessions out) and the HTTP server; returns stuck threads."""
        stuck = self.supervisor.stop(max(0.0, timeout - 0.5))
        self.web.stop()
        return stuck
