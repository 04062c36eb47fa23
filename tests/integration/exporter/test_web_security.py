"""TLS, client certificates, basic auth, headers and reloads of --web.config.file, on real
sockets with certificates made for the test."""

from __future__ import annotations

import base64
import socket
import ssl
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import bcrypt
import pytest
import requests
from cryptography import x509

from exporter.exposition import Exposition
from exporter.store import StateStore
from exporter.web import PATHS, WebServer
from exporter.webconfig import WebConfigFile
from tests.integration.exporter.conftest import StartExporter, wait_ready
from tests.pki import Authority, Issued
from tests.support import parse_exposition, wait_for

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "scrape-Pa55word"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()


class Pki:
    def __init__(self, directory: Path) -> None:
        self.authority = Authority(directory / "ca")
        self.server = self.authority.server()
        self.client = self.authority.client()
        self.other_client = self.authority.client("other", ("other.example",))
        self.stranger = Authority(directory / "stranger", "stranger CA").client("stranger")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def serve() -> Iterator[Callable[[Path], WebServer]]:
    """Start the HTTP server alone (an empty store) with a web config file."""
    servers: list[WebServer] = []

    def start(config: Path) -> WebServer:
        store = StateStore()
        server = WebServer(
            "127.0.0.1", 0, store, Exposition(store, lambda: b""), WebConfigFile(config, PATHS)
        )
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


def web_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "web-config.yml"
    path.write_text(textwrap.dedent(text))
    return path


def tls_config(tmp_path: Path, pki: Pki, extra: str = "") -> Path:
    server = pki.server
    text = f"tls_server_config:\n  cert_file: {server.cert}\n  key_file: {server.key}\n{extra}"
    return web_config(tmp_path, text)


def url(server: WebServer, path: str = "/metrics") -> str:
    return f"{server.scheme}://127.0.0.1:{server.address[1]}{path}"


