"""The web configuration file of Prometheus' exporter-toolkit (`--web.config.file`).

The file every Go exporter reads: `tls_server_config`, `http_server_config`, `basic_auth_users`
and `rate_limit`, with the toolkit's key names, defaults and checks. A file a Go exporter
accepts works here unchanged, except for the few settings Python's ssl module cannot express:
those are refused naming the key, as is any key the toolkit does not know. One addition,
`auth_excluded_paths` (the name the toolkit's own proposal for it uses), lets container probes
reach /healthz without credentials; Go exporters reject a file that has it.

The file and the files it names are watched: a change is picked up by the next connection or
request, and a change that does not load keeps the previous configuration.
"""

from __future__ import annotations

import enum
import ipaddress
import logging
import os
import re
import ssl
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from exporter.config import WEB_CONFIG_FILE, ConfigError

log = logging.getLogger(__name__)

FILE_LIMIT = 1 << 20  # bytes; no web config, certificate or key is this large
RECHECK_SECONDS = 0.5  # the files are stat()ed at most this often
EXCLUDABLE_KEY = "auth_excluded_paths"

_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
# Go's names (crypto/tls CipherSuites(), the only ones the toolkit accepts) to OpenSSL's.
_TLS12_CIPHERS = {
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
}
# TLS 1.3 suites are valid names but, as in Go, not configurable.
_TLS13_CIPHERS = frozenset(
    {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}
)
_CURVES = {
    "CurveP256": "prime256v1",
    "CurveP384": "secp384r1",
    "CurveP521": "secp521r1",
    "X25519": "X25519",
}
# The toolkit lets only these response headers be set, some only to these values.
_HEADERS: dict[str, tuple[str, ...]] = {
    "Strict-Transport-Security": (),
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": (),
    "Content-Security-Policy": (),
}
_BCRYPT = re.compile(r"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")
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


class ClientAuth(enum.Enum):
    """The client_auth_type values Python's ssl module can enforce."""

    NONE = "NoClientCert"
    VERIFY_IF_GIVEN = "VerifyClientCertIfGiven"
    REQUIRE_AND_VERIFY = "RequireAndVerifyClientCert"


# Go's crypto/tls can ask for a certificate and not verify it; Python's ssl cannot.
_UNVERIFIED_CLIENT_AUTH = ("RequestClientCert", "RequireAnyClientCert", "RequireClientCert")


@dataclass(frozen=True)
class TlsSettings:
    context: ssl.SSLContext
    client_auth: ClientAuth
    # When set, a client certificate must carry one of these subject alternative names.
    client_allowed_sans: frozenset[str] | None = None

    def allows(self, peer_certificate: Mapping[str, Any] | None) -> bool:
        """Whether a verified client certificate (getpeercert()) passes client_allowed_sans."""
        if self.client_allowed_sans is None:
            return True
        if not peer_certificate:
            return False
        names = {_san_text(kind, value) for kind, value in peer_certificate["subjectAltName"]}
        return not names.isdisjoint(self.client_allowed_sans)


def _san_text(kind: str, value: str) -> str:
    """A SAN as Go prints it (IPs in their short form), for the exact match the toolkit does."""
    if kind == "IP Address":
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            return value
    return value


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


class _Invalid(Exception):
    """A problem at a place in the file (a dotted key path)."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}" if where else problem)


class _Loader(yaml.SafeLoader):
    """YAML as Go's strict decoding reads it: a key given twice is an error, not a rewrite."""


