"""The exporter-toolkit web config file: what Go exporters accept loads; the rest is refused
naming the key; changes are picked up, broken changes are not."""

from __future__ import annotations

import logging
import ssl
import textwrap
from pathlib import Path

import bcrypt
import pytest
import yaml

from exporter.config import ConfigError
from exporter.web.config import ClientAuth, RateLimit, WebConfigFile, go_duration, load
from exporter.web.endpoints import PATHS
from tests.pki import Authority, Issued

# bcrypt hashes as htpasswd -nBC 10 writes them ($2y$), as the toolkit's docs show.
HASH = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode().replace("$2b$", "$2y$", 1)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Authority, Issued]:
    authority = Authority(tmp_path_factory.mktemp("pki"))
    return authority, authority.server()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "web-config.yml"
    path.write_text(textwrap.dedent(text))
    return path


def error(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load(path, PATHS)
    return str(caught.value)


def tls_file(tmp_path: Path, pki: tuple[Authority, Issued], extra: str = "") -> Path:
    _, server = pki
    return write(
        tmp_path,
        f"tls_server_config:\n  cert_file: {server.cert}\n  key_file: {server.key}\n{extra}",
    )


def test_the_toolkit_example_file_loads(tmp_path: Path, pki: tuple[Authority, Issued]) -> None:
    """The shape of exporter-toolkit's docs/web-config.yml, with relative certificate paths."""
    _, server = pki
    (tmp_path / "server.crt").write_bytes(server.cert.read_bytes())
    (tmp_path / "server.key").write_bytes(server.key.read_bytes())
    path = write(
        tmp_path,
        f"""\
        # TLS and basic authentication configuration example.
        tls_server_config:
          cert_file: server.crt
          key_file: server.key
        basic_auth_users:
          alice: {HASH}
          bob: {HASH}
        rate_limit:
          interval: "1s"
          burst: 20
        """,
    )
    config = load(path, PATHS)
    assert config.tls is not None
    assert config.tls.client_auth is ClientAuth.NONE
    assert config.tls.context.minimum_version is ssl.TLSVersion.TLSv1_2  # the toolkit's default
    assert set(config.users) == {"alice", "bob"}
    assert config.rate_limit == RateLimit(interval=1.0, burst=20)
    assert config.http2 is True


def test_an_empty_file_is_plain_http_without_auth(tmp_path: Path) -> None:
    config = load(write(tmp_path, "# nothing yet\n"), PATHS)
    assert (config.tls, dict(config.users), config.headers) == (None, {}, ())


def test_every_toolkit_key_is_accepted(tmp_path: Path, pki: tuple[Authority, Issued]) -> None:
    authority, _ = pki
    path = tls_file(
        tmp_path,
        pki,
        textwrap.dedent(f"""\
          client_auth_type: RequireAndVerifyClientCert
          client_ca_file: {authority.cert}
          client_allowed_sans: [scraper.example]
          min_version: TLS12
          max_version: TLS13
          cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256]
          curve_preferences: [CurveP256]
          prefer_server_cipher_suites: false
        http_server_config:
          http2: false
          headers:
            Content-Security-Policy: "default-src 'self'"
            X-Frame-Options: deny
            X-Content-Type-Options: nosniff
            X-XSS-Protection: "1; mode=block"
            Strict-Transport-Security: max-age=31536000
        basic_auth_users:
          prometheus: {HASH}
        rate_limit:
          interval: 1m30s
          burst: 5
        """),
    )
    config = load(path, PATHS)
    assert config.tls is not None
    assert config.tls.client_auth is ClientAuth.REQUIRE_AND_VERIFY
    assert config.tls.context.verify_mode is ssl.CERT_REQUIRED
    assert config.tls.client_allowed_sans == frozenset({"scraper.example"})
    assert not config.tls.context.options & ssl.OP_CIPHER_SERVER_PREFERENCE
    assert [cipher["name"] for cipher in config.tls.context.get_ciphers()][-1] == (
        "ECDHE-ECDSA-AES128-GCM-SHA256"
    )
    assert config.http2 is False
    assert dict(config.headers)["X-Frame-Options"] == "deny"
    assert len(config.headers) == 5
    assert config.rate_limit == RateLimit(interval=90.0, burst=5)


def test_inline_certificate_and_key(tmp_path: Path, pki: tuple[Authority, Issued]) -> None:
    authority, server = pki

    def block(path: Path) -> str:
        return "|\n" + textwrap.indent(path.read_text(), "    ")

    path = write(
        tmp_path,
        f"tls_server_config:\n  cert: {block(server.cert)}\n  key: {block(server.key)}\n"
        f"  client_ca: {block(authority.cert)}\n  client_auth_type: VerifyClientCertIfGiven\n",
    )
    config = load(path, PATHS)
    assert config.tls is not None
    assert config.tls.context.verify_mode is ssl.CERT_OPTIONAL
    assert list(tmp_path.iterdir()) == [path]  # the temporary copies are gone


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("tls_server_confg: {}\n", "unknown key tls_server_confg"),
        ("tls_server_config:\n  cert_fille: x\n", "unknown key tls_server_config.cert_fille"),
        ("http_server_config:\n  http3: true\n", "unknown key http_server_config.http3"),
        ("rate_limit:\n  bursts: 1\n", "unknown key rate_limit.bursts"),
        ("basic_auth_users: [alice]\n", "basic_auth_users: must be a mapping"),
        ("http_server_config:\n  http2: maybe\n", "http_server_config.http2: must be true or"),
        ("rate_limit:\n  interval: soon\n", "rate_limit.interval: invalid duration 'soon'"),
        ("auth_excluded_paths: [/health]\n", "auth_excluded_paths: '/health' is not served"),
        ("basic_auth_users:\n  a: x\nbasic_auth_users: {}\n", "key 'basic_auth_users' is given"),
        ("tls_server_config: [\n", "not valid YAML (line 2)"),
    ],
)
def test_unknown_or_malformed_keys_are_refused_by_name(
    tmp_path: Path, text: str, named: str
) -> None:
    message = error(write(tmp_path, text))
    assert message.startswith("EEN_WEB_CONFIG_FILE / --web.config.file ")
    assert named in message


