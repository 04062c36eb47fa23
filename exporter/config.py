"""Settings from command-line flags, the environment and a .env file, validated once at start."""

from __future__ import annotations

import argparse
import enum
import errno
import io
import logging
import math
import os
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, NoReturn, TypeVar
from urllib.parse import urlsplit, urlunsplit

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from exporter import __version__
from exporter.een import events
from exporter.sharding import AUTO, MAX_SHARDS, Shard, index_from_pod_name

PROG = "een-exporter"
DEFAULT_URL = "https://login.eagleeyenetworks.com"
DEFAULT_ENV_FILE = Path(".env")
DEMO_USERNAME = "demo@example.com"  # the simulator's published demo login
DEMO_PASSWORD = "demo"  # noqa: S105
SECRET_FILE_LIMIT = 4096  # bytes; a password or key file is never larger
ENV_FILE_LIMIT = 1024 * 1024  # bytes; a .env file of settings is a few hundred

T = TypeVar("T")


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


class _SecretValueError(ValueError):
    """A parse failure whose input must not be repeated in the error (it may hold a secret)."""


def _text(value: str) -> str:
    return value.strip()


def _api_key(value: str) -> str | None:
    key = value.strip()
    if not all(" " <= char <= "~" for char in key):
        # It is sent as a header: anything else fails in the HTTP client (with the whole value
        # in the exception) or is encoded differently by the REST and the WebSocket client.
        raise _SecretValueError("must be printable ASCII (no control or non-ASCII characters)")
    return key or None


def _url(value: str) -> str:
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        raise ValueError("must be an http or https URL with a host") from None
    if parts.username is not None or parts.password is not None:
        raise _SecretValueError("must not contain a user name or password")
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
class _Seconds:
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
class _Count:
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
class _Option(Generic[T]):
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


