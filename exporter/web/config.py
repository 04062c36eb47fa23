"""The web configuration file of Prometheus' exporter-toolkit (`--web.config.file`).

The file every Go exporter reads: `tls_server_config`, `http_server_config`, `basic_auth_users`
and `rate_limit`, with the toolkit's key names, defaults and checks. A file a Go exporter
accepts works here unchanged, except for the few settings Python's ssl module cannot express
(exporter.web.tls) and bcrypt hashes this exporter could not use (a cost above
BCRYPT_MAX_COST, a salt the bcrypt library refuses): those are refused naming the key, as is
any key the toolkit does not know. One addition, `auth_excluded_paths` (the name the toolkit's
own proposal for it uses), lets container probes reach /healthz without credentials; Go
exporters reject a file that has it.

The file is parsed once per change: the file and the files it names are stat()ed (at most
twice a second, when a connection or request arrives), and only a change reads them again. A
change that does not load keeps the previous configuration and logs one error.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt

from exporter.config import WEB_CONFIG_FILE, ConfigError
from exporter.web.configfile import Invalid, boolean, keys, parse_yaml, read_text, string, strings
from exporter.web.tls import ClientAuth, TlsSettings, tls_settings, tls_spec

__all__ = ["ClientAuth", "ConfigError", "RateLimit", "TlsSettings", "WebConfig", "WebConfigFile"]

# The name the log lines have always carried (see exporter/web/__init__.py).
log = logging.getLogger("exporter.webconfig")

RECHECK_SECONDS = 0.5  # the files are stat()ed at most this often
EXCLUDABLE_KEY = "auth_excluded_paths"
# The highest bcrypt cost accepted. Each step doubles a check's time: cost 10 (what the toolkit's
# docs and `htpasswd -nBC 10` use) takes ~60 ms on one core, 14 (Caddy's default, the highest any
# common tool writes by default) ~1 s, 16 ~4 s, 31 about a day and a half. A first scrape with a
# new password waits for one check, and Prometheus' default scrape timeout is 10 s.
BCRYPT_MAX_COST = 14
BCRYPT_MIN_COST = 4  # the library's, and Go's, lowest
DEFAULT_COST = 10
_B64 = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"  # bcrypt's alphabet
_BCRYPT = re.compile(r"\$2[aby]\$(\d\d)\$([./A-Za-z0-9]{22})[./A-Za-z0-9]{31}")
# The salt is 16 bytes in 22 characters: the last one carries 2 bits and 4 of padding, which the
# bcrypt library requires to be 0 ("Invalid salt" on every check otherwise). Go ignores them.
_SALT_ENDINGS = frozenset(_B64[::16])  # . O e u

_HEADERS: dict[str, tuple[str, ...]] = {
    "Strict-Transport-Security": (),
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": (),
    "Content-Security-Policy": (),
}
_GO_DURATION = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def decoy_hash(cost: int = DEFAULT_COST) -> bytes:
    """A well-formed hash no password matches (in all likelihood), for unknown user names: a
    comparison with it costs what one with a user's hash of that cost does. No hashing here."""
    digest = "".join(secrets.choice(_B64) for _ in range(31))
    return bcrypt.gensalt(cost) + digest.encode("ascii")


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: `burst` requests at once, then one per `interval` seconds."""

    interval: float
    burst: int


@dataclass(frozen=True)
class WebConfig:
    tls: TlsSettings | None = None
    users: Mapping[str, bytes] = field(default_factory=dict, repr=False)  # name: bcrypt hash
    headers: tuple[tuple[str, str], ...] = ()
    rate_limit: RateLimit | None = None
    auth_excluded_paths: frozenset[str] = frozenset()
    http2: bool = True
    # Compared with when a user name is unknown: the users' (most common) cost.
    decoy: bytes = field(default_factory=decoy_hash, repr=False)
    files: tuple[Path, ...] = ()  # the certificate, key and CA files it names, watched


def load(path: Path, known_paths: Collection[str] = ()) -> WebConfig:
    """Read and check the file; ConfigError naming the file and the key when it does not load."""
    try:
        return _parse(read_text(path), path.parent, known_paths)
    except Invalid as exc:
        raise ConfigError(f"{WEB_CONFIG_FILE.label} {path}: {exc}") from None


def _parse(text: str, directory: Path, known_paths: Collection[str]) -> WebConfig:
    top = keys(
        parse_yaml(text),
        "",
        (
            "tls_server_config",
            "http_server_config",
            "basic_auth_users",
            "rate_limit",
            EXCLUDABLE_KEY,
        ),
    )
    http = keys(top.get("http_server_config"), "http_server_config", ("http2", "headers"))
    users = _users(top.get("basic_auth_users"))
    return WebConfig(
        tls=tls_settings(top.get("tls_server_config"), directory),
        users=users,
        headers=_headers(http.get("headers")),
        rate_limit=_rate_limit(top.get("rate_limit")),
        auth_excluded_paths=_excluded(top.get(EXCLUDABLE_KEY), known_paths),
        http2=boolean(http.get("http2"), "http_server_config.http2", True),
        decoy=decoy_hash(_usual_cost(users.values())),
        files=_named_files(top, directory),
    )


def _named_files(document: Any, directory: Path) -> tuple[Path, ...]:
    section = document.get("tls_server_config") if isinstance(document, dict) else None
    if not isinstance(section, dict):
        return ()
    try:
        return tls_spec(section, directory).files()
    except Invalid:
        return ()


def tls_files(path: Path) -> tuple[Path, ...]:
    """The certificate, key and CA files a web config names (for watching); () if unreadable."""
    try:
        return _named_files(parse_yaml(read_text(path)), path.parent)
    except Invalid:
        return ()


def _users(value: Any) -> dict[str, bytes]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid("basic_auth_users", "must be a mapping of user names to bcrypt hashes")
    users: dict[str, bytes] = {}
    for name, hashed in value.items():
        if isinstance(name, bool) or not isinstance(name, str | int):
            raise Invalid("basic_auth_users", f"user name {name!r} must be a string: quote it")
        # The hash is not echoed: it is a secret in the toolkit's terms.
        users[str(name)] = _bcrypt_hash(hashed, f"basic_auth_users.{name}")
    return users


def _bcrypt_hash(hashed: Any, where: str) -> bytes:
    """A hash the bcrypt library can check in reasonable time, or Invalid saying why."""
    match = _BCRYPT.fullmatch(hashed) if isinstance(hashed, str) else None
    if match is None:
        raise Invalid(where, "not a bcrypt hash ($2a$, $2b$ or $2y$, cost, 53 characters)")
    cost = int(match.group(1))
    if cost < BCRYPT_MIN_COST:
        raise Invalid(where, f"bcrypt cost {cost} is below {BCRYPT_MIN_COST}")
    if cost > BCRYPT_MAX_COST:
        raise Invalid(
            where,
            f"bcrypt cost {cost} is above {BCRYPT_MAX_COST}, the most accepted here (each check "
            f"would take {_check_time(cost)}); hash the password again with cost "
            f"{DEFAULT_COST} to {BCRYPT_MAX_COST}, e.g. htpasswd -nBC {DEFAULT_COST} USER",
        )
    if match.group(2)[-1] not in _SALT_ENDINGS:
        raise Invalid(
            where,
            "the bcrypt salt is malformed (its 22nd character must be one of . O e u, the "
            "bcrypt library refuses it); hash the password again",
        )
    return match.group(0).encode("ascii")


def _check_time(cost: int) -> str:
    """About how long one check of that cost takes on one core (~60 ms at cost 10).

    >>> _check_time(15), _check_time(20), _check_time(24), _check_time(31)
    ('about 2 s', 'about 61 s', 'about 16 min', 'about 1.5 days')
    """
    seconds = 0.06 * 2 ** (cost - DEFAULT_COST)
    if seconds < 120:
        return f"about {seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"about {seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"about {seconds / 86400:.1f} days"
    return f"about {seconds / 86400:.0f} days"


def _usual_cost(hashes: Collection[bytes]) -> int:
    """The cost most users' hashes have (the highest of the most common), for the decoy."""
    costs = Counter(int(hashed[4:6]) for hashed in hashes)
    if not costs:
        return DEFAULT_COST
    return max(costs, key=lambda cost: (costs[cost], cost))