@pytest.mark.parametrize("mode", ["RequestClientCert", "RequireAnyClientCert", "RequireClientCert"])
def test_unverified_client_certificates_are_refused_naming_the_key(
    tmp_path: Path, pki: tuple[Authority, Issued], mode: str
) -> None:
    message = error(tls_file(tmp_path, pki, f"  client_auth_type: {mode}\n"))
    assert f"tls_server_config.client_auth_type: {mode} is not supported" in message


def test_several_curves_are_refused_naming_the_key(
    tmp_path: Path, pki: tuple[Authority, Issued]
) -> None:
    message = error(tls_file(tmp_path, pki, "  curve_preferences: [X25519, CurveP256]\n"))
    assert "tls_server_config.curve_preferences: more than one curve is not supported" in message


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ("  client_auth_type: Sometimes\n", "client_auth_type: invalid ClientAuth: Sometimes"),
        ("  min_version: TLS14\n", "min_version: unknown TLS version: TLS14"),
        ("  min_version: TLS13\n  max_version: TLS12\n", "min_version is above max_version"),
        ("  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n", "unknown cipher: TLS_RSA_WITH_RC4"),
        ("  curve_preferences: [P256]\n", "curve_preferences: unknown curve: P256"),
        ("  client_allowed_sans: [x]\n", "client_allowed_sans: requires client_auth_type"),
    ],
)
def test_invalid_tls_settings_are_refused(
    tmp_path: Path, pki: tuple[Authority, Issued], extra: str, named: str
) -> None:
    assert named in error(tls_file(tmp_path, pki, extra))


def test_a_client_ca_without_client_auth_is_refused(
    tmp_path: Path, pki: tuple[Authority, Issued]
) -> None:
    authority, _ = pki
    message = error(tls_file(tmp_path, pki, f"  client_ca_file: {authority.cert}\n"))
    assert "client CA's have been configured without a Client Auth Policy" in message