USERNAME = _Option(
    "EEN_USERNAME",
    "--een.username",
    "EMAIL",
    "login e-mail of an EEN user without two-factor authentication; required unless --demo",
    "",
    _text,
)
PASSWORD_FILE = _Option(
    "EEN_PASSWORD_FILE",
    "--een.password-file",
    "FILE",
    "file holding the password; or put the password itself in env EEN_PASSWORD",
    "",
    _text,
)
API_KEY = _Option(
    "EEN_API_KEY",
    "--een.api-key",
    "KEY",
    "optional API key, sent as the Authorization header; printable ASCII. The flag is "
    "deprecated (it shows the key in the process list): use the env or --een.api-key-file",
    "",
    _api_key,
    secret=True,
)
API_KEY_FILE = _Option(
    "EEN_API_KEY_FILE",
    "--een.api-key-file",
    "FILE",
    "file holding the API key (trailing newline ignored), instead of EEN_API_KEY",
    "",
    _text,
)
URL = _Option(
    "EEN_URL",
    "--een.url",
    "URL",
    "login host; with the default, later calls go to the account's "
    "https://<brand>.eagleeyenetworks.com host, with any other value (simulator, proxy) "
    "every call stays on it",
    DEFAULT_URL,
    _url,
)
SIMULATOR_URL = _Option(
    "EEN_SIMULATOR_URL",
    "--een.simulator-url",
    "URL",
    f"a running een-sim, watched with its demo login ({DEMO_USERNAME}) when EEN_USERNAME is "
    "not set; no other login is ever sent to it (docker-compose.yml sets it)",
    "",
    _optional_url,
)
ACCOUNTS = _Option(
    "EEN_ACCOUNTS",
    "--een.accounts",
    "IDS",
    "comma-separated account ids to monitor; empty = every account the login can see",
    "",
    _account_ids,
)
ACCOUNTS_EXCLUDE = _Option(
    "EEN_ACCOUNTS_EXCLUDE",
    "--een.accounts-exclude",
    "IDS",
    "comma-separated account ids to skip",
    "",
    _account_ids,
)
LISTEN_ADDRESS = _Option(
    "EEN_LISTEN_ADDRESS",
    "--web.listen-address",
    "HOST:PORT",
    "where /metrics is served; an empty host = all interfaces, port 0 = any free port",
    ":9877",
    _listen_address,
)
WEB_CONFIG_FILE = _Option(
    "EEN_WEB_CONFIG_FILE",
    "--web.config.file",
    "FILE",
    "Prometheus exporter-toolkit web configuration (TLS, basic auth, headers), the file Go "
    "exporters read; re-read when it changes",
    "",
    _optional_path,
)
DEVICE_REFRESH = _Option(
    "EEN_DEVICE_REFRESH_SECONDS",
    "--een.device-refresh",
    "SECONDS",
    "how often the account list and each account's camera and bridge list are read again",
    "300",
    _Seconds(10, 86_400),
)
LOGIN_CONCURRENCY = _Option(
    "EEN_LOGIN_CONCURRENCY",
    "--een.login-concurrency",
    "N",
    "most session setups (login, device list, stream handshake) in flight at once",
    "4",
    _Count(1, 64),
)
STREAM_TIMEOUT = _Option(
    "EEN_STREAM_TIMEOUT_SECONDS",
    "--een.stream-timeout",
    "SECONDS",
    "reconnect a stream that has received nothing (not even a pong) for this long",
    "60",
    _Seconds(5, 3_600),
)
BACKOFF_MAX = _Option(
    "EEN_BACKOFF_MAX_SECONDS",
    "--een.backoff-max",
    "SECONDS",
    "longest wait between reconnect attempts",
    "60",
    _Seconds(1, 3_600),
)
EVENTS = _Option(
    "EEN_EVENTS",
    "--een.events",
    "CODES",
    "comma-separated four-letter poll-stream event codes to subscribe each camera or bridge "
    "to (see README: Events), or none",
    ",".join(events.DEFAULT),
    _event_codes,
)
LOG_LEVEL = _Option(
    "EEN_LOG_LEVEL", "--log.level", "LEVEL", "debug, info, warning or error", "info", _log_level
)
LOG_FORMAT = _Option(
    "EEN_LOG_FORMAT", "--log.format", "FORMAT", "logfmt or json", "logfmt", _log_format
)
DEMO = _Option(
    "EEN_DEMO",
    "--demo",
    "",
    "run against a built-in simulated EEN cloud; no credentials needed",
    "false",
    _boolean,
)
SHARD_INDEX = _Option(
    "EEN_SHARD_INDEX",
    "--shard.index",
    "N|auto",
    "this replica's shard, 0 to total-1; auto = the N of a StatefulSet pod name ending "
    "in -N (from POD_NAME or HOSTNAME)",
    "0",
    _shard_index,
)
SHARD_TOTAL = _Option(
    "EEN_SHARD_TOTAL",
    "--shard.total",
    "N",
    "how many replicas share the accounts; each monitors those whose id hashes to its index",
    "1",
    _Count(1, MAX_SHARDS),
)
API = _Option(
    "EEN_API",
    "--een.api",
    "v1|v3",
    "which EEN API to use: v1 (user name and password) or v3 (OAuth client and a token file "
    "from `een-exporter login`; see README: Using API v3)",
    "v1",
    _api_version,
)
CLIENT_ID = _Option(
    "EEN_CLIENT_ID",
    "--een.client-id",
    "ID",
    "API v3: the application's client id from EEN's developer portal",
    "",
    _text,
)
CLIENT_SECRET_FILE = _Option(
    "EEN_CLIENT_SECRET_FILE",
    "--een.client-secret-file",
    "FILE",
    "API v3: file holding the client secret; or put the secret itself in env EEN_CLIENT_SECRET",
    "",
    _text,
)
TOKEN_FILE = _Option(
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
_PASSWORD = _Option(PASSWORD_ENV, "", "", "", "", _text, secret=True)
CLIENT_SECRET_ENV = "EEN_CLIENT_SECRET"  # noqa: S105 - a variable name, not a secret
_CLIENT_SECRET = _Option(CLIENT_SECRET_ENV, "", "", "", "", _text, secret=True)
V1_ONLY = (USERNAME, _PASSWORD, PASSWORD_FILE, API_KEY, API_KEY_FILE)
V3_ONLY = (CLIENT_ID, _CLIENT_SECRET, CLIENT_SECRET_FILE, TOKEN_FILE)

_OPTIONS: tuple[_Option[Any], ...] = (
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
ENVIRONMENT_VARIABLES = (*(option.env for option in _OPTIONS), PASSWORD_ENV, CLIENT_SECRET_ENV)

_EPILOG = f"""\
Every setting can also come from its environment variable or from a .env file (--env-file,
default ./.env when it exists; --demo ignores ./.env unless --env-file names it). Flags win
over the environment, the environment over the .env file, the .env file over defaults; an
empty value counts as unset.

The password comes from {PASSWORD_ENV}, or from the file named by {PASSWORD_FILE.env} /
{PASSWORD_FILE.flag}: a regular file of at most {SECRET_FILE_LIMIT} bytes, its trailing
newline ignored. There is deliberately no password flag, so the password never shows in the
process list; for the same reason prefer {API_KEY.env} or {API_KEY_FILE.flag} to {API_KEY.flag}.
With {API.env}=v3 the client secret comes the same way from {CLIENT_SECRET_ENV} or
{CLIENT_SECRET_FILE.env} / {CLIENT_SECRET_FILE.flag}; the v1 login settings are not used."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """Exit 2 with one line (argparse would print the whole usage first)."""
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _help(option: _Option[Any]) -> str:
    bounds = f"; {option.parse}" if isinstance(option.parse, _Seconds | _Count) else ""
    default = f", default {option.default}" if option.default not in ("", "false") else ""
    return f"{option.help}{bounds} (env {option.env}{default})".replace("%", "%%")


def _build_parser() -> _Parser:
    parser = _Parser(
        prog=PROG,
        description="Prometheus exporter for Eagle Eye Networks cloud cameras and bridges.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "--env-file",
        metavar="PATH",
        type=Path,
        help="read settings from this .env file (default ./.env when it exists, but not with "
        "--demo)",
    )
    for option in _OPTIONS:
        if option is DEMO:
            parser.add_argument(
                option.flag, dest=option.env, action="store_true", default=None, help=_help(option)
            )
            continue
        parser.add_argument(
            option.flag, dest=option.env, metavar=option.metavar, help=_help(option)
        )
    return parser


def _parse_flags(argv: Sequence[str]) -> tuple[argparse.Namespace, Path | None]:
    parser = _build_parser()
    namespace, unknown = parser.parse_known_args(list(argv))
    flags = [arg.split("=", 1)[0] for arg in unknown if arg.startswith("-")]
    if flags:
        hint = ""
        if any(flag.startswith("--een.password") for flag in flags):
            hint = f"; there is no password flag: use {PASSWORD_ENV} or {PASSWORD_FILE.flag}"
        parser.error(f"unknown flag {', '.join(flags)}{hint}")
    if unknown:
        # Not echoed: a stray word after a mistyped flag may be a password.
        parser.error("unexpected argument; every setting is a --flag")
    env_file: Path | None = namespace.env_file
    del namespace.env_file
    return namespace, env_file


class _Where(enum.Enum):
    FLAG = "flag"
    ENVIRONMENT = "environment"
    ENV_FILE = ".env file"


@dataclass(frozen=True)
class _Layer:
    """One source of settings keyed by environment variable name, flags included."""

    where: _Where
    values: Mapping[str, str | None]
    env_file: Path | None = None

    def get(self, env: str) -> str | None:
        value = self.values.get(env)
        return value if value and value.strip() else None

    def origin(self, env: str, flag: str) -> str:
        if self.where is _Where.FLAG:
            return flag
        if self.where is _Where.ENVIRONMENT:
            return env
        return f"{env} in {self.env_file}"


def _read_regular_file(path: Path, limit: int) -> bytes:
    """At most `limit` + 1 bytes of the regular file at `path`; OSError (strerror says why).

    Opened without blocking and checked before reading, so a FIFO or a device named by
    mistake is an error instead of a silent hang or an endless read.
    """
    if "\0" in str(path):  # os.open would raise ValueError; a .env file can hold a NUL
        raise OSError(errno.EINVAL, "a file name cannot hold a NUL character")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as file:
            return file.read(limit + 1)
    finally:
        os.close(fd)


def _read_env_file(explicit: Path | None) -> _Layer:
    path = explicit or DEFAULT_ENV_FILE
    if explicit is None and not path.exists():
        return _Layer(_Where.ENV_FILE, {}, path)
    try:
        data = _read_regular_file(path, ENV_FILE_LIMIT)
    except FileNotFoundError:
        raise ConfigError(f"--env-file {path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"--env-file {path}: cannot read it: {exc.strerror}") from None
    if len(data) > ENV_FILE_LIMIT:
        raise ConfigError(f"--env-file {path}: larger than {ENV_FILE_LIMIT} bytes")
    try:
        # newline=None: \r\n and \r read as \n, as open() reads them
        text = io.StringIO(data.decode("utf-8"), newline=None).read()
    except UnicodeDecodeError:
        raise ConfigError(f"--env-file {path}: not UTF-8 text") from None
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            # The line is not quoted back: it may hold the password.
            raise ConfigError(f"{path} line {binding.original.line}: not a KEY=VALUE line")
    return _Layer(_Where.ENV_FILE, dotenv_values(stream=io.StringIO(text), interpolate=False), path)


class _Sources:
    """Flags, then the process environment, then the .env file."""

    def __init__(self, flags: argparse.Namespace, environ: Mapping[str, str], env_file: _Layer):
        flag_values = {
            env: "true" if value is True else value for env, value in vars(flags).items()
        }
        self.layers = (
            _Layer(_Where.FLAG, flag_values),
            _Layer(_Where.ENVIRONMENT, environ),
            env_file,
        )

    def resolve(self, option: _Option[T]) -> T:
        for layer in self.layers:
            value = layer.get(option.env)
            if value is not None:
                return _parse(option, value, layer.origin(option.env, option.flag))
        return option.parse(option.default)

    def origin(self, env: str, flag: str = "") -> str | None:
        """Where `env` (or its flag) is set, if anywhere."""
        for layer in self.layers:
            if layer.get(env) is not None:
                return layer.origin(env, flag)
        return None

    def secret(self, direct: _Option[Any], file: _Option[Any]) -> _Secret | None:
        """A secret given directly or as a file name, from the first layer that has either."""
        for layer in self.layers:
            value, file_name = layer.get(direct.env), layer.get(file.env)
            if value is not None and file_name is not None:
                place = " in the environment" if layer.where is _Where.ENVIRONMENT else ""
                raise ConfigError(
                    f"{layer.origin(direct.env, direct.flag)} and "
                    f"{layer.origin(file.env, file.flag)} are both set{place}; set only one"
                )
            if file_name is not None:
                origin = layer.origin(file.env, file.flag)
                text = _read_secret_file(Path(file_name.strip()), file, origin)
                return _Secret(text, origin, from_file=True)
            if value is not None:
                return _Secret(value, layer.origin(direct.env, direct.flag), from_file=False)
        return None


@dataclass(frozen=True)
class _Secret:
    value: str = field(repr=False)
    origin: str
    from_file: bool


def _parse(option: _Option[T], value: str, origin: str) -> T:
    try:
        return option.parse(value)
    except ValueError as exc:
        shown = (
            ""
            if option.secret or isinstance(exc, _SecretValueError)
            else f"; got {shown_value(value.strip())}"
        )
        raise ConfigError(f"{option.label} {exc}{shown} (from {origin})") from None


SHOWN_LIMIT = 60  # characters of a bad value an error message repeats


def shown_value(value: str) -> str:
    """A bad value for an error message: quoted, and cut short when long.

    >>> shown_value("9877"), shown_value("9" * 5000)[-20:]
    ("'9877'", "'… (5000 characters)")
    """
    if len(value) <= SHOWN_LIMIT:
        return repr(value)
    return f"{value[:SHOWN_LIMIT]!r}… ({len(value)} characters)"


def _read_secret_file(path: Path, option: _Option[Any], origin: str) -> str:
    """The file's text without its trailing newline: a small regular UTF-8 file, not empty."""
    where = f"(from {origin})"
    try:
        data = _read_regular_file(path, SECRET_FILE_LIMIT)
    except OSError as exc:
        raise ConfigError(f"{option.label}: cannot read {path}: {exc.strerror} {where}") from None
    if len(data) > SECRET_FILE_LIMIT:
        raise ConfigError(
            f"{option.label}: {path} is larger than {SECRET_FILE_LIMIT} bytes {where}"
        )
    try:
        text = data.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise ConfigError(f"{option.label}: {path} is not UTF-8 text {where}") from None
    if not text:
        raise ConfigError(f"{option.label}: {path} is empty {where}")
    return text


def _sources(
    flags: argparse.Namespace, environ: Mapping[str, str], env_file: Path | None
) -> tuple[_Sources, list[Notice]]:
    """The settings' sources; demo mode leaves out ./.env, which is meant for a real login."""
    without_file = _Sources(flags, environ, _Layer(_Where.ENV_FILE, {}))
    if env_file is not None or not without_file.resolve(DEMO):
        return _Sources(flags, environ, _read_env_file(env_file)), []
    if not DEFAULT_ENV_FILE.exists():
        return without_file, []
    notice = Notice(
        logging.INFO,
        f"demo mode ignores {DEFAULT_ENV_FILE} (pass --env-file {DEFAULT_ENV_FILE} to use it)",
    )
    return without_file, [notice]


def _api_key_setting(sources: _Sources, notices: list[Notice]) -> str | None:
    secret = sources.secret(API_KEY, API_KEY_FILE)
    if secret is None:
        return None
    if secret.origin == API_KEY.flag:
        notices.append(
            Notice(
                logging.WARNING,
                f"{API_KEY.flag} is deprecated: it shows the key in the process list; "
                f"use {API_KEY.env} or {API_KEY_FILE.flag}",
            )
        )
    if not secret.from_file:
        return _parse(API_KEY, secret.value, secret.origin)
    try:
        return API_KEY.parse(secret.value)
    except ValueError as exc:
        raise ConfigError(
            f"{API_KEY_FILE.label}: the key in the file {exc} (from {secret.origin})"
        ) from None


def _login(sources: _Sources, demo: bool, notices: list[Notice]) -> tuple[str, str, str]:
    """(username, password, url): as configured, or the simulator's demo login."""
    username = sources.resolve(USERNAME)
    simulator_url = sources.resolve(SIMULATOR_URL)
    if not username and not demo and simulator_url is not None:
        _refuse_credentials_without_username(sources, simulator_url)
        notices.append(
            Notice(logging.INFO, f"no {USERNAME.env}: watching the simulator with its demo login")
        )
        return DEMO_USERNAME, DEMO_PASSWORD, simulator_url
    if not username and not demo:
        raise ConfigError(f"{USERNAME.label} is required (or run with --demo)")
    password = sources.secret(_PASSWORD, PASSWORD_FILE)
    if password is None and not demo:
        raise ConfigError(
            f"a password is required: set {PASSWORD_ENV}, or {PASSWORD_FILE.label} "
            "(or run with --demo)"
        )
    url = sources.resolve(URL)
    is_simulator = simulator_url is not None and url.casefold() == simulator_url.casefold()
    if is_simulator and not demo and username.casefold() != DEMO_USERNAME:
        raise ConfigError(
            f"{URL.label} is the simulator's ({SIMULATOR_URL.env}), which gets no login but "
            f"its demo one, {DEMO_USERNAME}; leave {URL.env} unset to watch the EEN cloud "
            f"(from {sources.origin(URL.env, URL.flag)})"
        )
    return username, password.value if password else "", url


def _refuse_credentials_without_username(sources: _Sources, simulator_url: str) -> None:
    """Without a username the simulator is watched: anything meant for EEN must not go there."""
    for option in (URL, _PASSWORD, PASSWORD_FILE, API_KEY, API_KEY_FILE):
        origin = sources.origin(option.env, option.flag)
        if origin is not None:
            raise ConfigError(
                f"{USERNAME.label} is required when {option.env} is set (from {origin}); "
                f"without a username the exporter watches the simulator at {simulator_url} "
                f"({SIMULATOR_URL.env}) with its demo login"
            )


def load_settings(argv: Sequence[str], environ: Mapping[str, str]) -> Settings:
    """Parse and validate every setting; raise ConfigError naming the first bad one.

    argparse's own failures (unknown flag, missing value) print one line and exit 2;
    --help and --version print and exit 0.
    """
    flags, env_file = _parse_flags(argv)
    sources, notices = _sources(flags, environ, env_file)
    demo = sources.resolve(DEMO)
    api = sources.resolve(API)
    client_id, client_secret, token_file, api_key = "", "", None, None
    if api is ApiVersion.V3:
        _not_used(sources, V1_ONLY, api, notices)
        username, password, url = "", "", sources.resolve(URL)
        client_id, client_secret, token_file = _v3_client(sources, demo)
    else:
        _not_used(sources, V3_ONLY, api, notices)
        username, password, url = _login(sources, demo, notices)
        api_key = _api_key_setting(sources, notices)
    listen_host, listen_port = sources.resolve(LISTEN_ADDRESS)
    return Settings(
        api=api,
        client_id=client_id,
        client_secret=client_secret,
        token_file=token_file,
        username=username,
        password=password,
        api_key=api_key,
        url=url,
        accounts=sources.resolve(ACCOUNTS),
        accounts_exclude=sources.resolve(ACCOUNTS_EXCLUDE),
        listen_host=listen_host,
        listen_port=listen_port,
        device_refresh_seconds=sources.resolve(DEVICE_REFRESH),
        login_concurrency=sources.resolve(LOGIN_CONCURRENCY),
        stream_timeout_seconds=sources.resolve(STREAM_TIMEOUT),
        backoff_max_seconds=sources.resolve(BACKOFF_MAX),
        events=sources.resolve(EVENTS),
        log_level=sources.resolve(LOG_LEVEL),
        log_format=sources.resolve(LOG_FORMAT),
        demo=demo,
        web_config_file=sources.resolve(WEB_CONFIG_FILE),
        notices=tuple(notices),
        shard=_shard(sources, environ),
    )


def _not_used(
    sources: _Sources, options: Sequence[_Option[Any]], api: ApiVersion, notices: list[Notice]
) -> None:
    """Settings of the other API are ignored, with one warning naming them (not their values)."""
    names = [o.env for o in options if sources.origin(o.env, o.flag) is not None]
    if names:
        verb = "is" if len(names) == 1 else "are"
        notices.append(
            Notice(
                logging.WARNING, f"{', '.join(names)} {verb} not used with {API.env}={api.value}"
            )
        )


def _v3_client(sources: _Sources, demo: bool) -> tuple[str, str, Path | None]:
    """(client id, client secret, token file) for API v3; demo mode brings its own."""
    client_id = sources.resolve(CLIENT_ID)
    secret = sources.secret(_CLIENT_SECRET, CLIENT_SECRET_FILE)
    token_file = sources.resolve(TOKEN_FILE)
    if demo:
        return client_id, "", token_file
    if not client_id:
        raise ConfigError(f"{CLIENT_ID.label} is required with {API.env}=v3 (or run with --demo)")
    if secret is None:
        raise ConfigError(
            f"a client secret is required with {API.env}=v3: set {CLIENT_SECRET_ENV}, or "
            f"{CLIENT_SECRET_FILE.label}"
        )
    value = secret.value.strip()
    if not value or not all(" " <= char <= "~" for char in value):
        # Not quoted back: it is the secret.
        raise ConfigError(
            f"the client secret must be printable ASCII, not empty (from {secret.origin})"
        )
    if token_file is None:
        raise ConfigError(
            f"{TOKEN_FILE.label} is required with {API.env}=v3: run `{PROG} login` once to "
            "create it (see README: Using API v3)"
        )
    return client_id, value, token_file


def _shard(sources: _Sources, environ: Mapping[str, str]) -> Shard:
    total = sources.resolve(SHARD_TOTAL)
    index = sources.resolve(SHARD_INDEX)
    where = ""
    if index is None:
        try:
            index = index_from_pod_name(environ)
        except ValueError as exc:
            raise ConfigError(f"{SHARD_INDEX.label} {exc}") from None
        where = " (the pod name's ordinal)"
    if index >= total:
        raise ConfigError(
            f"{SHARD_INDEX.label} must be less than {SHARD_TOTAL.label} ({total}); "
            f"got {index}{where}"
        )
    return Shard(index, total)
