"""What /metrics says about the simulated world, and how fast it follows it."""

from __future__ import annotations

import logging
import socket
import struct
import subprocess
import time

import pytest
import requests

from exporter.simulator.client import SimulatorControl
from tests.integration.exporter.conftest import StartExporter, scrape, sub_accounts, wait_ready
from tests.support import parse_exposition, require_binary, series, wait_for

REGISTERED, RECORDING, STREAMING, ON = 1 << 20, 1 << 19, 1 << 18, 1 << 17


def bit(status: int, mask: int) -> int:
    return 1 if status & mask else 0


def test_metrics_match_the_simulator(
    start_exporter: StartExporter, control: SimulatorControl
) -> None:
    exporter = start_exporter()
    wait_ready(exporter)
    samples = scrape(exporter)
    accounts = sub_accounts(control)
    assert len(accounts) == 3
    for account in accounts:
        aid = account["id"]
        assert series(samples, "een_account_info", account_id=aid, name=account["name"]) == 1
        assert series(samples, "een_stream_up", account_id=aid) == 1
        for device in account["devices"]:
            status = device["status"]
            if device["type"] == "bridge":
                labels = {"account_id": aid, "bridge_id": device["id"]}
                assert series(samples, "een_bridge_info", **labels, name=device["name"]) == 1
                assert series(samples, "een_bridge_online", **labels) == bit(status, REGISTERED)
                continue
            labels = {"account_id": aid, "camera_id": device["id"]}
            info = {"name": device["name"], "bridge_id": device["bridge_id"]}
            assert series(samples, "een_camera_info", **labels, **info) == 1
            assert series(samples, "een_camera_online", **labels) == bit(status, REGISTERED)
            assert series(samples, "een_camera_on", **labels) == bit(status, ON)
            assert series(samples, "een_camera_streaming", **labels) == bit(status, STREAMING)
            assert series(samples, "een_camera_recording", **labels) == bit(status, RECORDING)
            one_hot = [
                value
                for (name, ls), value in samples.items()
                if name == "een_camera_status" and ("camera_id", device["id"]) in ls
            ]
            assert sorted(one_hot) == [0, 0, 0, 0, 1]
    # The dealer's own account holds no devices, so it is not monitored.
    master = next(a for a in control.state()["accounts"] if not a["devices"])
    assert series(samples, "een_stream_up", account_id=master["id"]) is None


def test_a_status_change_reaches_metrics_within_a_second(
    start_exporter: StartExporter, control: SimulatorControl
) -> None:
    exporter = start_exporter()
    wait_ready(exporter)
    account = sub_accounts(control)[0]
    camera = next(d for d in account["devices"] if d["type"] == "camera")
    labels = {"account_id": account["id"], "camera_id": camera["id"]}
    offline = 0x120020  # on and registered but not streaming
    changed_at = time.monotonic()
    control.set_status(camera["id"], offline)

    def shows_offline() -> bool:
        samples = scrape(exporter)
        return series(samples, "een_camera_status", **labels, status="offline") == 1

    wait_for(shows_offline, timeout=1.0, message="the change on /metrics")
    assert time.monotonic() - changed_at < 1.0
    samples = scrape(exporter)
    assert series(samples, "een_camera_streaming", **labels) == 0
    messages = series(samples, "een_stream_messages_total", account_id=account["id"])
    assert messages is not None
    assert messages >= 2
    last = series(samples, "een_camera_last_update_timestamp_seconds", **labels)
    assert last is not None
    assert abs(last - time.time()) < 5


def test_self_metrics_exist_from_the_start(start_exporter: StartExporter) -> None:
    exporter = start_exporter()
    wait_ready(exporter)
    samples = scrape(exporter)
    assert series(samples, "een_login_failures_total") == 0
    assert series(samples, "een_api_request_failures_total", endpoint="logout") == 0
    assert series(samples, "een_api_requests_total", endpoint="authenticate") == 4  # 1 + 3 accounts
    from exporter import __version__

    assert series(samples, "een_exporter_build_info", version=__version__) == 1


def test_gzip_and_identity_bodies_agree(start_exporter: StartExporter) -> None:
    exporter = start_exporter()
    wait_ready(exporter)
    url = exporter.url + "/metrics"
    compressed = requests.get(url, headers={"Accept-Encoding": "gzip"}, timeout=5)
    plain = requests.get(url, headers={"Accept-Encoding": "identity"}, timeout=5)
    assert compressed.headers["Content-Encoding"] == "gzip"
    assert "Content-Encoding" not in plain.headers
    assert compressed.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    # requests decodes the gzip body; the samples must be the same.
    # (process_* values move between the two requests; the EEN series must not.)
    a = {k: v for k, v in parse_exposition(compressed.text).items() if k[0].startswith("een_")}
    b = {k: v for k, v in parse_exposition(plain.text).items() if k[0].startswith("een_")}
    assert a == b
    assert len(a) > 100


def test_promtool_accepts_the_live_exposition(start_exporter: StartExporter) -> None:
    promtool = require_binary("promtool", "apt-get install prometheus")
    exporter = start_exporter()
    wait_ready(exporter)
    body = requests.get(exporter.url + "/metrics", timeout=5).text
    result = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_landing_page_health_and_readiness(
    start_exporter: StartExporter, control: SimulatorControl
) -> None:
    exporter = start_exporter()
    wait_ready(exporter)
    assert requests.get(exporter.url + "/healthz", timeout=5).text == "ok\n"
    ready = requests.get(exporter.url + "/readyz", timeout=5)
    assert ready.text.startswith("ready: 3 accounts")
    page = requests.get(exporter.url + "/", timeout=5)
    assert page.headers["Content-Type"].startswith("text/html")
    assert 'href="/metrics"' in page.text
    assert "streams up: 3" in page.text
    assert "(ready: 3 accounts)" in page.text
    cameras = sum(d["type"] == "camera" for a in sub_accounts(control) for d in a["devices"])
    counts = [int(item.split(": ")[1].split("<")[0]) for item in page.text.split("<li>")[1:]]
    assert sum(counts) == cameras  # every camera counted under exactly one status
    assert requests.get(exporter.url + "/nope", timeout=5).status_code == 404


def test_a_scraper_hanging_up_is_not_an_error(
    start_exporter: StartExporter,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    exporter = start_exporter()
    wait_ready(exporter)
    host, port = exporter.web.address
    for _ in range(5):
        with socket.create_connection((host, port)) as client:
            client.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\n\r\n")
            client.recv(1)  # the response has started...
            # ...and the client resets the connection (SO_LINGER 0) instead of reading it.
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    assert requests.get(exporter.url + "/healthz", timeout=5).status_code == 200
    assert "Traceback" not in capfd.readouterr().err
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
