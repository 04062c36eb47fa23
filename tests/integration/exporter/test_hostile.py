"""A hostile or broken EEN endpoint: the exporter survives it, says why, sends no secret
anywhere else, and keeps what it knows."""

from __future__ import annotations

import gzip
import io
import itertools
import json
import logging
import queue
import threading
from collections.abc import Callable, Iterator

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from exporter.accounts.tuning import StreamTuning
from exporter.app import Exporter
from exporter.config import LogFormat
from exporter.een.api import RestLimits
from exporter.een.frames import PING, TEXT
from exporter.logs import LINE_LIMIT, RATE_BURST, LineFormatter, configure_logging, redact
from exporter.simulator.client import SimulatorControl
from tests.integration.exporter.conftest import (
    PASSWORD,
    StartExporter,
    scrape,
    sub_accounts,
    wait_ready,
)
from tests.integration.hostile import (
    Exchange,
    HostileServer,
    answer,
    frame,
    hold,
    response_head,
    trickle,
    websocket,
)
from tests.strategies import envelopes, to_json
from tests.support import fuzz, series, wait_for

DEEP = b"[" * 100_000 + b"]" * 100_000  # valid JSON, deeper than any recursive parser goes
EVENTS = r"/api/v2/Device/[^/]+/Events"
MakeHostile = Callable[[str | None], HostileServer]


def metric(exporter: Exporter, name: str, **labels: str) -> float:
    value = series(scrape(exporter), name, **labels)
    assert value is not None, f"{name}{labels} missing"
    return value


def streams_up(exporter: Exporter, accounts: list[str], connects: int = 1) -> bool:
    samples = scrape(exporter)
    return all(
        series(samples, "een_stream_up", account_id=a) == 1
        and (series(samples, "een_stream_connects_total", account_id=a) or 0) >= connects
        for a in accounts
    )


def streamed_account(hostile: HostileServer) -> str:
    """The account whose stream handshake reached the hostile server first."""
    [first] = wait_for(lambda: hostile.requests("GET", EVENTS)[:1], message="a stream handshake")
    return first.path.split("/")[4]


def redirect(status: int, reason: str, location: str) -> Callable[[Exchange], None]:
    return answer(status, headers=[("Location", location)], reason=reason)


# --- item 1: errors that are not network errors ---------------------------------------------


def test_json_nested_too_deeply_in_the_account_list(
    start_exporter: StartExporter, hostile: HostileServer, log_lines: Callable[[], str]
) -> None:
    hostile.on("GET", "/g/account/list", answer(200, DEEP), times=1)
    exporter = start_exporter(url=hostile.url)
    wait_ready(exporter)
    assert 'reason="account_list: answer is JSON nested too deeply"' in log_lines()
    assert metric(exporter, "een_exporter_unexpected_errors_total", thread="discovery") == 0


def test_an_integer_too_long_to_convert_in_the_device_list(
    start_exporter: StartExporter,
    hostile: HostileServer,
    control: SimulatorControl,
    log_lines: Callable[[], str],
) -> None:
    # Found by fuzzing: json.loads refused the whole list over one 4,301-digit integer.
    rows = [
        ["x", "10000001", "Lobby", "camera", [], "ATTD", *[None] * 4, "9" * 4301],
        ["x", "10000002", "Dock", "camera", [], "ATTD", *[None] * 4, 0x1E0037],
    ]
    body = json.dumps(rows).replace('"' + "9" * 4301 + '"', "9" * 4301).encode()
    hostile.on("GET", "/g/device/list", answer(200, body))
    exporter = start_exporter(url=hostile.url)
    account = sub_accounts(control)[0]["id"]  # every account gets this list
    wait_for(
        lambda: series(scrape(exporter), "een_camera_online", account_id=account,
                       camera_id="10000002") == 1,
        message="the device list read, but for the one status",
    )  # fmt: skip
    lobby = series(scrape(exporter), "een_camera_info", account_id=account, camera_id="10000001")
    assert lobby == 1
    assert "malformed device status ignored" in log_lines()


