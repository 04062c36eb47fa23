"""What the HTTP endpoints send, as clients other than Prometheus read it: browsers, curl."""

from __future__ import annotations

import html
import subprocess
import zlib
from pathlib import Path

import requests

from exporter.app import Exporter
from exporter.simulator.client import SimulatorControl
from tests.integration.exporter.conftest import StartExporter, sub_accounts, wait_ready
from tests.support import parse_exposition, require_binary, run_chromium, series


def een_lines(text: str) -> list[str]:
    """The exposition's een_* sample lines (self and process metrics move between scrapes)."""
    return [line for line in text.splitlines() if line.startswith("een_") and "{" in line]


def identity_text(exporter: Exporter) -> str:
    response = requests.get(
        exporter.url + "/metrics", headers={"Accept-Encoding": "identity"}, timeout=5
    )
    assert "Content-Encoding" not in response.headers
    return response.text


def test_gzip_is_one_standard_gzip_member(start_exporter: StartExporter) -> None:
    exporter = start_exporter()
    wait_ready(exporter)
    response = requests.get(
        exporter.url + "/metrics", headers={"Accept-Encoding": "gzip"}, timeout=5, stream=True
    )
    assert response.headers["Content-Encoding"] == "gzip"
    body = response.raw.read(decode_content=False)
    decoder = zlib.decompressobj(wbits=31)  # one gzip member, checked (CRC-32 and length)
    text = (decoder.decompress(body) + decoder.flush()).decode()
    assert decoder.eof
    assert decoder.unused_data == b""
    assert een_lines(text) == een_lines(identity_text(exporter))
    assert len(een_lines(text)) > 100
    assert response.headers["Vary"] == "Accept-Encoding"  # caches keep the two bodies apart


def test_gzip_refused_with_q_0_gives_identity(start_exporter: StartExporter) -> None:
    exporter = start_exporter()
    wait_ready(exporter)
    url = exporter.url + "/metrics"
    for refusal in ("gzip;q=0", "gzip; q=0.0, identity", "*;q=0", "br"):
        response = requests.get(url, headers={"Accept-Encoding": refusal}, timeout=5)
        assert "Content-Encoding" not in response.headers, refusal
        assert response.content.startswith(b"# HELP"), refusal
    accepted = requests.get(url, headers={"Accept-Encoding": "br;q=1, GZIP;q=0.5"}, timeout=5)
    assert accepted.headers["Content-Encoding"] == "gzip"


def test_curl_compressed_reads_the_whole_body(start_exporter: StartExporter) -> None:
    curl = require_binary("curl", "apt-get install curl")
    exporter = start_exporter()
    wait_ready(exporter)
    result = subprocess.run(
        [curl, "--compressed", "--silent", "--show-error", "--fail", exporter.url + "/metrics"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert een_lines(result.stdout.decode()) == een_lines(identity_text(exporter))


def test_chromium_shows_the_whole_body(start_exporter: StartExporter, tmp_path: Path) -> None:
    exporter = start_exporter()
    wait_ready(exporter)
    result = run_chromium(exporter.url + "/metrics", tmp_path, "--dump-dom")
    shown = een_lines(html.unescape(result.stdout.decode()))
    expected = een_lines(identity_text(exporter))
    assert len(expected) > 100
    assert shown == expected, f"Chromium shows {len(shown)} of {len(expected)} lines"


def test_names_utf8_cannot_encode_break_no_page(
    start_exporter: StartExporter, control: SimulatorControl
) -> None:
    # "\ud800" is valid JSON, so EEN can send a lone surrogate in any name.
    account = sub_accounts(control)[0]
    camera = next(d for d in account["devices"] if d["type"] == "camera")
    control.rename_device(camera["id"], "Lobby \ud800")
    strange = control.add_account("Acme \udfff")
    control.add_device(strange, "camera", "Dock")
    exporter = start_exporter()
    wait_ready(exporter)
    for encoding in ("identity", "gzip"):
        response = requests.get(
            exporter.url + "/metrics", headers={"Accept-Encoding": encoding}, timeout=5
        )
        assert response.status_code == 200
        samples = parse_exposition(response.content.decode())  # strict UTF-8
        assert series(samples, "een_camera_info", camera_id=camera["id"]) == 1
        assert series(samples, "een_camera_info", name="Lobby \ufffd") == 1
        assert series(samples, "een_account_info", account_id=strange, name="Acme \ufffd") == 1
        assert series(samples, "een_stream_up", account_id=account["id"]) == 1  # others too
    page = requests.get(exporter.url + "/", timeout=5)
    assert page.status_code == 200
    assert "Acme \ufffd" in page.content.decode()
    assert requests.get(exporter.url + "/readyz", timeout=5).status_code == 200