def _headers(value: Any) -> tuple[tuple[str, str], ...]:
    where = "http_server_config.headers"
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise Invalid(where, "must be a mapping")
    headers = []
    for name, text in value.items():
        allowed = _HEADERS.get(name) if isinstance(name, str) else None
        if allowed is None:
            raise Invalid(where, f"HTTP header {name!r} can not be configured")
        header = string(text, f"{where}.{name}")
        if allowed and header not in allowed:
            raise Invalid(f"{where}.{name}", f"must be one of {', '.join(allowed)}; got {header!r}")
        if any(char in header for char in "\r\n\0"):
            raise Invalid(f"{where}.{name}", "must not contain line breaks or NUL")
        if header:  # blank: unset, as in the toolkit
            headers.append((name, header))
    return tuple(headers)


def _rate_limit(value: Any) -> RateLimit | None:
    section = keys(value, "rate_limit", ("burst", "interval"))
    burst = section.get("burst", 0)
    if burst is None:
        burst = 0
    if isinstance(burst, bool) or not isinstance(burst, int):
        raise Invalid("rate_limit.burst", "must be a whole number")
    interval = go_duration(section.get("interval"), "rate_limit.interval")
    # As in Go: an interval of 0 (or below) turns the limiter off.
    return RateLimit(interval, burst) if interval > 0 else None


