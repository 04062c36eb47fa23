"""Every setting's environment variable, flag, help, default and parser: the option table."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit, urlunsplit

from exporter.config.settings import DEFAULT_URL, DEMO_USERNAME, ApiVersion, LogFormat
from exporter.state import eventcodes as events
from exporter.state.sharding import AUTO, MAX_SHARDS

T = TypeVar("T")


class SecretValueError(ValueError):
    """A parse failure whose input must not be repeated in the error (it may hold a secret)."""


def _text(value: str) -> str:
    return value.strip()


def _api_key(value: str) -> str | None:
    key = value.strip()
    if not all(" " <= char <= "~" for char in key):
        # It is sent as a header: anything else fails in the HTTP client (with the whole value
        # in the exception) or is encoded differently by the REST and the WebSocket client.
        raise SecretValueError("must be printable ASCII (no control or non-ASCII characters)")
    return key or None


def _url(value: str) -> str:
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        raise ValueError("must be an http or https URL with a host") from None
    if parts.username is not None or parts.password is not None:
        raise SecretValueError("must not contain a user name or password")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http or https URL with a host")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query or fragment")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise ValueError("must have a port from 0 to 65535") from None
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _optional_path(value: str) -> Path | None:
    return Path(value.strip()) if value.strip() else None


def _optional_url(value: str) -> str | None:
    return _url(value) if value.strip() else None


def _account_ids(value: str) -> frozenset[str]:
    ids = frozenset(item.strip() for item in value.split(",") if item.strip())
    if any(len(account_id.split()) > 1 for account_id in ids):
        raise ValueError("must be account ids separated by commas")
    return ids


_LISTEN_EXPECTED = (
    "must be HOST:PORT or :PORT, PORT 0-65535 (e.g. :9877, 127.0.0.1:9877, [::1]:9877)"
)


def _listen_address(value: str) -> tuple[str, int]:
    host, colon, port = value.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if not host:
            raise ValueError(_LISTEN_EXPECTED)
    elif ":" in host:
        raise ValueError(f"{_LISTEN_EXPECTED}; an IPv6 host needs brackets")
    if not colon or not _digits(port, 65535):
        raise ValueError(_LISTEN_EXPECTED)
    if any(char.isspace() for char in host):
        raise ValueError(_LISTEN_EXPECTED)
    return host, int(port)


@dataclass(frozen=True)
class Seconds:
    """A duration setting's parser, with bounds that keep the exporter sane at both ends."""

    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.low:g} to {self.high:g} seconds"

    def __call__(self, value: str) -> float:
        try:
            seconds = float(value)
        except ValueError:
            seconds = math.nan
        if not self.low <= seconds <= self.high:  # NaN fails too
            raise ValueError(f"must be a number of seconds from {self.low:g} to {self.high:g}")
        return seconds


@dataclass(frozen=True)
class Count:
    low: int
    high: int

    def __str__(self) -> str:
        return f"{self.low} to {self.high}"

    def __call__(self, value: str) -> int:
        word = value.strip()
        if not _digits(word, self.high) or int(word) < self.low:
            raise ValueError(f"must be a whole number from {self.low} to {self.high}")
        return int(word)


_LOG_LEVELS = {
    "debug": "debug",
    "info": "info",
    "warn": "warning",  # the spelling Prometheus' own flags use
    "warning": "warning",
    "error": "error",
}


def _log_level(value: str) -> str:
    level = _LOG_LEVELS.get(value.strip().lower())
    if level is None:
        raise ValueError("must be one of debug, info, warning, error")
    return level


def _log_format(value: str) -> LogFormat:
    try:
        return LogFormat(value.strip().lower())
    except ValueError:
        raise ValueError("must be logfmt or json") from None


def _api_version(value: str) -> ApiVersion:
    try:
        return ApiVersion(value.strip().lower())
    except ValueError:
        raise ValueError("must be v1 or v3") from None