def handshake(
    server: WebServer,
    pki: Pki,
    client: Issued | None = None,
    version: ssl.TLSVersion | None = None,
) -> int:
    """Shake hands; the serial number of the server's certificate. An ssl.SSLError if refused
    (a client certificate refused under TLS 1.3 shows at the first read)."""
    context = ssl.create_default_context(cafile=str(pki.authority.cert))
    if client is not None:
        context.load_cert_chain(*client.pair)
    if version is not None:
        context.minimum_version = context.maximum_version = version
    with (
        socket.create_connection(server.address, timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = tls.recv(1024)
        if not answer:
            raise ssl.SSLError("closed without an answer")
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def test_metrics_over_tls_with_the_servers_certificate(
    tmp_path: Path, pki: Pki, serve: Callable[[Path], WebServer]
) -> None:
    server = serve(tls_config(tmp_path, pki))
    assert server.scheme == "https"
    response = requests.get(url(server), verify=str(pki.authority.cert), timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    parse_exposition(response.text)
    assert handshake(server, pki) == pki.server.serial()
    with pytest.raises(requests.exceptions.SSLError):  # a CA that did not sign it
        requests.get(url(server), verify=str(pki.stranger.cert), timeout=5)
    with pytest.raises(requests.ConnectionError):  # plain HTTP on the TLS port
        requests.get(url(server).replace("https:", "http:"), timeout=5)


def test_required_client_certificates(
    tmp_path: Path, pki: Pki, serve: Callable[[Path], WebServer]
) -> None:
    extra = (
        f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {pki.authority.cert}\n"
    )
    server = serve(tls_config(tmp_path, pki, extra))
    assert handshake(server, pki, pki.client) == pki.server.serial()
    for refused in (None, pki.stranger):
        with pytest.raises((ssl.SSLError, ConnectionError)):
            handshake(server, pki, refused)
    ca = str(pki.authority.cert)
    assert requests.get(url(server), verify=ca, cert=pki.client.pair, timeout=5).ok


def test_optional_client_certificates(
    tmp_path: Path, pki: Pki, serve: Callable[[Path], WebServer]
) -> None:
    extra = f"  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: {pki.authority.cert}\n"
    server = serve(tls_config(tmp_path, pki, extra))
    assert handshake(server, pki) == pki.server.serial()
    assert handshake(server, pki, pki.client) == pki.server.serial()
    with pytest.raises((ssl.SSLError, ConnectionError)):
        handshake(server, pki, pki.stranger)  # given, so verified: refused


def test_client_allowed_sans(tmp_path: Path, pki: Pki, serve: Callable[[Path], WebServer]) -> None:
    extra = (
        "  client_auth_type: RequireAndVerifyClientCert\n"
        f"  client_ca_file: {pki.authority.cert}\n"
        "  client_allowed_sans: [scraper.example]\n"
    )
    server = serve(tls_config(tmp_path, pki, extra))
    assert handshake(server, pki, pki.client) == pki.server.serial()
    with pytest.raises((ssl.SSLError, ConnectionError)):
        handshake(server, pki, pki.other_client)  # signed by the CA, but another name


def test_min_version_refuses_older_clients(
    tmp_path: Path, pki: Pki, serve: Callable[[Path], WebServer]
) -> None:
    server = serve(tls_config(tmp_path, pki, "  min_version: TLS13\n"))
    assert handshake(server, pki, version=ssl.TLSVersion.TLSv1_3) == pki.server.serial()
    with pytest.raises(ssl.SSLError):
        handshake(server, pki, version=ssl.TLSVersion.TLSv1_2)


AUTH = f"""\
basic_auth_users:
  prometheus: {HASH}
http_server_config:
  headers:
    X-Content-Type-Options: nosniff
    X-Frame-Options: deny
    Content-Security-Policy: "default-src 'none'"
"""


def test_basic_auth_and_headers(
    tmp_path: Path, serve: Callable[[Path], WebServer], log_lines: Callable[[], str]
) -> None:
    server = serve(web_config(tmp_path, AUTH))
    missing = requests.get(url(server), timeout=5)
    wrong = requests.get(url(server), auth=("prometheus", "guess"), timeout=5)
    stranger = requests.get(url(server), auth=("nobody", PASSWORD), timeout=5)
    for refused in (missing, wrong, stranger):
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == "Basic"
        assert refused.headers["X-Frame-Options"] == "deny"  # on every response
    for path in PATHS:  # every endpoint, /healthz too: the file excludes none
        assert requests.get(url(server, path), timeout=5).status_code == 401
    good = requests.get(url(server), auth=("prometheus", PASSWORD), timeout=5)
    assert good.status_code == 200
    parse_exposition(good.text)
    assert good.headers["X-Content-Type-Options"] == "nosniff"
    assert good.headers["Content-Security-Policy"] == "default-src 'none'"
    assert requests.get(
        url(server, "/nope"), auth=("prometheus", PASSWORD), timeout=5
    ).status_code == (404)
    token = base64.b64encode(f"prometheus:{PASSWORD}".encode()).decode()
    logged = log_lines()
    assert PASSWORD not in logged
    assert token not in logged


def test_healthz_without_auth_only_when_the_file_says_so(
    tmp_path: Path, serve: Callable[[Path], WebServer]
) -> None:
    server = serve(web_config(tmp_path, AUTH + "auth_excluded_paths: [/healthz]\n"))
    healthz = requests.get(url(server, "/healthz"), timeout=5)
    assert (healthz.status_code, healthz.text) == (200, "ok\n")
    for path in ("/", "/metrics", "/readyz"):
        assert requests.get(url(server, path), timeout=5).status_code == 401


def test_rate_limit(tmp_path: Path, serve: Callable[[Path], WebServer]) -> None:
    server = serve(web_config(tmp_path, "rate_limit:\n  interval: 1h\n  burst: 2\n"))
    statuses = [requests.get(url(server, "/healthz"), timeout=5).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_a_rotated_certificate_is_served_without_a_restart(
    tmp_path: Path, pki: Pki, serve: Callable[[Path], WebServer], log_lines: Callable[[], str]
) -> None:
    live = Issued(tmp_path / "live.crt", tmp_path / "live.key")
    live.cert.write_bytes(pki.server.cert.read_bytes())
    live.key.write_bytes(pki.server.key.read_bytes())
    config = web_config(
        tmp_path, f"tls_server_config:\n  cert_file: {live.cert}\n  key_file: {live.key}\n"
    )
    server = serve(config)
    assert handshake(server, pki) == pki.server.serial()

    renewed = pki.authority.server("renewed")
    live.key.write_bytes(renewed.key.read_bytes())
    live.cert.write_bytes(renewed.cert.read_bytes())
    wait_for(lambda: handshake(server, pki) == renewed.serial(), message="the renewed certificate")

    refusals = log_lines().count("web config not reloaded")  # maybe one: key before cert
    live.cert.write_text("not a certificate\n")  # a broken rotation: the last good one stays

    def refused_reload() -> bool:
        assert handshake(server, pki) == renewed.serial()  # each connection looks at the files
        return log_lines().count("web config not reloaded") > refusals

    wait_for(refused_reload, message="the reload error")
    assert handshake(server, pki) == renewed.serial()
    assert "tls_server_config: failed to load the certificate and key" in log_lines()


def test_the_exporter_scraped_over_tls_with_basic_auth(
    tmp_path: Path, pki: Pki, start_exporter: StartExporter
) -> None:
    config = tls_config(tmp_path, pki, AUTH)
    exporter = start_exporter(web_config_file=config)
    assert exporter.url.startswith("https://127.0.0.1:")
    ca = str(pki.authority.cert)
    credentials = ("prometheus", PASSWORD)

    def ready() -> bool:
        return requests.get(exporter.url + "/readyz", verify=ca, auth=credentials, timeout=5).ok

    wait_for(ready, message="the exporter ready over TLS")
    response = requests.get(exporter.url + "/metrics", verify=ca, auth=credentials, timeout=5)
    samples = parse_exposition(response.text)
    assert sum(v for (name, _), v in samples.items() if name == "een_stream_up") == 3


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  ocsp: on\n",
            "unknown key tls_server_config.ocsp",
        ),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n"
            "  client_auth_type: RequireAnyClientCert\n",
            "client_auth_type: RequireAnyClientCert is not supported",
        ),
    ],
)
def test_the_exporter_exits_2_naming_the_key(tmp_path: Path, text: str, named: str) -> None:
    config = web_config(tmp_path, text)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "exporter",
            "--demo",
            "--web.listen-address=127.0.0.1:0",
            f"--web.config.file={config}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    [line] = [line for line in result.stderr.splitlines() if "error" in line]
    assert line.startswith(
        f"een-exporter: error: EEN_WEB_CONFIG_FILE / --web.config.file {config}: "
    )
    assert named in line


def test_plain_http_unchanged_without_a_web_config(start_exporter: StartExporter) -> None:
    exporter = start_exporter()
    wait_ready(exporter)
    assert exporter.url.startswith("http://")
    assert requests.get(exporter.url + "/healthz", timeout=5).text == "ok\n"