def test_json_nested_too_deeply_in_the_device_list(
    start_exporter: StartExporter,
    hostile: HostileServer,
    control: SimulatorControl,
    log_lines: Callable[[], str],
) -> None:
    exporter = start_exporter(url=hostile.url)
    wait_ready(exporter)
    accounts = [a["id"] for a in sub_accounts(control)]
    hostile.on("GET", "/g/device/list", answer(200, DEEP), times=len(accounts))
    control.drop_streams()  # every stream resyncs: reads the device list again
    wait_for(lambda: streams_up(exporter, accounts, connects=2), message="every stream back")
    assert 'reason="device_list: answer is JSON nested too deeply"' in log_lines()


def test_json_nested_too_deeply_on_the_stream(
    start_exporter: StartExporter,
    hostile: HostileServer,
    control: SimulatorControl,
    log_lines: Callable[[], str],
) -> None:
    cameras = {
        a["id"]: next(
            d["id"] for d in a["devices"] if d["type"] == "camera" and d["status"] & 0x20000
        )
        for a in sub_accounts(control)
    }

    def script(exchange: Exchange) -> None:
        camera = cameras[exchange.request.path.split("/")[4]]
        switched_off = {"status_code": 200, "message": "OK", "data": {camera: {"status": 0x100025}}}
        exchange.send(frame(TEXT, DEEP) + frame(TEXT, json.dumps(switched_off).encode()))
        hold(exchange)

    hostile.on("GET", EVENTS, websocket(script), times=1)
    exporter = start_exporter(url=hostile.url)
    account = streamed_account(hostile)
    wait_for(
        lambda: series(scrape(exporter), "een_camera_status", camera_id=cameras[account],
                       status="off") == 1,
        message="the message after the deep one applied",
    )  # fmt: skip
    samples = scrape(exporter)
    assert series(samples, "een_stream_messages_total", account_id=account) == 2
    assert series(samples, "een_stream_disconnects_total", account_id=account) == 0
    assert 'reason="JSON nested too deeply"' in log_lines()


def test_two_auth_key_cookies_are_resolved_deterministically(
    start_exporter: StartExporter, hostile: HostileServer
) -> None:
    cookies = [
        ("Set-Cookie", "videobank_sessionid=crafted-key-0; Path=/"),
        ("Set-Cookie", "auth_key=crafted-key-1; Path=/"),
        ("Set-Cookie", "auth_key=crafted-key-2; Path=/g"),
    ]
    hostile.on("POST", "/g/aaa/authenticate", answer(200, b'{"token": "crafted"}'), times=1)
    user = b'{"user_id": "crafted", "owner_account_id": "crafted"}'
    hostile.on("POST", "/g/aaa/authorize", answer(200, user, headers=cookies), times=1)
    exporter = start_exporter(url=hostile.url)
    wait_ready(exporter)  # the crafted session is refused by the simulator; a new login works
    first = hostile.requests("GET", "/g/account/list")[0]
    # The last one set wins, as in a browser; auth_key before the older name.
    assert first.headers["cookie"] == "auth_key=crafted-key-2"
    assert redact("crafted-key-0 crafted-key-2") == "<redacted> <redacted>"


def test_an_api_key_that_cannot_be_sent(start_exporter: StartExporter) -> None:
    exporter = start_exporter(api_key="cl\u00e9-\u20ac-key")  # the euro sign is not latin-1
    wait_for(
        lambda: metric(exporter, "een_api_requests_total", endpoint="authenticate") >= 2,
        message="discovery still trying",
    )
    ready = requests.get(exporter.url + "/readyz", timeout=5)
    assert ready.status_code == 503
    assert "EEN_API_KEY has characters that cannot be sent" in ready.text


def test_a_refresh_interval_longer_than_a_wait_can_take(start_exporter: StartExporter) -> None:
    exporter = start_exporter(device_refresh_seconds=1e10)  # Event.wait overflows on this
    wait_ready(exporter)
    assert exporter.supervisor.is_alive()
    assert exporter.stop() == []


# --- item 3: redirects --------------------------------------------------------------------------


def test_a_redirect_on_the_device_list_sends_no_cookie_elsewhere(
    start_exporter: StartExporter,
    hostile: HostileServer,
    make_hostile: MakeHostile,
    log_lines: Callable[[], str],
) -> None:
    elsewhere = make_hostile(None)  # answers `[]`: it would wipe every device
    exporter = start_exporter(url=hostile.url, device_refresh_seconds=0.3)
    wait_ready(exporter)
    cameras = [k for k in scrape(exporter) if k[0] == "een_camera_info"]
    location = elsewhere.url + "/g/device/list"
    hostile.on("GET", "/g/device/list", redirect(302, "Found", location))
    wait_for(
        lambda: elsewhere.seen or "device refresh failed; keeping the current list" in log_lines(),
        message="a device refresh answered with the redirect",
    )
    assert elsewhere.seen == []
    host = elsewhere.url.removeprefix("http://")
    assert f'reason="device_list: HTTP 302 Found: redirect to {host} refused"' in log_lines()
    assert [k for k in scrape(exporter) if k[0] == "een_camera_info"] == cameras


