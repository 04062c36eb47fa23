"""The exporter in API v3 mode against a hostile SSE stream (issue 19, items 5 and 6).

The hostile server stands in front of the simulator; the simulator names it in each
subscription's sseUrl (it answers with the Host the client used), so a rule on the SSE path
answers the exporter's stream itself: an endless line, a 50 MB event, a trickle, or endless
distinct undocumented statuses. Everything else passes through to the simulator.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator

import pytest
import requests

from exporter.app import Exporter
from exporter.simulator import Simulator
from exporter.simulator.client import SimulatorControl
from exporter.simulator.v3.tokens import V3Settings
from exporter.state.status import CONNECTION_STATUSES, UNDOCUMENTED
from exporter.v3.sse import MAX_EVENT_BYTES
from exporter.v3.stream import Undocumented
from tests.integration.hostile import Exchange, HostileServer, hold, response_head
from tests.integration.v3.conftest import (
    KEEPALIVE,
    StartExporter,
    scrape,
    truth,
    wait_matching,
    wait_ready,
)
from tests.support import series, wait_for

SSE = r"/sse/v3\.0/eventSubscriptions/[^/]+"
MB = 1000 * 1000
Reply = Callable[[Exchange], None]


@pytest.fixture
def hostile(sim: Simulator) -> Iterator[HostileServer]:
    with HostileServer(sim.url) as server:
        yield server


def sse_head() -> bytes:
    """A 200 text/event-stream answer whose body ends when the connection does."""
    return response_head(200, [("Content-Type", "text/event-stream")], length=None)


def keep_alives(exchange: Exchange) -> None:
    while exchange.send(b": keepalive\n\n") and exchange.pause(KEEPALIVE):
        pass


def endless_line(exchange: Exchange) -> None:
    """`data: xxx…` with no line end: 16 MiB as fast as the client reads, then silence."""
    if exchange.send(sse_head() + b"data: "):
        block = b"x" * 65536
        for _ in range(256):
            if not exchange.send(block):
                return
        hold(exchange)


def huge_event(exchange: Exchange) -> None:
    """One 50 MB event, then a keep-alive now and then."""
    if not exchange.send(sse_head() + b'data: {"pad": "'):
        return
    block = b"x" * MB
    for _ in range(50):
        if not exchange.send(block):
            return
    if exchange.send(b'"}\n\n'):
        keep_alives(exchange)


def trickled_event(exchange: Exchange) -> None:
    """An event one byte every 0.25 s: well inside any read timeout, never a whole event."""
    if exchange.send(sse_head()):
        for byte in b'data: {"type": "een.deviceCloudStatusUpdateEvent.v1"}' * 10:
            if not exchange.send(bytes([byte])) or not exchange.pause(0.25):
                return


def status_event(camera: str, status: str) -> bytes:
    event = {
        "id": status,
        "type": "een.deviceCloudStatusUpdateEvent.v1",
        "startTimestamp": "2026-01-01T00:00:00.000+00:00",
        "endTimestamp": None,
        "actorType": "camera",
        "actorId": camera,
        "data": [
            {"type": "een.deviceCloudStatusUpdate.v1", "newStatus": {"connectionStatus": status}}
        ],
    }
    return b"data: " + json.dumps(event).encode() + b"\n\n"


def undocumented_statuses(cameras: list[str], count: int) -> Reply:
    """`count` events, each a distinct undocumented status of one of `cameras` in turn (each
    account's stream gets them all; it applies those of its own cameras), then keep-alives."""

    def reply(exchange: Exchange) -> None:
        events = [
            status_event(cameras[index % len(cameras)], f"someDayNewValue{index:06d}")
            for index in range(count)
        ]
        if exchange.send(sse_head() + b"".join(events)):
            keep_alives(exchange)

    return reply


def accounts_of(sim: Simulator) -> list[str]:
    return sorted(truth(sim))


def stream_value(exporter: Exporter, name: str, account: str) -> float:
    return series(scrape(exporter), name, account_id=account) or 0.0


def serve(hostile: HostileServer, reply: Reply) -> int:
    """Every SSE GET from now on gets `reply`; the streams are cut to make it so. The number
    of SSE GETs before."""
    hostile.on("GET", SSE, reply)
    before = len(hostile.requests("GET", SSE))
    hostile.cut()
    return before


def start(start_exporter: StartExporter, hostile: HostileServer, sim: Simulator) -> Exporter:
    exporter = start_exporter(url=hostile.url)
    wait_ready(exporter)
    wait_matching(exporter, sim)
    return exporter


def recovers(exporter: Exporter, hostile: HostileServer, sim: Simulator) -> None:
    hostile.clear()
    hostile.cut()
    wait_for(
        lambda: all(stream_value(exporter, "een_stream_up", a) == 1 for a in accounts_of(sim)),
        message="every stream back up",
    )
    wait_matching(exporter, sim)


@pytest.mark.parametrize("reply", [endless_line, huge_event], ids=["endless-line", "50MB-event"])
def test_a_runaway_event_ends_the_attempt_at_the_cap(
    sim: Simulator,
    hostile: HostileServer,
    start_exporter: StartExporter,
    caplog: pytest.LogCaptureFixture,
    reply: Reply,
) -> None:
    exporter = start(start_exporter, hostile, sim)
    caplog.set_level(logging.WARNING)
    accounts = accounts_of(sim)
    before = serve(hostile, reply)
    # Each attempt reads 1 MiB of it, gives up and retries after the backoff (at most
    # 0.5 s here): the stream is down, and not spinning on the line or buffering it.
    wait_for(
        lambda: len(hostile.requests("GET", SSE)) >= before + 3 * len(accounts),
        timeout=8.0,
        message="every stream to give up on it and retry, twice",
    )
    wait_for(
        lambda: all(stream_value(exporter, "een_stream_up", a) == 0 for a in accounts),
        message="een_stream_up 0",
    )
    reasons = {getattr(r, "reason", "") for r in caplog.records if r.getMessage() == "stream down"}
    assert f"event of more than {MAX_EVENT_BYTES} bytes" in reasons, reasons
    recovers(exporter, hostile, sim)


def test_a_trickled_event_is_a_stall(
    sim: Simulator, hostile: HostileServer, start_exporter: StartExporter
) -> None:
    exporter = start(start_exporter, hostile, sim)
    accounts = accounts_of(sim)
    disconnects = {a: stream_value(exporter, "een_stream_disconnects_total", a) for a in accounts}
    before = serve(hostile, trickled_event)
    wait_for(
        lambda: len(hostile.requests("GET", SSE)) >= before + len(accounts),
        message="every stream on the trickle",
    )
    trickling_since = time.monotonic()
    # A byte every 0.25 s never lets a read time out; no whole event for the stream timeout
    # (2 s) is a stall all the same, noticed within a third of it more.
    wait_for(
        lambda: len(hostile.requests("GET", SSE)) >= before + 2 * len(accounts),
        timeout=5.0,
        message="every trickled stream left and reopened",
    )
    print(f"trickled streams left after {time.monotonic() - trickling_since:.1f} s")
    samples = scrape(exporter)
    for account in accounts:
        assert (series(samples, "een_stream_disconnects_total", account_id=account) or 0) >= (
            disconnects[account] + 2
        )
    recovers(exporter, hostile, sim)


@pytest.mark.parametrize("v3_settings", [V3Settings(sse_keepalive_seconds=0)])
def test_the_device_refresh_runs_on_time_on_a_silent_stream(
    sim: Simulator, start_exporter: StartExporter
) -> None:
    # No event and no keep-alive at all, and a stream timeout far away: the refresh (every
    # 0.5 s here) must not wait for an event to wake the reader.
    exporter = start_exporter(device_refresh_seconds=0.5, stream_timeout_seconds=30.0)
    wait_ready(exporter)
    wait_matching(exporter, sim)
    account = accounts_of(sim)[0]
    bridge = next(esn for esn, (kind, _) in truth(sim)[account].items() if kind == "bridge")
    connects = stream_value(exporter, "een_stream_connects_total", account)
    with SimulatorControl(sim.url) as control:
        added = control.add_device(account, "camera", "Added on a silent stream", bridge)
    wait_for(
        lambda: series(scrape(exporter), "een_camera_info", camera_id=added) == 1,
        timeout=3.0,
        message="the new camera, by the device refresh",
    )
    assert stream_value(exporter, "een_stream_connects_total", account) == connects
    assert stream_value(exporter, "een_stream_up", account) == 1


def test_endless_distinct_undocumented_statuses_cost_a_bounded_amount(
    sim: Simulator,
    hostile: HostileServer,
    start_exporter: StartExporter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    exporter = start(start_exporter, hostile, sim)
    caplog.set_level(logging.WARNING)
    accounts = accounts_of(sim)
    world = truth(sim)
    cameras = sorted(
        esn for a in accounts for esn, (kind, _) in world[a].items() if kind == "camera"
    )
    count = 3000
    messages = {a: stream_value(exporter, "een_stream_messages_total", a) for a in accounts}
    serve(hostile, undocumented_statuses(cameras, count))
    wait_for(
        lambda: all(
            stream_value(exporter, "een_stream_messages_total", a) >= messages[a] + count
            for a in accounts
        ),
        message=f"{count} events applied by every stream",
    )
    # Logged: each of the first distinct values per account once, then a count now and then.
    warnings = [r for r in caplog.records if "undocumented connectionStatus" in r.getMessage()]
    assert len(warnings) <= len(accounts) * (Undocumented.REMEMBERED + 1), len(warnings)
    # The store holds one string for them all, however many distinct values came.
    _, _, health = exporter.store.health()
    held = {status for account in health for status in account.cameras_by_status}
    assert held <= {*CONNECTION_STATUSES, UNDOCUMENTED}, sorted(held)[:5]
    assert UNDOCUMENTED in held
    # /metrics shows them as documented: 0 in all seven, not online, no new label value.
    samples = scrape(exporter)
    for camera in cameras:
        lines = {
            dict(labels)["status"]: value
            for (name, labels), value in samples.items()
            if name == "een_camera_status" and ("camera_id", camera) in labels
        }
        assert lines == dict.fromkeys(CONNECTION_STATUSES, 0)
        assert series(samples, "een_camera_online", camera_id=camera) == 0
    page = requests.get(exporter.url + "/", timeout=5).text
    assert f"{UNDOCUMENTED}: {len(cameras)}" in page
    recovers(exporter, hostile, sim)