def go_duration(value: Any, where: str = "duration") -> float:
    """Seconds of a Go duration as YAML gives it: "1m30s", "250ms", or a number of nanoseconds.

    >>> go_duration("1m30s"), go_duration("1.5s"), go_duration(500_000_000), go_duration(None)
    (90.0, 1.5, 0.5, 0.0)
    """
    if value is None:
        return 0.0
    if isinstance(value, int) and not isinstance(value, bool):
        return value / 1e9
    if not isinstance(value, str):
        raise Invalid(where, "must be a duration such as 1s or 500ms")
    text = value.strip()
    sign = -1.0 if text.startswith("-") else 1.0
    text = text.lstrip("+-")
    if text == "0":
        return 0.0
    total, position = 0.0, 0
    for match in _GO_DURATION.finditer(text):
        number = match.group(1)
        if match.start() != position or number in ("", "."):
            break
        total += float(number) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    if position != len(text) or not text:
        raise Invalid(where, f"invalid duration {value!r} (e.g. 1s, 500ms, 1m30s)")
    return sign * total


def _excluded(value: Any, known_paths: Collection[str]) -> frozenset[str]:
    paths = strings(value, EXCLUDABLE_KEY) or []
    for path in paths:
        if known_paths and path not in known_paths:
            raise Invalid(
                EXCLUDABLE_KEY, f"{path!r} is not served here (one of {', '.join(known_paths)})"
            )
    return frozenset(paths)


Signature = tuple[tuple[int, int, int, int] | None, ...]


def _signature(paths: tuple[Path, ...]) -> Signature:
    """What changes when a file is rewritten or replaced (a Kubernetes secret swaps a link)."""
    marks: list[tuple[int, int, int, int] | None] = []
    for path in paths:
        try:
            status = path.stat()
        except OSError:
            marks.append(None)
            continue
        marks.append((status.st_dev, status.st_ino, status.st_mtime_ns, status.st_size))
    return tuple(marks)


class WebConfigFile:
    """The loaded file, reloaded when it or a file it names changes.

    Between changes nothing is read or parsed: a check stat()s the files. A reload runs in the
    thread that noticed the change while the others keep the previous configuration. A reload
    that fails, or that would turn TLS on or off (the listener's protocol is fixed at start),
    keeps the previous configuration and logs one error per failed version.
    """

    def __init__(
        self,
        path: Path,
        known_paths: Collection[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._known_paths = known_paths
        self._clock = clock
        self._lock = threading.Lock()
        mark = _signature((path,))
        self._config = load(path, known_paths)  # ConfigError: the caller exits 2
        self._watched = (path, *self._config.files)
        self._signature = mark + _signature(self._config.files)
        self._checked = clock()
        self.reloads = 0

    def current(self) -> WebConfig:
        now = self._clock()
        if now - self._checked < RECHECK_SECONDS or not self._lock.acquire(blocking=False):
            return self._config  # or another thread is looking: use what is loaded
        try:
            if now - self._checked >= RECHECK_SECONDS:
                self._checked = now
                self._reload_if_changed()
        finally:
            self._lock.release()
        return self._config

    def _reload_if_changed(self) -> None:
        signature = _signature(self._watched)
        if signature == self._signature:
            return
        mark = signature[:1]  # the file's, from before reading it: a later change is seen
        try:
            config = load(self.path, self._known_paths)
        except ConfigError as exc:
            files = tls_files(self.path)  # to try again when one of them changes
            self._watched, self._signature = (self.path, *files), mark + _signature(files)
            log.error("web config not reloaded: keeping the previous one", extra={"reason": exc})
            return
        except Exception as exc:  # noqa: BLE001 - a bug: one line per version, not per request
            self._watched, self._signature = (self.path,), mark
            log.error(
                "web config not reloaded: keeping the previous one",
                extra={"reason": f"{type(exc).__name__}: {exc}", "file": str(self.path)},
            )
            return
        self._watched = (self.path, *config.files)
        self._signature = mark + _signature(config.files)
        if (config.tls is None) != (self._config.tls is None):
            log.error(
                "web config not reloaded: turning TLS on or off needs a restart",
                extra={"file": str(self.path)},
            )
            return
        self._config = config
        self.reloads += 1
        log.info("web config reloaded", extra={"file": str(self.path)})