def test_a_redirect_on_authenticate_sends_no_password_elsewhere(
    start_exporter: StartExporter, hostile: HostileServer, make_hostile: MakeHostile
) -> None:
    elsewhere = make_hostile(None)
    location = elsewhere.url + "/g/aaa/authenticate"
    hostile.on("POST", "/g/aaa/authenticate", redirect(307, "Temporary Redirect", location))
    exporter = start_exporter(url=hostile.url)

    def refused() -> bool:
        text = requests.get(exporter.url + "/readyz", timeout=5).text
        return "authenticate: HTTP 307 Temporary Redirect: redirect to" in text

    wait_for(lambda: elsewhere.seen or refused(), message="/readyz naming the refused redirect")
    assert elsewhere.seen == []
    assert PASSWORD.encode() in hostile.requests("POST", "/g/aaa/authenticate")[0].body


def test_a_redirect_on_the_stream_handshake_sends_no_credentials_elsewhere(
    start_exporter: StartExporter,
    hostile: HostileServer,
    make_hostile: MakeHostile,
    log_lines: Callable[[], str],
) -> None:
    elsewhere = make_hostile(None)
    location = elsewhere.url.replace("http:", "ws:") + "/api/v2/Device/x/Events"
    hostile.on("GET", EVENTS, redirect(302, "Found", location))
    start_exporter(url=hostile.url, api_key="an-api-key-1234")
    wait_for(
        lambda: (
            elsewhere.seen
            or "stream handshake refused: HTTP 302 redirect not followed" in log_lines()
        ),
        message="the refused stream redirect in the log",
    )
    assert elsewhere.seen == []
    assert "auth_key=" in hostile.requests("GET", EVENTS)[0].headers["cookie"]


# --- item 4: REST answers that never end, or end too big ----------------------------------------


def test_a_trickled_answer_cannot_hold_the_login_gate(
    start_exporter: StartExporter,
    hostile: HostileServer,
    control: SimulatorControl,
    log_lines: Callable[[], str],
) -> None:
    limits = RestLimits(read_timeout=5.0, deadline=0.5)
    exporter = start_exporter(url=hostile.url, login_concurrency=1, tuning={"rest": limits})
    wait_ready(exporter)
    accounts = [a["id"] for a in sub_accounts(control)]
    body = b"[" + b" " * 5000 + b"]"  # 250 s at one byte per 50 ms
    slow = trickle(response_head(200, [], len(body)) + body, every=0.05)
    hostile.on("GET", "/g/device/list", slow, times=len(accounts))
    control.drop_streams()  # each resync (device list) runs inside the gate, one at a time
    wait_for(lambda: streams_up(exporter, accounts, connects=2), message="every stream back")
    assert 'reason="device_list: answer not complete after 0.5s"' in log_lines()


def test_a_trickled_stream_handshake_cannot_hold_the_login_gate(
    start_exporter: StartExporter,
    hostile: HostileServer,
    control: SimulatorControl,
    log_lines: Callable[[], str],
) -> None:
    stream = StreamTuning(timeout=3.0, backoff_base=0.05, backoff_max=1.0, connect_timeout=0.5)
    exporter = start_exporter(url=hostile.url, login_concurrency=1, tuning={"stream": stream})
    wait_ready(exporter)
    accounts = [a["id"] for a in sub_accounts(control)]
    head = b"HTTP/1.1 101 Switching Protocols\r\nX-Slow: " + b"." * 2000  # 100 s
    hostile.on("GET", EVENTS, trickle(head, every=0.05), times=len(accounts))
    control.drop_streams()  # each handshake runs inside the gate, one at a time
    wait_for(lambda: streams_up(exporter, accounts, connects=2), message="every stream back")
    assert 'reason="stream handshake not complete after 0.5s"' in log_lines()


