"""The web config's `tls_server_config`: the toolkit's keys, checks and defaults, as an
`ssl.SSLContext` for the server. Refused, naming the key: what Python's ssl module cannot do
(a client certificate asked for but not verified; more than one curve)."""

from __future__ import annotations

import enum
import ipaddress
import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exporter.web.configfile import Invalid, boolean, keys, read_file, string, strings

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
class TlsSpec:
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


def tls_spec(section: dict[str, Any], directory: Path) -> TlsSpec:
    def path(key: str) -> Path | None:
        text = string(section.get(key), f"tls_server_config.{key}")
        return directory / text if text else None  # an absolute path stays as it is

    return TlsSpec(
        cert=string(section.get("cert"), "tls_server_config.cert"),
        key=string(section.get("key"), "tls_server_config.key"),
        client_ca=string(section.get("client_ca"), "tls_server_config.client_ca"),
        cert_file=path("cert_file"),
        key_file=path("key_file"),
        client_ca_file=path("client_ca_file"),
        client_auth_type=string(
            section.get("client_auth_type"), "tls_server_config.client_auth_type"
        ),
    )


def tls_settings(value: Any, directory: Path) -> TlsSettings | None:
    """The section checked and loaded; None when it does not turn TLS on."""
    section = keys(value, "tls_server_config", _TLS_KEYS)
    spec = tls_spec(section, directory)
    if not spec.enabled:
        return None
    if not (spec.cert_file or spec.cert):
        raise Invalid("tls_server_config", "missing one of cert or cert_file")
    if not (spec.key_file or spec.key):
        raise Invalid("tls_server_config", "missing one of key or key_file")
    client_auth = _client_auth(spec.client_auth_type)
    has_ca = bool(spec.client_ca_file or spec.client_ca)
    if has_ca and client_auth is ClientAuth.NONE:
        raise Invalid(
            "tls_server_config",
            "client CA's have been configured without a Client Auth Policy (client_auth_type)",
        )
    sans = strings(section.get("client_allowed_sans"), "tls_server_config.client_allowed_sans")
    if sans is not None and client_auth is not ClientAuth.REQUIRE_AND_VERIFY:
        raise Invalid(
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
    if not boolean(section.get("prefer_server_cipher_suites"), prefer, True):
        context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE  # Python's server default is on
    return TlsSettings(context, client_auth, frozenset(sans) if sans is not None else None)


def _client_auth(name: str) -> ClientAuth:
    where = "tls_server_config.client_auth_type"
    if name == "":
        return ClientAuth.NONE
    if name in _UNVERIFIED_CLIENT_AUTH:
        raise Invalid(
            where,
            f"{name} is not supported: Python's ssl module cannot ask for a client certificate "
            "without verifying it; use VerifyClientCertIfGiven or RequireAndVerifyClientCert "
            "with client_ca_file",
        )
    try:
        return ClientAuth(name)
    except ValueError:
        raise Invalid(where, f"invalid ClientAuth: {name}") from None


def _versions(context: ssl.SSLContext, section: dict[str, Any]) -> None:
    def version(key: str, default: str) -> ssl.TLSVersion:
        name = string(section.get(key), f"tls_server_config.{key}") or default
        if name not in _VERSIONS:
            raise Invalid(
                f"tls_server_config.{key}",
                f"unknown TLS version: {name} (TLS10, TLS11, TLS12 or TLS13)",
            )
        return _VERSIONS[name]

    low, high = version("min_version", "TLS12"), version("max_version", "TLS13")
    if low > high:
        raise Invalid("tls_server_config", "min_version is above max_version")
    context.minimum_version, context.maximum_version = low, high


def _certificate(context: ssl.SSLContext, spec: TlsSpec) -> None:
    """Load the server's certificate chain and key; inline PEM goes through private temp files
    (Python's ssl loads them from files only), removed at once."""
    with tempfile.TemporaryDirectory(prefix="een-web-") as private:
        cert_file = spec.cert_file or _write(Path(private) / "cert.pem", spec.cert)
        key_file = spec.key_file or _write(Path(private) / "key.pem", spec.key)
        for where, path in (("cert_file", cert_file), ("key_file", key_file)):
            read_file(path, f"tls_server_config.{where}")  # one clear error per file
        try:
            context.load_cert_chain(cert_file, key_file, password=_no_password)
        except (ssl.SSLError, _EncryptedKey) as exc:
            reason = "the key is encrypted" if isinstance(exc, _EncryptedKey) else _reason(exc)
            raise Invalid(
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


def _client_verification(context: ssl.SSLContext, spec: TlsSpec, client_auth: ClientAuth) -> None:
    if client_auth is ClientAuth.NONE:
        context.verify_mode = ssl.CERT_NONE
        return
    context.verify_mode = (
        ssl.CERT_REQUIRED if client_auth is ClientAuth.REQUIRE_AND_VERIFY else ssl.CERT_OPTIONAL
    )
    try:
        if spec.client_ca_file:
            read_file(spec.client_ca_file, "tls_server_config.client_ca_file")
            context.load_verify_locations(cafile=spec.client_ca_file)
        elif spec.client_ca:
            context.load_verify_locations(cadata=spec.client_ca)
        else:  # as Go: without a client CA, the system's roots verify client certificates
            context.load_default_certs(ssl.Purpose.CLIENT_AUTH)
    except (ssl.SSLError, ValueError) as exc:
        where = "client_ca_file" if spec.client_ca_file else "client_ca"
        reason = _reason(exc) if isinstance(exc, ssl.SSLError) else str(exc)
        raise Invalid(f"tls_server_config.{where}", f"no CA certificate loaded: {reason}") from None


def _ciphers(context: ssl.SSLContext, section: dict[str, Any]) -> None:
    where = "tls_server_config.cipher_suites"
    names = strings(section.get("cipher_suites"), where)
    if not names:
        return
    for name in names:
        if name not in _TLS12_CIPHERS and name not in _TLS13_CIPHERS:
            raise Invalid(where, f"unknown cipher: {name}")
    openssl = [_TLS12_CIPHERS[name] for name in names if name in _TLS12_CIPHERS]
    if not openssl:
        # Only TLS 1.3 suites listed: as in Go, no TLS 1.2 handshake can succeed.
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        return
    try:
        context.set_ciphers(":".join(openssl))
    except ssl.SSLError:
        raise Invalid(where, "OpenSSL here offers none of these cipher suites") from None


def _curves(context: ssl.SSLContext, section: dict[str, Any]) -> None:
    where = "tls_server_config.curve_preferences"
    names = strings(section.get("curve_preferences"), where)
    if not names:
        return
    for name in names:
        if name not in _CURVES:
            raise Invalid(where, f"unknown curve: {name}")
    if len(set(names)) > 1:
        raise Invalid(
            where,
            "more than one curve is not supported: Python's ssl module sets a single curve; "
            "list one, or leave the key out for OpenSSL's defaults (X25519, P-256, P-384, P-521)",
        )
    context.set_ecdh_curve(_CURVES[names[0]])
