"""Wires the exporter together: store, self-metrics, /metrics renderer, discovery, HTTP server."""

from __future__ import annotations

import logging
import resource
from dataclasses import dataclass, field

from exporter.accounts.discovery import AccountFilter, Discovery
from exporter.accounts.pacing import Backoff
from exporter.accounts.tuning import EngineTuning, StreamTuning
from exporter.config import ApiVersion, ConfigError, Settings
from exporter.een import events
from exporter.een.api import Credentials
from exporter.een.cloud import V1Cloud
from exporter.een.pacing import LoginPause
from exporter.exposition.render import Exposition
from exporter.state.model import EventSelection
from exporter.state.selfmetrics import Objectives, SelfMetrics
from exporter.state.store import StateStore
from exporter.transport.rest import RestLimits
from exporter.v3.access import Hosts
from exporter.v3.api import TOKEN_ENDPOINT, V3_ENDPOINTS, V3Client
from exporter.v3.cloud import V3Cloud
from exporter.v3.oauth import TOKEN_LIMITS, OAuthClient
from exporter.v3.tokenfile import TokenFile, TokenFileError
from exporter.v3.tokens import TokenManager, TokenPolicy
from exporter.web.config import WebConfigFile
from exporter.web.endpoints import PATHS, WebServer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tuning(EngineTuning):
    """The engine's knobs and each API's: what the exporter is built with."""

    rest: RestLimits = field(default_factory=RestLimits)  # v1's and v3's REST calls
    token_rest: RestLimits = TOKEN_LIMITS  # v3's token endpoint
    tokens: TokenPolicy = field(default_factory=TokenPolicy)  # v3's token lifetimes and pace
    # After EEN refuses the credentials (v1) or the grant (v3): one login per period,
    # doubling to the cap.
    login_pause: float = 60.0
    login_pause_max: float = 3600.0


def tuning_for(settings: Settings, backoff_base: float = 1.0, start_jitter: float = 5.0) -> Tuning:
    """The settings' timing knobs, plus two internal ones tests shorten."""
    return Tuning(
        stream=StreamTuning(
            timeout=settings.stream_timeout_seconds,
            device_refresh=settings.device_refresh_seconds,
            backoff_base=backoff_base,
            backoff_max=settings.backoff_max_seconds,
        ),
        login_concurrency=settings.login_concurrency,
        start_jitter=start_jitter,
    )


def raise_open_file_limit() -> None:
    """Lift the soft limit on open files to the hard one: every stream holds a socket or two,
    and a soft limit of 1,024 (a common default) is reached by a few hundred accounts."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as exc:
        log.warning("could not raise the open-file limit", extra={"limit": soft, "reason": exc})
        return
    log.info("raised the open-file limit", extra={"from": soft, "to": hard})


def _v3_cloud(
    settings: Settings, store: StateStore, metrics: SelfMetrics, tuning: Tuning
) -> V3Cloud:
    """API v3's accounts and streams; ConfigError when the token file cannot be used."""
    assert settings.token_file is not None  # load_settings requires it in v3 mode

    def count(endpoint: str, succeeded: bool) -> None:
        metrics.api_requests.labels(endpoint).inc()
        if not succeeded:
            metrics.api_failures.labels(endpoint).inc()

    hosts = Hosts.from_url(settings.url)
    client = V3Client(limits=tuning.rest, on_call=count)
    oauth = OAuthClient(
        hosts.auth_url, settings.client_id, settings.client_secret, limits=tuning.token_rest
    )
    label = "EEN_TOKEN_FILE / --een.token-file"
    try:
        manager = TokenManager(oauth, TokenFile(settings.token_file), policy=tuning.tokens)
    except TokenFileError as exc:
        raise ConfigError(f"{label}: {exc}") from None
    if manager.client_id != settings.client_id:
        raise ConfigError(
            f"{label}: {settings.token_file} was written for client {manager.client_id}, not "
            f"EEN_CLIENT_ID {settings.client_id}: run `een-exporter login` again"
        )
    manager.on_refresh = lambda succeeded: count(TOKEN_ENDPOINT, succeeded)
    pause = Backoff(tuning.login_pause, tuning.login_pause_max, rng=lambda: 1.0)
    return V3Cloud(manager, hosts, client, store, metrics, tuning.stream, pause, tuning.tokens)


class Exporter:
    def __init__(self, settings: Settings, tuning: Tuning | None = None) -> None:
        """Raises ConfigError for a web config file that does not load, OSError when the
        listen address cannot be bound."""
        web_config = (
            WebConfigFile(settings.web_config_file, PATHS) if settings.web_config_file else None
        )
        raise_open_file_limit()  # before the HTTP server sizes its connection limit by it
        tuning = tuning or tuning_for(settings)
        cloud: V1Cloud | V3Cloud
        objectives = Objectives(
            settings.availability_objective, dict(settings.availability_objectives)
        )
        if settings.api is ApiVersion.V3:
            # v3 has none of v1's poll-stream events: their families stay empty.
            self.store = StateStore(EventSelection())
            self.metrics = SelfMetrics(settings.shard, V3_ENDPOINTS, objectives)
            cloud = _v3_cloud(settings, self.store, self.metrics, tuning)
        else:
            self.store = StateStore(events.select(settings.events, settings.cssu_event_series))
            self.metrics = SelfMetrics(settings.shard, objectives=objectives)
            credentials = Credentials(
                settings.url, settings.username, settings.password, settings.api_key
            )
            pause = LoginPause(tuning.login_pause, tuning.login_pause_max)
            cloud = V1Cloud(
                credentials, self.store, self.metrics, tuning.stream, tuning.rest, pause
            )
        self.supervisor = Discovery(
            cloud,
            self.store,
            self.metrics,
            AccountFilter(settings.accounts, settings.accounts_exclude),
            tuning,
            settings.shard,
        )
        self.exposition = Exposition(self.store, self.metrics.render)
        self.web = WebServer(
            settings.listen_host, settings.listen_port, self.store, self.exposition, web_config
        )

    @property
    def listen_address(self) -> str:
        """What the HTTP server is bound to, e.g. 0.0.0.0:9877 (every IPv4 interface)."""
        host, port = self.web.address
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @property
    def url(self) -> str:
        """Where the HTTP server can be reached from this host."""
        host, port = self.web.address
        if host in ("", "0.0.0.0", "::"):  # noqa: S104 (comparing, not binding)
            host = "127.0.0.1"
        scheme = self.web.scheme
        return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"

    def start(self) -> None:
        self.web.start()
        self.supervisor.start()

    def stop(self, timeout: float = 5.0) -> list[str]:
        """Stop streams (logging their sessions out) and the HTTP server; returns stuck threads."""
        stuck = self.supervisor.stop(max(0.0, timeout - 0.5))
        self.web.stop()
        self.exposition.close()
        return stuck