def test_an_answer_larger_than_the_limit_is_refused(
    start_exporter: StartExporter, hostile: HostileServer, log_lines: Callable[[], str]
) -> None:
    rows = b"[" + b'["crafted", "row"],' * 10_000 + b"[]]"  # 190 kB of valid rows
    hostile.on("GET", "/g/account/list", answer(200, rows), times=1)
    exporter = start_exporter(url=hostile.url, tuning={"rest": RestLimits(max_answer=65536)})
    wait_ready(exporter)
    assert 'reason="account_list: answer larger than 65536 bytes"' in log_lines()


def test_a_compression_bomb_is_refused(
    start_exporter: StartExporter, hostile: HostileServer, log_lines: Callable[[], str]
) -> None:
    bomb = gzip.compress(b"[" + b"0," * 5_000_000 + b"0]", compresslevel=9)  # 10 MB in 10 kB
    headers = [("Content-Type", "application/json"), ("Content-Encoding", "gzip")]
    hostile.on("GET", "/g/account/list", answer(200, bomb, headers), times=1)
    exporter = start_exporter(url=hostile.url, tuning={"rest": RestLimits(max_answer=65536)})
    wait_ready(exporter)
    assert 'reason="account_list: answer larger than 65536 bytes"' in log_lines()


# --- item 5: a stream whose frame never completes -----------------------------------------------


def test_a_trickled_frame_ends_the_stream(
    start_exporter: StartExporter, hostile: HostileServer, log_lines: Callable[[], str]
) -> None:
    def script(exchange: Exchange) -> None:
        data = frame(TEXT, b" " * 2000)  # 200 s at one byte per 100 ms
        trickle(data, every=0.1)(exchange)

    hostile.on("GET", EVENTS, websocket(script), times=1)
    exporter = start_exporter(url=hostile.url, stream_timeout_seconds=0.6)  # pings every 0.2 s
    account = streamed_account(hostile)

    def disconnected() -> bool:
        count = series(scrape(exporter), "een_stream_disconnects_total", account_id=account)
        return (count or 0) >= 1

    wait_for(disconnected, timeout=5, message="the trickling stream given up")
    assert 'reason="no message for 0.6s (stalled connection)"' in log_lines()


# --- issue 8: random bad messages on one account's stream ---------------------------------------

# Envelopes of every wrong shape and raw bytes; not the codes that end a session (401, 412),
# which reconnect by design.
BAD_MESSAGES = envelopes().filter(lambda e: e["status_code"] not in (401, 412)).map(to_json).map(
    str.encode
) | st.binary(max_size=100)
ON = 1 << 17  # status bit 17: the camera is switched on


def test_random_bad_messages_leave_the_stream_and_the_other_accounts_alone(
    start_exporter: StartExporter,
    hostile: HostileServer,
    control: SimulatorControl,
    log_lines: Callable[[], str],
) -> None:
    target, *others = sub_accounts(control)
    snapshot = {d["id"]: {"status": d["status"]} for d in target["devices"]}
    camera = next(d["id"] for d in target["devices"] if d["type"] == "camera")
    feed: queue.Queue[bytes] = queue.Queue()

    def script(exchange: Exchange) -> None:
        exchange.send(frame(TEXT, json.dumps({"status_code": 200, "data": snapshot}).encode()))
        while not exchange.stopping.is_set():
            try:
                data = frame(TEXT, feed.get(timeout=0.2))
            except queue.Empty:
                data = frame(PING, b"")  # keeps a quiet stream from counting as stalled
            if not exchange.send(data):
                return

    hostile.on("GET", f"/api/v2/Device/{target['id']}/Events", websocket(script))
    exporter = start_exporter(url=hostile.url)
    wait_ready(exporter)
    sent = [1]  # the snapshot
    markers = itertools.cycle([0x100025, 0x1E0037])  # off, then on and recording, and again
    last = [0]

    @fuzz(examples=15)
    @given(st.lists(BAD_MESSAGES, min_size=1, max_size=10))
    def feed_batch(batch: list[bytes]) -> None:
        # A valid message after the batch: once it counts, the whole batch was read.
        last[0] = next(markers)
        marker = {"status_code": 200, "data": {camera: {"status": last[0]}}}
        for payload in [*batch, json.dumps(marker).encode()]:
            feed.put(payload)
        sent[0] += len(batch) + 1

        def counted() -> float:
            return metric(exporter, "een_stream_messages_total", account_id=target["id"])

        wait_for(lambda: counted() == sent[0], message=f"{sent[0]} messages counted")

    feed_batch()
    samples = scrape(exporter)
    assert series(samples, "een_stream_disconnects_total", account_id=target["id"]) == 0
    assert series(samples, "een_camera_on", camera_id=camera) == bool(last[0] & ON)
    assert [t for t in threading.enumerate() if t.name == f"een-stream-{target['id']}"]
    unexpected = [v for (name, _), v in samples.items() if name.startswith("een_exporter_unexp")]
    assert sum(unexpected) == 0
    assert "malformed stream message ignored" in log_lines()
    for account in others:  # untouched: connected once, every camera as the simulator has it
        assert series(samples, "een_stream_up", account_id=account["id"]) == 1
        assert series(samples, "een_stream_disconnects_total", account_id=account["id"]) == 0
        for device in account["devices"]:
            if device["type"] == "camera":
                on = series(samples, "een_camera_on", camera_id=device["id"])
                assert on == bool(device["status"] & ON), device