def _shard_index(value: str) -> int | None:
    """A whole number from 0 to MAX_SHARDS - 1, or None for `auto` (the StatefulSet pod's
    ordinal). Its digits are counted before int(): past 4,300, int() fails with Python's own
    advice (`use sys.set_int_max_str_digits()`)."""
    word = value.strip().lower()
    if word == AUTO:
        return None
    if not _digits(word, MAX_SHARDS - 1):
        raise ValueError(f"must be a whole number from 0 to {MAX_SHARDS - 1}, or {AUTO}")
    return int(word)


def _digits(word: str, high: int) -> bool:
    """Whether `word` is ASCII digits of a number no larger than `high`; counted before
    int(), which fails past 4,300 digits.

    >>> _digits("007", 1023), _digits("1024", 1023), _digits("9" * 5000, 1023), _digits("+1", 9)
    (True, False, False, False)
    """
    return (
        word.isascii()
        and word.isdigit()
        and len(word.lstrip("0")) <= len(str(high))
        and int(word) <= high
    )


def _event_codes(value: str) -> tuple[str, ...]:
    if value.strip().lower() == "none":
        return ()
    codes = tuple(dict.fromkeys(code.strip().upper() for code in value.split(",") if code.strip()))
    unknown = [code for code in codes if code not in events.CODES]
    if unknown:
        raise ValueError(
            f"has unknown event code{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
            f"(known: {', '.join(sorted(events.CODES))}, or none)"
        )
    return codes


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _boolean(value: str) -> bool:
    word = value.strip().lower()
    if word not in _TRUE | _FALSE:
        raise ValueError("must be 1, true, yes, on, 0, false, no or off")
    return word in _TRUE


@dataclass(frozen=True)
class Option(Generic[T]):
    """One setting: its environment variable, flag, help, default (as typed) and parser."""

    env: str
    flag: str
    metavar: str
    help: str
    default: str
    parse: Callable[[str], T]
    secret: bool = False

    @property
    def label(self) -> str:
        return f"{self.env} / {self.flag}"