def test_certificate_problems_name_the_file(tmp_path: Path, pki: tuple[Authority, Issued]) -> None:
    _, server = pki
    missing = write(tmp_path, "tls_server_config:\n  cert_file: nope.crt\n  key_file: nope.key\n")
    assert f"tls_server_config.cert_file: cannot read {tmp_path / 'nope.crt'}" in error(missing)
    key_only = write(tmp_path, f"tls_server_config:\n  key_file: {server.key}\n")
    assert "missing one of cert or cert_file" in error(key_only)
    swapped = write(
        tmp_path, f"tls_server_config:\n  cert_file: {server.key}\n  key_file: {server.cert}\n"
    )
    assert "failed to load the certificate and key" in error(swapped)


def test_an_encrypted_key_is_refused_without_prompting(
    tmp_path: Path, pki: tuple[Authority, Issued]
) -> None:
    from cryptography.hazmat.primitives import serialization

    _, server = pki
    key = serialization.load_pem_private_key(server.key.read_bytes(), None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pass"),
        )
    )
    path = write(
        tmp_path, f"tls_server_config:\n  cert_file: {server.cert}\n  key_file: {encrypted}\n"
    )
    assert "the key is encrypted" in error(path)


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        ("X-Powered-By: me", "HTTP header 'X-Powered-By' can not be configured"),
        ("x-frame-options: deny", "HTTP header 'x-frame-options' can not be configured"),
        ("X-Frame-Options: allow", "X-Frame-Options: must be one of deny, sameorigin"),
        ("X-Content-Type-Options: sniff", "X-Content-Type-Options: must be one of nosniff"),
        ('Content-Security-Policy: "a\\r\\nSet-Cookie: x"', "must not contain line breaks"),
    ],
)
def test_only_the_toolkits_headers_may_be_set(tmp_path: Path, headers: str, named: str) -> None:
    path = write(tmp_path, f"http_server_config:\n  headers:\n    {headers}\n")
    assert named in error(path)


def test_a_blank_header_is_unset(tmp_path: Path) -> None:
    path = write(tmp_path, 'http_server_config:\n  headers:\n    X-XSS-Protection: ""\n')
    assert load(path, PATHS).headers == ()


@pytest.mark.parametrize(
    "hashed", ["plain-password", "$2y$10$short", "$1$abcdefgh$0123456789012345678901"]
)
def test_a_password_that_is_not_a_bcrypt_hash_is_refused_without_echoing_it(
    tmp_path: Path, hashed: str
) -> None:
    message = error(write(tmp_path, f"basic_auth_users:\n  alice: '{hashed}'\n"))
    assert "basic_auth_users.alice: not a bcrypt hash" in message
    assert hashed not in message


def test_numeric_user_names_are_names(tmp_path: Path) -> None:
    config = load(write(tmp_path, f"basic_auth_users:\n  1234: {HASH}\n"), PATHS)
    assert set(config.users) == {"1234"}


def test_durations_read_as_go_reads_them() -> None:
    assert go_duration("1h2m3.5s") == pytest.approx(3723.5)
    assert go_duration("250ms") == pytest.approx(0.25)
    assert go_duration("0") == 0.0
    for bad in ("1", "1x", "s", "1s2", ""):
        with pytest.raises(Exception, match="invalid duration"):
            go_duration(bad)


def test_a_zero_interval_turns_the_rate_limit_off(tmp_path: Path) -> None:
    assert load(write(tmp_path, "rate_limit:\n  interval: 0s\n  burst: 3\n")).rate_limit is None


