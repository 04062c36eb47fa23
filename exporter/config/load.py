"""Settings from command-line flags, the environment and a .env file, validated once at start."""

from __future__ import annotations

import argparse
import enum
import errno
import io
import logging
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from exporter import __version__
from exporter.config.options import (
    ACCOUNTS,
    ACCOUNTS_EXCLUDE,
    API,
    API_KEY,
    API_KEY_FILE,
    AVAILABILITY_OBJECTIVE,
    AVAILABILITY_OBJECTIVES,
    BACKOFF_MAX,
    CLIENT_ID,
    CLIENT_SECRET,
    CLIENT_SECRET_ENV,
    CLIENT_SECRET_FILE,
    CSSU_EVENT_SERIES,
    DEMO,
    DEVICE_REFRESH,
    EVENTS,
    LISTEN_ADDRESS,
    LOG_FORMAT,
    LOG_LEVEL,
    LOGIN_CONCURRENCY,
    OPTIONS,
    PASSWORD,
    PASSWORD_ENV,
    PASSWORD_FILE,
    SHARD_INDEX,
    SHARD_TOTAL,
    SIMULATOR_URL,
    STREAM_TIMEOUT,
    TOKEN_FILE,
    URL,
    USERNAME,
    V1_ONLY,
    V3_ONLY,
    WEB_CONFIG_FILE,
    Count,
    Option,
    Seconds,
    SecretValueError,
)
from exporter.config.settings import (
    DEMO_PASSWORD,
    DEMO_USERNAME,
    PROG,
    ApiVersion,
    ConfigError,
    Notice,
    Settings,
)
from exporter.state.sharding import Shard, index_from_pod_name

DEFAULT_ENV_FILE = Path(".env")
SECRET_FILE_LIMIT = 4096  # bytes; a password or key file is never larger
ENV_FILE_LIMIT = 1024 * 1024  # bytes; a .env file of settings is a few hundred

T = TypeVar("T")


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


def _help(option: Option[Any]) -> str:
    bounds = f"; {option.parse}" if isinstance(option.parse, Seconds | Count) else ""
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
    for option in OPTIONS:
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

    def resolve(self, option: Option[T]) -> T:
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

    def secret(self, direct: Option[Any], file: Option[Any]) -> _Secret | None:
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


def _parse(option: Option[T], value: str, origin: str) -> T:
    try:
        return option.parse(value)
    except ValueError as exc:
        shown = (
            ""
            if option.secret or isinstance(exc, SecretValueError)
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


def _read_secret_file(path: Path, option: Option[Any], origin: str) -> str:
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
    password = sources.secret(PASSWORD, PASSWORD_FILE)
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
    for option in (URL, PASSWORD, PASSWORD_FILE, API_KEY, API_KEY_FILE):
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
        event_codes: tuple[str, ...] = ()  # v3 has no poll-stream events to subscribe
        cssu_event_series = False
    else:
        _not_used(sources, V3_ONLY, api, notices)
        username, password, url = _login(sources, demo, notices)
        api_key = _api_key_setting(sources, notices)
        event_codes = sources.resolve(EVENTS)
        cssu_event_series = sources.resolve(CSSU_EVENT_SERIES)
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
        events=event_codes,
        cssu_event_series=cssu_event_series,
        log_level=sources.resolve(LOG_LEVEL),
        log_format=sources.resolve(LOG_FORMAT),
        demo=demo,
        web_config_file=sources.resolve(WEB_CONFIG_FILE),
        notices=tuple(notices),
        shard=_shard(sources, environ),
        availability_objective=sources.resolve(AVAILABILITY_OBJECTIVE),
        availability_objectives=sources.resolve(AVAILABILITY_OBJECTIVES),
    )


def _not_used(
    sources: _Sources, options: Sequence[Option[Any]], api: ApiVersion, notices: list[Notice]
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
    secret = sources.secret(CLIENT_SECRET, CLIENT_SECRET_FILE)
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
