"""The settings the exporter runs with: validated once at start (see exporter.config.load)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

from exporter.state import eventcodes as events
from exporter.state.sharding import Shard

PROG = "een-exporter"
DEFAULT_URL = "https://login.eagleeyenetworks.com"
DEMO_USERNAME = "demo@example.com"  # the simulator's published demo login
DEMO_PASSWORD = "demo"  # noqa: S105


class ApiVersion(enum.Enum):
    V1 = "v1"
    V3 = "v3"


class LogFormat(enum.Enum):
    LOGFMT = "logfmt"
    JSON = "json"


class ConfigError(Exception):
    """One line for the user naming the bad setting.

    e.g. 'EEN_USERNAME / --een.username is required (or run with --demo)'
    """


@dataclass(frozen=True)
class Notice:
    """Something about the settings worth one log line once logging is set up."""

    level: int  # a logging level
    message: str


@dataclass(frozen=True)
class Settings:
    username: str  # "" only in demo mode
    password: str = field(repr=False)
    api_key: str | None = field(default=None, repr=False)
    url: str = DEFAULT_URL  # normalised, no trailing slash
    accounts: frozenset[str] = frozenset()  # empty = all
    accounts_exclude: frozenset[str] = frozenset()
    listen_host: str = ""  # "" = all interfaces
    listen_port: int = 9877  # 0 = ephemeral
    device_refresh_seconds: float = 300.0
    login_concurrency: int = 4
    stream_timeout_seconds: float = 60.0
    backoff_max_seconds: float = 60.0
    events: tuple[str, ...] = events.DEFAULT  # event codes to subscribe; () = none
    cssu_event_series: bool = False  # CSSU in een_camera_events_total and its timestamp too
    log_level: str = "info"
    log_format: LogFormat = LogFormat.LOGFMT
    demo: bool = False
    web_config_file: Path | None = None
    notices: tuple[Notice, ...] = field(default=(), compare=False, repr=False)
    shard: Shard = field(default_factory=Shard)
    api: ApiVersion = ApiVersion.V1
    client_id: str = ""  # v3 only, like the two below
    client_secret: str = field(default="", repr=False)
    token_file: Path | None = None
    availability_objective: float = 0.995  # docs/availability.md; 0 < x < 1
    availability_objectives: tuple[tuple[str, float], ...] = ()  # (account id, objective)