def test_only_tls_13_ciphers_rule_out_tls_12(tmp_path: Path, pki: tuple[Authority, Issued]) -> None:
    config = load(tls_file(tmp_path, pki, "  cipher_suites: [TLS_AES_256_GCM_SHA384]\n"))
    assert config.tls is not None
    assert config.tls.context.minimum_version is ssl.TLSVersion.TLSv1_3


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_changed_file_is_reloaded_and_a_broken_one_keeps_the_last_good(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    path = write(tmp_path, f"basic_auth_users:\n  alice: {HASH}\n")
    watched = WebConfigFile(path, PATHS, clock)
    assert set(watched.current().users) == {"alice"}

    path.write_text(f"basic_auth_users:\n  bob: {HASH}\n")
    assert set(watched.current().users) == {"alice"}  # not looked at again yet
    clock.now += 1
    assert set(watched.current().users) == {"bob"}

    path.write_text("basic_auth_users:\n  carol: not-a-hash\n")
    caplog.set_level(logging.ERROR, logger="exporter.webconfig")
    for _ in range(3):
        clock.now += 1
        assert set(watched.current().users) == {"bob"}
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, "one error per broken version, not one per check"
    assert "basic_auth_users.carol" in str(errors[0].__dict__["reason"])


def test_certificate_rotation_is_picked_up(tmp_path: Path, pki: tuple[Authority, Issued]) -> None:
    authority, server = pki
    clock = Clock()
    watched = WebConfigFile(tls_file(tmp_path, pki), PATHS, clock)
    first = watched.current().tls
    renewed = authority.server("renewed")
    server.cert.write_bytes(renewed.cert.read_bytes())
    server.key.write_bytes(renewed.key.read_bytes())
    clock.now += 1
    second = watched.current().tls
    assert second is not None
    assert second is not first
    assert watched.reloads == 1


def test_turning_tls_off_needs_a_restart(
    tmp_path: Path, pki: tuple[Authority, Issued], caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    path = tls_file(tmp_path, pki)
    watched = WebConfigFile(path, PATHS, clock)
    path.write_text(f"basic_auth_users:\n  alice: {HASH}\n")
    clock.now += 1
    assert watched.current().tls is not None
    assert "turning TLS on or off needs a restart" in caplog.text


# --- issue 19: the web config under attack -------------------------------------------------


def test_an_absurd_bcrypt_cost_is_refused_at_load(tmp_path: Path) -> None:
    """Issue 19 item 9: a cost-31 hash loaded, and four requests as that user (a day and a half
    of bcrypt each) made every request time out."""
    salt_and_digest = HASH[7:]
    message = error(write(tmp_path, f"basic_auth_users:\n  slow: '$2b$31${salt_and_digest}'\n"))
    assert "basic_auth_users.slow: bcrypt cost 31 is above 14, the most accepted here" in message
    assert "about 1.5 days" in message
    assert salt_and_digest not in message
    assert "\n" not in message
    assert "cost 15 is above 14" in error(
        write(tmp_path, f"basic_auth_users:\n  a: '$2b$15${salt_and_digest}'\n")
    )
    for cost in ("03", "00"):
        assert f"cost {int(cost)} is below 4" in error(
            write(tmp_path, f"basic_auth_users:\n  a: '$2b${cost}${salt_and_digest}'\n")
        )
    at_most = f"basic_auth_users:\n  a: '$2b$14${salt_and_digest}'\n"
    assert set(load(write(tmp_path, at_most), PATHS).users) == {"a"}


def test_a_bcrypt_hash_with_a_malformed_salt_is_refused_at_load(tmp_path: Path) -> None:
    """Issue 19 item 12: such a hash matches the format, loaded, and then every request was
    answered 500 with a traceback ("Invalid salt" from the bcrypt library)."""
    hashed = HASH[:28] + "/" + HASH[29:]
    message = error(write(tmp_path, f"basic_auth_users:\n  alice: '{hashed}'\n"))
    assert "basic_auth_users.alice: the bcrypt salt is malformed" in message
    assert hashed not in message


@pytest.mark.parametrize(
    "last", list("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
)
def test_the_salt_check_agrees_with_the_bcrypt_library(tmp_path: Path, last: str) -> None:
    hashed = HASH[:28] + last + HASH[29:]
    try:
        bcrypt.checkpw(b"x", hashed.encode())
        usable = True
    except ValueError:
        usable = False
    path = write(tmp_path, f"basic_auth_users:\n  alice: '{hashed}'\n")
    if usable:
        assert set(load(path, PATHS).users) == {"alice"}
    else:
        assert "salt is malformed" in error(path)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[oops]: x\n", "not valid YAML (line 1): a key must be a name, not a list"),
        ("basic_auth_users:\n  {a: 1}: x\n", "(line 2): a key must be a name, not a mapping"),
        ("? [a, b]\n: x\n", "(line 1): a key must be a name, not a list"),
        ("rate_limit:\n  interval: 2001-02-30\n", "not valid YAML: day is out of range"),
        ("a: " + "[" * 5000 + "]" * 5000 + "\n", "not valid YAML"),
    ],
)
def test_a_key_that_is_not_a_name_is_refused_in_one_line(
    tmp_path: Path, text: str, named: str
) -> None:
    """Issue 19 item 11: `[oops]: x` raised TypeError (unhashable list): exit 1 with a
    traceback at start instead of exit 2 with one line."""
    message = error(write(tmp_path, text))
    assert message.startswith("EEN_WEB_CONFIG_FILE / --web.config.file ")
    assert named in message
    assert "\n" not in message


def test_a_reload_to_a_list_key_keeps_the_last_good_with_one_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 19 item 11: at run time the same file made every request fail with a traceback
    (current() raised), for as long as the file stayed so."""
    clock = Clock()
    path = write(tmp_path, f"basic_auth_users:\n  alice: {HASH}\n")
    watched = WebConfigFile(path, PATHS, clock)
    path.write_text("[oops]: x\n")
    caplog.set_level(logging.INFO, logger="exporter.webconfig")
    for _ in range(5):
        clock.now += 1
        assert set(watched.current().users) == {"alice"}
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info is None
    assert "a key must be a name, not a list" in str(errors[0].__dict__["reason"])
    path.write_text(f"basic_auth_users:\n  bob: {HASH}\n")
    clock.now += 1
    assert set(watched.current().users) == {"bob"}


def test_the_file_is_parsed_once_per_change_not_per_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 19 item 12: every check (twice a second) parsed the whole file again to find the
    TLS files it names: with 5,000 users, 58 % CPU and scrapes of 324 ms."""
    parses = []
    real = yaml.load

    def counting(text: str, Loader: type) -> object:  # noqa: N803 - yaml's name
        parses.append(len(text))
        return real(text, Loader=Loader)

    monkeypatch.setattr(yaml, "load", counting)
    users = "".join(f"  user{n}: {HASH}\n" for n in range(50))
    path = write(tmp_path, "basic_auth_users:\n" + users)
    clock = Clock()
    watched = WebConfigFile(path, PATHS, clock)
    for _ in range(20):
        clock.now += 1
        assert len(watched.current().users) == 50
    assert len(parses) == 1
    path.write_text("basic_auth_users:\n" + users + f"  one_more: {HASH}\n")
    for _ in range(20):
        clock.now += 1
        assert len(watched.current().users) == 51
    assert len(parses) == 2


def test_a_check_in_progress_does_not_hold_up_other_threads(tmp_path: Path) -> None:
    """While one thread reloads, the others get the configuration loaded before."""
    clock = Clock()
    path = write(tmp_path, f"basic_auth_users:\n  alice: {HASH}\n")
    watched = WebConfigFile(path, PATHS, clock)
    clock.now += 1
    with watched._lock:  # as if another thread were reloading
        assert set(watched.current().users) == {"alice"}


def test_the_decoy_has_the_users_usual_cost(tmp_path: Path) -> None:
    def hashed(cost: int) -> str:
        return bcrypt.hashpw(b"x", bcrypt.gensalt(cost)).decode()

    text = f"basic_auth_users:\n  a: {hashed(4)}\n  b: {hashed(5)}\n  c: {hashed(4)}\n"
    config = load(write(tmp_path, text), PATHS)
    assert config.decoy.startswith(b"$2b$04$")
    assert not bcrypt.checkpw(b"x", config.decoy)  # well-formed: the library can check it
    assert load(write(tmp_path, ""), PATHS).decoy.startswith(b"$2b$10$")