USERNAME = Option(
    "EEN_USERNAME",
    "--een.username",
    "EMAIL",
    "login e-mail of an EEN user without two-factor authentication; required unless --demo",
    "",
    _text,
)
PASSWORD_FILE = Option(
    "EEN_PASSWORD_FILE",
    "--een.password-file",
    "FILE",
    "file holding the password; or put the password itself in env EEN_PASSWORD",
    "",
    _text,
)
API_KEY = Option(
    "EEN_API_KEY",
    "--een.api-key",
    "KEY",
    "optional API key, sent as the Authorization header; printable ASCII. The flag is "
    "deprecated (it shows the key in the process list): use the env or --een.api-key-file",
    "",
    _api_key,
    secret=True,
)
API_KEY_FILE = Option(
    "EEN_API_KEY_FILE",
    "--een.api-key-file",
    "FILE",
    "file holding the API key (trailing newline ignored), instead of EEN_API_KEY",
    "",
    _text,
)
URL = Option(
    "EEN_URL",
    "--een.url",
    "URL",
    "login host; with the default, later calls go to the account's "
    "https://<brand>.eagleeyenetworks.com host, with any other value (simulator, proxy) "
    "every call stays on it",
    DEFAULT_URL,
    _url,
)
SIMULATOR_URL = Option(
    "EEN_SIMULATOR_URL",
    "--een.simulator-url",
    "URL",
    f"a running een-sim, watched with its demo login ({DEMO_USERNAME}) when EEN_USERNAME is "
    "not set; no other login is ever sent to it (docker-compose.yml sets it)",
    "",
    _optional_url,
)
ACCOUNTS = Option(
    "EEN_ACCOUNTS",
    "--een.accounts",
    "IDS",
    "comma-separated account ids to monitor; empty = every account the login can see",
    "",
    _account_ids,
)
ACCOUNTS_EXCLUDE = Option(
    "EEN_ACCOUNTS_EXCLUDE",
    "--een.accounts-exclude",
    "IDS",
    "comma-separated account ids to skip",
    "",
    _account_ids,
)
LISTEN_ADDRESS = Option(
    "EEN_LISTEN_ADDRESS",
    "--web.listen-address",
    "HOST:PORT",
    "where /metrics is served; an empty host = all interfaces, port 0 = any free port",
    ":9877",
    _listen_address,
)
WEB_CONFIG_FILE = Option(
    "EEN_WEB_CONFIG_FILE",
    "--web.config.file",
    "FILE",
    "Prometheus exporter-toolkit web configuration (TLS, basic auth, headers), the file Go "
    "exporters read; re-read when it changes",
    "",
    _optional_path,
)
DEVICE_REFRESH = Option(
    "EEN_DEVICE_REFRESH_SECONDS",
    "--een.device-refresh",
    "SECONDS",
    "how often the account list and each account's camera and bridge list are read again",
    "300",
    Seconds(10, 86_400),
)
LOGIN_CONCURRENCY = Option(
    "EEN_LOGIN_CONCURRENCY",
    "--een.login-concurrency",
    "N",
    "most session setups (login, device list, stream handshake) in flight at once",
    "4",
    Count(1, 64),
)
STREAM_TIMEOUT = Option(
    "EEN_STREAM_TIMEOUT_SECONDS",
    "--een.stream-timeout",
    "SECONDS",
    "reconnect a stream that has received nothing (not even a pong) for this long",
    "60",
    Seconds(5, 3_600),
)
BACKOFF_MAX = Option(
    "EEN_BACKOFF_MAX_SECONDS",
    "--een.backoff-max",
    "SECONDS",
    "longest wait between reconnect attempts",
    "60",
    Seconds(1, 3_600),
)
EVENTS = Option(
    "EEN_EVENTS",
    "--een.events",
    "CODES",
    "comma-separated four-letter poll-stream event codes to subscribe each camera or bridge "
    "to (see README: Events), or none",
    ",".join(events.DEFAULT),
    _event_codes,
)
CSSU_EVENT_SERIES = Option(
    "EEN_CSSU_EVENT_SERIES",
    "--een.cssu-event-series",
    "BOOL",
    "also show CSSU in een_camera_events_total and een_camera_last_event_timestamp_seconds "
    "(off: its packet counters say as much, at 2 series per camera)",
    "false",
    _boolean,
)


def _objective(value: str) -> float:
    """A ratio between 0 and 1 exclusive, or a percentage: 0.995 or 99.5%."""
    word = value.strip()
    try:
        number = float(word.removesuffix("%")) / (100 if word.endswith("%") else 1)
    except ValueError:
        number = math.nan
    if not 0 < number < 1:
        raise ValueError("must be a ratio between 0 and 1 (e.g. 0.995) or a percentage (99.5%)")
    return number


def _objectives(value: str) -> tuple[tuple[str, float], ...]:
    found: dict[str, float] = {}
    for item in value.split(","):
        if not item.strip():
            continue
        account_id, equals, objective = item.partition("=")
        if not equals or not account_id.strip() or len(account_id.split()) > 1:
            raise ValueError("must be ACCOUNT_ID=OBJECTIVE pairs separated by commas")
        try:
            found[account_id.strip()] = _objective(objective)
        except ValueError as exc:
            raise ValueError(f"{account_id.strip()}: {exc}") from None
    return tuple(sorted(found.items()))