def _no_duplicates(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def _keys(value: Any, where: str, allowed: Collection[str]) -> dict[str, Any]:
    """A mapping whose keys are all in `allowed`; None (an empty section) is an empty one."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Invalid(where, "must be a mapping")
    for key in value:
        if key not in allowed:
            name = f"{where}.{key}" if where else str(key)
            raise _Invalid("", f"unknown key {name}")
    return value


def _string(value: Any, where: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Invalid(where, "must be a string")
    return str(value)


def _strings(value: Any, where: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise _Invalid(where, "must be a list")
    return [_string(item, f"{where}[{index}]") for index, item in enumerate(value)]


def _boolean(value: Any, where: str, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _Invalid(where, "must be true or false")
    return value


def load(path: Path, known_paths: Collection[str] = ()) -> WebConfig:
    """Read and check the file; ConfigError naming the file and the key when it does not load."""
    try:
        return _parse(_read_text(path), path.parent, known_paths)
    except _Invalid as exc:
        raise ConfigError(f"{WEB_CONFIG_FILE.label} {path}: {exc}") from None


def _read_text(path: Path) -> str:
    data = _read_file(path, "")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _Invalid("", "not UTF-8 text") from None


def _read_file(path: Path, where: str) -> bytes:
    """A regular file's bytes; opened without blocking, so a FIFO named by mistake cannot hang."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise _Invalid(where, f"cannot read {path}: {exc.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _Invalid(where, f"cannot read {path}: not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as file:
            data = file.read(FILE_LIMIT + 1)
    except OSError as exc:
        raise _Invalid(where, f"cannot read {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > FILE_LIMIT:
        raise _Invalid(where, f"{path} is larger than {FILE_LIMIT} bytes")
    return data


def _parse(text: str, directory: Path, known_paths: Collection[str]) -> WebConfig:
    try:
        document = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        place = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise _Invalid("", f"not valid YAML{place}: {problem}") from None
    top = _keys(
        document,
        "",
        (
            "tls_server_config",
            "http_server_config",
            "basic_auth_users",
            "rate_limit",
            EXCLUDABLE_KEY,
        ),
    )
    http = _keys(top.get("http_server_config"), "http_server_config", ("http2", "headers"))
    return WebConfig(
        tls=_tls(top.get("tls_server_config"), directory),
        users=_users(top.get("basic_auth_users")),
        headers=_headers(http.get("headers")),
        rate_limit=_rate_limit(top.get("rate_limit")),
        auth_excluded_paths=_excluded(top.get(EXCLUDABLE_KEY), known_paths),
        http2=_boolean(http.get("http2"), "http_server_config.http2", True),
    )


_TLS_KEYS = (
    "cert",
    "key",
    "client_ca",
    "cert_file",
    "key_file",
    "client_auth_type",
    "client_ca_file",
    "cipher_suites",
    "curve_preferences",
    "min_version",
    "max_version",
    "prefer_server_cipher_suites",
    "client_allowed_sans",
)


@dataclass(frozen=True)
class _TlsSpec:
    """tls_server_config as written, paths resolved against the file's directory."""

    cert: str
    key: str = field(repr=False)
    client_ca: str
    cert_file: Path | None
    key_file: Path | None
    client_ca_file: Path | None
    client_auth_type: str

    @property
    def enabled(self) -> bool:
        """The toolkit's rule: any certificate, key, CA or client auth setting turns TLS on."""
        return bool(
            self.cert
            or self.key
            or self.client_ca
            or self.cert_file
            or self.key_file
            or self.client_ca_file
            or self.client_auth_type
        )

    def files(self) -> tuple[Path, ...]:
        return tuple(p for p in (self.cert_file, self.key_file, self.client_ca_file) if p)


def _tls_spec(section: dict[str, Any], directory: Path) -> _TlsSpec:
    def path(key: str) -> Path | None:
        text = _string(section.get(key), f"tls_server_config.{key}")
        return directory / text if text else None  # an absolute path stays as it is

    return _TlsSpec(
        cert=_string(section.get("cert"), "tls_server_config.cert"),
        key=_string(section.get("key"), "tls_server_config.key"),
        client_ca=_string(section.get("client_ca"), "tls_server_config.client_ca"),
        cert_file=path("cert_file"),
        key_file=path("key_file"),
        client_ca_file=path("client_ca_file"),
        client_auth_type=_string(
            section.get("client_auth_type"), "tls_server_config.client_auth_type"
        ),
    )


def tls_files(path: Path) -> tuple[Path, ...]:
    """The certificate, key and CA files a web config names (for watching); () if unreadable."""
    try:
        document = yaml.load(_read_text(path), Loader=_Loader)  # noqa: S506
    except (_Invalid, yaml.YAMLError):
        return ()
    section = document.get("tls_server_config") if isinstance(document, dict) else None
    if not isinstance(section, dict):
        return ()
    try:
        return _tls_spec(section, path.parent).files()
    except _Invalid:
        return ()


def _tls(value: Any, directory: Path) -> TlsSettings | None:
    section = _keys(value, "tls_server_config", _TLS_KEYS)
    spec = _tls_spec(section, directory)
    if not spec.enabled:
        return None
    if not (spec.cert_file or spec.cert):
        raise _Invalid("tls_server_config", "missing one of cert or cert_file")
    if not (spec.key_file or spec.key):
        raise _Invalid("tls_server_config", "missing one of key or key_file")
    client_auth = _client_auth(spec.client_auth_type)
    has_ca = bool(spec.client_ca_file or spec.client_ca)
    if has_ca and client_auth is ClientAuth.NONE:
        raise _Invalid(
            "tls_server_config",
            "client CA's have been configured without a Client Auth Policy (client_auth_type)",
        )
    sans = _strings(section.get("client_allowed_sans"), "tls_server_config.client_allowed_sans")
    if sans is not None and client_auth is not ClientAuth.REQUIRE_AND_VERIFY:
        raise _Invalid(
            "tls_server_config.client_allowed_sans",
            "requires client_auth_type RequireAndVerifyClientCert",
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.options |= ssl.OP_NO_RENEGOTIATION  # a client could make the server work for free
    context.set_alpn_protocols(["http/1.1"])
    _versions(context, section)
    _certificate(context, spec)
    _client_verification(context, spec, client_auth)
    _ciphers(context, section)
    _curves(context, section)
    prefer = "tls_server_config.prefer_server_cipher_suites"
    if not _boolean(section.get("prefer_server_cipher_suites"), prefer, True):
        context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE  # Python's server default is on
    return TlsSettings(context, client_auth, frozenset(sans) if sans is not None else None)


def _client_auth(name: str) -> ClientAuth:
    where = "tls_server_config.client_auth_type"
    if name == "":
        return ClientAuth.NONE
    if name in _UNVERIFIED_CLIENT_AUTH:
        raise _Invalid(
            where,
            f"{name} is not supported: Python's ssl module cannot ask for a client certificate "
            "without verifying it; use VerifyClientCertIfGiven or RequireAndVerifyClientCert "
            "with client_ca_file",
        )
    try:
        return ClientAuth(name)
    except ValueError:
        raise _Invalid(where, f"invalid ClientAuth: {name}") from None


def _versions(context: ssl.SSLContext, section: dict[str, Any]) -> None:
    def version(key: str, default: str) -> ssl.TLSVersion:
        name = _string(section.get(key), f"tls_server_config.{key}") or default
        if name not in _VERSIONS:
            raise _Invalid(
                f"tls_server_config.{key}",
                f"unknown TLS version: {name} (TLS10, TLS11, TLS12 or TLS13)",
            )
        return _VERSIONS[name]

    low, high = version("min_version", "TLS12"), version("max_version", "TLS13")
    if low > high:
        raise _Invalid("tls_server_config", "min_version is above max_version")
    context.minimum_version, context.maximum_version = low, high


def _certificate(context: ssl.SSLContext, spec: _TlsSpec) -> None:
    """Load the server's certificate chain and key; inline PEM goes through private temp files
    (Python's ssl loads them from files only), removed at once."""
    with tempfile.TemporaryDirectory(prefix="een-web-") as private:
        cert_file = spec.cert_file or _write(Path(private) / "cert.pem", spec.cert)
        key_file = spec.key_file or _write(Path(private) / "key.pem", spec.key)
        for where, path in (("cert_file", cert_file), ("key_file", key_file)):
            _read_file(path, f"tls_server_config.{where}")  # one clear error per file
        try:
            context.load_cert_chain(cert_file, key_file, password=_no_password)
        except (ssl.SSLError, _EncryptedKey) as exc:
            reason = "the key is encrypted" if isinstance(exc, _EncryptedKey) else _reason(exc)
            raise _Invalid(
                "tls_server_config", f"failed to load the certificate and key: {reason}"
            ) from None


class _EncryptedKey(Exception):
    pass


def _no_password() -> str:
    """Go's toolkit does not decrypt keys either; without this, OpenSSL would prompt on a tty."""
    raise _EncryptedKey


def _write(path: Path, text: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    return path


def _reason(exc: ssl.SSLError) -> str:
    return str(exc.reason or exc.strerror or exc).lower().replace("_", " ")


def _client_verification(context: ssl.SSLContext, spec: _TlsSpec, client_auth: ClientAuth) -> None:
    if client_auth is ClientAuth.NONE:
        context.verify_mode = ssl.CERT_NONE
        return
    context.verify_mode = (
        ssl.CERT_REQUIRED if client_auth is ClientAuth.REQUIRE_AND_VERIFY else ssl.CERT_OPTIONAL
    )
    try:
        if spec.client_ca_file:
            _read_file(spec.client_ca_file, "tls_server_config.client_ca_file")
            context.load_verify_locations(cafile=spec.client_ca_file)
        elif spec.client_ca:
            context.load_verify_locations(cadata=spec.client_ca)
        else:  # as Go: without a client CA, the system's roots verify client certificates
            context.load_default_certs(ssl.Purpose.CLIENT_AUTH)
    except (ssl.SSLError, ValueError) as exc:
        where = "client_ca_file" if spec.client_ca_file else "client_ca"
        reason = _reason(exc) if isinstance(exc, ssl.SSLError) else str(exc)
        raise _Invalid(
            f"tls_server_config.{where}", f"no CA certificate loaded: {reason}"
        ) from None


def _ciphers(context: ssl.SSLContext, section: dict[str, Any]) -> None:
    where = "tls_server_config.cipher_suites"
    names = _strings(section.get("cipher_suites"), where)
    if not names:
        return
    for name in names:
        if name not in _TLS12_CIPHERS and name not in _TLS13_CIPHERS:
            raise _Invalid(where, f"unknown cipher: {name}")
    openssl = [_TLS12_CIPHERS[name] for name in names if name in _TLS12_CIPHERS]
    if not openssl:
        # Only TLS 1.3 suites listed: as in Go, no TLS 1.2 handshake can succeed.
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        return
    try:
        context.set_ciphers(":".join(openssl))
    except ssl.SSLError:
        raise _Invalid(where, "OpenSSL here offers none of these cipher suites") from None


def _curves(context: ssl.SSLContext, section: dict[str, Any]) -> None:
    where = "tls_server_config.curve_preferences"
    names = _strings(section.get("curve_preferences"), where)
    if not names:
        return
    for name in names:
        if name not in _CURVES:
            raise _Invalid(where, f"unknown curve: {name}")
    if len(set(names)) > 1:
        raise _Invalid(
            where,
            "more than one curve is not supported: Python's ssl module sets a single curve; "
            "list one, or leave the key out for OpenSSL's defaults (X25519, P-256, P-384, P-521)",
        )
    context.set_ecdh_curve(_CURVES[names[0]])


def _users(value: Any) -> dict[str, bytes]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Invalid("basic_auth_users", "must be a mapping of user names to bcrypt hashes")
    users: dict[str, bytes] = {}
    for name, hashed in value.items():
        if isinstance(name, bool) or not isinstance(name, str | int):
            raise _Invalid("basic_auth_users", f"user name {name!r} must be a string: quote it")
        # The hash is not echoed: it is a secret in the toolkit's terms.
        where = f"basic_auth_users.{name}"
        if not isinstance(hashed, str) or not _BCRYPT.fullmatch(hashed):
            raise _Invalid(where, "not a bcrypt hash ($2a$, $2b$ or $2y$, cost, 53 characters)")
        cost = int(_BCRYPT.fullmatch(hashed).group(1))  # type: ignore[union-attr]
        if not 4 <= cost <= 31:
            raise _Invalid(where, f"bcrypt cost {cost} is outside 4 to 31")
        users[str(name)] = hashed.encode("ascii")
    return users


def _headers(value: Any) -> tuple[tuple[str, str], ...]:
    where = "http_server_config.headers"
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise _Invalid(where, "must be a mapping")
    headers = []
    for name, text in value.items():
        allowed = _HEADERS.get(name) if isinstance(name, str) else None
        if allowed is None:
            raise _Invalid(where, f"HTTP header {name!r} can not be configured")
        header = _string(text, f"{where}.{name}")
        if allowed and header not in allowed:
            raise _Invalid(
                f"{where}.{name}", f"must be one of {', '.join(allowed)}; got {header!r}"
            )
        if any(char in header for char in "\r\n\0"):
            raise _Invalid(f"{where}.{name}", "must not contain line breaks or NUL")
        if header:  # blank: unset, as in the toolkit
            headers.append((name, header))
    return tuple(headers)


def _rate_limit(value: Any) -> RateLimit | None:
    section = _keys(value, "rate_limit", ("burst", "interval"))
    burst = section.get("burst", 0)
    if burst is None:
        burst = 0
    if isinstance(burst, bool) or not isinstance(burst, int):
        raise _Invalid("rate_limit.burst", "must be a whole number")
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
        raise _Invalid(where, "must be a duration such as 1s or 500ms")
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
        raise _Invalid(where, f"invalid duration {value!r} (e.g. 1s, 500ms, 1m30s)")
    return sign * total


def _excluded(value: Any, known_paths: Collection[str]) -> frozenset[str]:
    paths = _strings(value, EXCLUDABLE_KEY) or []
    for path in paths:
        if known_paths and path not in known_paths:
            raise _Invalid(
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

    A reload that fails, or that would turn TLS on or off (the listener's protocol is fixed at
    start), keeps the previous configuration and logs one error per failed version.
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
        self._watched = (path, *tls_files(path))
        self._signature = _signature(self._watched)
        self._config = load(path, known_paths)  # ConfigError: the caller exits 2
        self._checked = clock()
        self.reloads = 0

    def current(self) -> WebConfig:
        now = self._clock()
        if now - self._checked < RECHECK_SECONDS:
            return self._config
        with self._lock:
            if now - self._checked >= RECHECK_SECONDS:
                self._checked = now
                self._reload_if_changed()
            return self._config

    def _reload_if_changed(self) -> None:
        watched = (self.path, *tls_files(self.path))
        signature = _signature(watched)
        if watched == self._watched and signature == self._signature:
            return
        self._watched, self._signature = watched, signature
        try:
            config = load(self.path, self._known_paths)
        except ConfigError as exc:
            log.error("web config not reloaded: keeping the previous one", extra={"reason": exc})
            return
        if (config.tls is None) != (self._config.tls is None):
            log.error(
                "web config not reloaded: turning TLS on or off needs a restart",
                extra={"file": str(self.path)},
            )
            return
        self._config = config
        self.reloads += 1
        log.info("web config reloaded", extra={"file": str(self.path)})