# --- issue 19 item 14: hostile frames cost a few log lines, not megabytes ---------------------


def hostile_frames(devices: int = 10_000) -> list[bytes]:
    """Five frames, each asking for one warning per device or one enormous line: they made
    30,002 lines (8.9 MB), one of them 1 MB and the malformed-status one 510 KB."""
    ids = [f"{i:08x}" for i in range(devices)]
    bad_stats = {"timestamp": "20250101120000.000", "delta_expected": 1, "delta_rcvd": -1}
    refused = [{"status_code": 404, "message": "resolve invalid " + "x" * 200}]
    frames = [
        {"status_code": 200, "data": {esn: {"event": {"CSSU": bad_stats}} for esn in ids}},
        {"status_code": 200, "data": {esn: {"event": []} for esn in ids}},
        {"status_code": 200, "data": {esn: {"error": refused} for esn in ids}},
        {"status_code": 200, "data": {esn: {"status": "x" * 100} for esn in ids}},
        {"status_code": 500, "message": "y" * 1_000_000},
    ]
    return [json.dumps(f).encode() for f in frames]


@pytest.fixture
def written_log() -> Iterator[io.StringIO]:
    """The exporter's log as it writes it (rate limit included), into a buffer."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    buffer = io.StringIO()
    configure_logging("info", LogFormat.LOGFMT, buffer)
    try:
        yield buffer
    finally:
        for handler in list(root.handlers):
            if isinstance(handler.formatter, LineFormatter) and handler not in saved_handlers:
                root.removeHandler(handler)
        root.setLevel(saved_level)


def test_five_hostile_frames_cost_a_few_short_log_lines(
    start_exporter: StartExporter,
    hostile: HostileServer,
    control: SimulatorControl,
    written_log: io.StringIO,
) -> None:
    frames = hostile_frames()
    cameras = {
        a["id"]: next(d["id"] for d in a["devices"] if d["type"] == "camera")
        for a in sub_accounts(control)
    }

    def script(exchange: Exchange) -> None:
        camera = cameras[exchange.request.path.split("/")[4]]
        marker = {"status_code": 200, "data": {camera: {"status": 0x100025}}}
        exchange.send(b"".join(frame(TEXT, f) for f in [*frames, json.dumps(marker).encode()]))
        hold(exchange)

    hostile.on("GET", EVENTS, websocket(script), times=1)
    exporter = start_exporter(url=hostile.url)
    account = streamed_account(hostile)
    wait_for(
        lambda: metric(exporter, "een_stream_messages_total", account_id=account) == 6,
        message="the five frames and the marker read",
    )
    assert metric(exporter, "een_camera_status", camera_id=cameras[account], status="off") == 1
    assert metric(exporter, "een_stream_disconnects_total", account_id=account) == 0
    stream_lines = [
        line for line in written_log.getvalue().splitlines()
        if "logger=exporter.een.stream" in line and "level=warning" in line
    ]  # fmt: skip
    # Four causes: bad events, refused devices, malformed statuses, the stream error.
    assert len(stream_lines) <= 2 * RATE_BURST + 2, len(stream_lines)
    assert sum(len(line) + 1 for line in stream_lines) < 32 * 1024
    assert max(len(line) for line in stream_lines) <= LINE_LIMIT
    [status_line] = [line for line in stream_lines if "malformed device status" in line]
    assert len(status_line) < 4096
    assert "…[cut, " in status_line