AVAILABILITY_OBJECTIVE = Option(
    "EEN_AVAILABILITY_OBJECTIVE",
    "--availability.objective",
    "RATIO",
    "camera availability objective of every account (docs/availability.md), e.g. 0.995 or "
    "99.5%; exported as een_account_availability_objective",
    "0.995",
    _objective,
)
AVAILABILITY_OBJECTIVES = Option(
    "EEN_AVAILABILITY_OBJECTIVES",
    "--availability.objectives",
    "ID=RATIO,...",
    "objectives of single accounts, overriding EEN_AVAILABILITY_OBJECTIVE, e.g. "
    "11111111=0.999,22222222=99%",
    "",
    _objectives,
)
LOG_LEVEL = Option(
    "EEN_LOG_LEVEL", "--log.level", "LEVEL", "debug, info, warning or error", "info", _log_level
)
LOG_FORMAT = Option(
    "EEN_LOG_FORMAT", "--log.format", "FORMAT", "logfmt or json", "logfmt", _log_format
)
DEMO = Option(
    "EEN_DEMO",
    "--demo",
    "",
    "run against a built-in simulated EEN cloud; no credentials needed",
    "false",
    _boolean,
)
SHARD_INDEX = Option(
    "EEN_SHARD_INDEX",
    "--shard.index",
    "N|auto",
    "this replica's shard, 0 to total-1; auto = the N of a StatefulSet pod name ending "
    "in -N (from POD_NAME or HOSTNAME)",
    "0",
    _shard_index,
)
SHARD_TOTAL = Option(
    "EEN_SHARD_TOTAL",
    "--shard.total",
    "N",
    "how many replicas share the accounts; each monitors those whose id hashes to its index",
    "1",
    Count(1, MAX_SHARDS),
)
API = Option(
    "EEN_API",
    "--een.api",
    "v1|v3",
    "which EEN API to use: v1 (user name and password) or v3 (OAuth client and a token file "
    "from `een-exporter login`; see README: Using API v3)",
    "v1",
    _api_version,
)
CLIENT_ID = Option(
    "EEN_CLIENT_ID",
    "--een.client-id",
    "ID",
    "API v3: the application's client id from EEN's developer portal",
    "",
    _text,
)
CLIENT_SECRET_FILE = Option(
    "EEN_CLIENT_SECRET_FILE",
    "--een.client-secret-file",
    "FILE",
    "API v3: file holding the client secret; or put the secret itself in env EEN_CLIENT_SECRET",
    "",
    _text,
)
TOKEN_FILE = Option(
    "EEN_TOKEN_FILE",
    "--een.token-file",
    "FILE",
    "API v3: the refresh-token file `een-exporter login` wrote; rewritten (mode 0600) whenever "
    "EEN rotates the token, so its directory must be writable",
    "",
    _optional_path,
)
PASSWORD_ENV = "EEN_PASSWORD"  # noqa: S105 - a variable name, not a password
# The password has no flag, so that it never shows in the process list: env and .env only.
PASSWORD = Option(PASSWORD_ENV, "", "", "", "", _text, secret=True)
CLIENT_SECRET_ENV = "EEN_CLIENT_SECRET"  # noqa: S105 - a variable name, not a secret
CLIENT_SECRET = Option(CLIENT_SECRET_ENV, "", "", "", "", _text, secret=True)
# v1's login, and the poll-stream event codes (v3 has no such events); v3's OAuth client.
V1_ONLY = (USERNAME, PASSWORD, PASSWORD_FILE, API_KEY, API_KEY_FILE, EVENTS, CSSU_EVENT_SERIES)
V3_ONLY = (CLIENT_ID, CLIENT_SECRET, CLIENT_SECRET_FILE, TOKEN_FILE)

OPTIONS: tuple[Option[Any], ...] = (
    USERNAME,
    PASSWORD_FILE,
    API_KEY,
    API_KEY_FILE,
    URL,
    SIMULATOR_URL,
    ACCOUNTS,
    ACCOUNTS_EXCLUDE,
    LISTEN_ADDRESS,
    WEB_CONFIG_FILE,
    DEVICE_REFRESH,
    LOGIN_CONCURRENCY,
    STREAM_TIMEOUT,
    BACKOFF_MAX,
    EVENTS,
    CSSU_EVENT_SERIES,
    AVAILABILITY_OBJECTIVE,
    AVAILABILITY_OBJECTIVES,
    LOG_LEVEL,
    LOG_FORMAT,
    DEMO,
    SHARD_INDEX,
    SHARD_TOTAL,
    API,
    CLIENT_ID,
    CLIENT_SECRET_FILE,
    TOKEN_FILE,
)

# Every environment variable the exporter reads: the options' and the two secrets'.
ENVIRONMENT_VARIABLES = (*(option.env for option in OPTIONS), PASSWORD_ENV, CLIENT_SECRET_ENV)
