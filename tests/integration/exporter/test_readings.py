"""Where EEN's docs are ambiguous the simulator plays each reading (docs/simulator.md); the
exporter survives every one: each test ends with /metrics equal to /_sim/state, no change
lost, and a log line that says what happened."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from bench.soak import compare
from exporter.app import Exporter
from exporter.simulator import Simulator
from exporter.simulator.client import SimulatorControl
from tests.integration.exporter.conftest import StartExporter, scrape, sub_accounts, wait_ready
from tests.integration.exporter.test_resilience import all_streams_up
from tests.integration.hostile import HostileServer, forward
from tests.support import series, wait_for

OFF = 0x100025  # registered, camera off: a status every reading must deliver


def agreement(exporter: Exporter, control: SimulatorControl) -> list[str]:
    """What /metrics and /_sim/state disagree on (empty: they agree)."""
    metrics = requests.get(exporter.url + "/metrics", timeout=5).text
    return compare(control.state(), metrics)[0]


def wait_agreement(exporter: Exporter, control: SimulatorControl, timeout: float = 10) -> None:
    wait_for(
        lambda: not agreement(exporter, control),
        timeout=timeout,
        message="/metrics to equal /_sim/state",
    )


def count(exporter: Exporter, name: str, **labels: str) -> float:
    value = series(scrape(exporter), name, **labels)
    assert value is not None, f"{name}{labels} missing"
    return value


def stream_down_reasons(log_lines: Callable[[], str], account_id: str) -> list[str]:
    return [
        line.split('reason="', 1)[1].split('"', 1)[0]
        for line in log_lines().splitlines()
        if 'msg="stream down"' in line and f"account_id={account_id}" in line
    ]


def first_camera(account: dict[str, Any]) -> dict[str, Any]:
    return next(d for d in account["devices"] if d["type"] == "camera" and d["status"] != OFF)


# What the exporter logs when the stream learns of the lost session, per reading.
LOSS_REASONS = {
    "http": "stream says 412 auth lost",
    "message": "stream says 412 auth lost",
    "close": "closed by the server (1000)",
}


@pytest.mark.parametrize("snapshot", ["per-camera", "batched"])
@pytest.mark.parametrize("session_loss", ["http", "message", "close"])
def test_a_lost_session_is_replaced_whatever_the_stream_says(
    start_exporter: StartExporter,
    control: SimulatorControl,
    log_lines: Callable[[], str],
    session_loss: str,
    snapshot: str,
) -> None:
    control.set_readings(session_loss=session_loss, snapshot=snapshot, inactive_minutes=0)
    exporter = start_exporter()
    wait_ready(exporter)  # every first snapshot arrived, in whichever shape
    accounts = sub_accounts(control)
    logins = count(exporter, "een_api_requests_total", endpoint="authenticate")
    control.auth_lost()
    camera = first_camera(accounts[0])
    control.set_status(camera["id"], OFF)  # made while the sessions are gone

    def relogged() -> bool:
        again = count(exporter, "een_api_requests_total", endpoint="authenticate")
        connects = [
            count(exporter, "een_stream_connects_total", account_id=a["id"]) for a in accounts
        ]
        return again >= logins + len(accounts) and connects == [2] * len(accounts)

    wait_for(relogged, message="a new login and a second connection per stream")
    wait_agreement(exporter, control)
    for account in accounts:
        # One outage per stream, named as the stream told it: no second failed attempt.
        assert stream_down_reasons(log_lines, account["id"]) == [LOSS_REASONS[session_loss]]
    assert count(exporter, "een_login_failures_total") == 0


# What the exporter logs when a stream is opened without a valid session, per reading.
HANDSHAKE_REASONS = {
    "http": "stream handshake refused: HTTP 401",
    "message": "stream says 401 access denied",
    "close": "closed by the server (1000)",
}
STALE_COOKIE = "auth_key=c001~" + "0" * 32  # a session key the cloud does not know


@pytest.mark.parametrize("session_loss", ["http", "message", "close"])
def test_a_stream_opened_without_a_valid_session(
    start_exporter: StartExporter,
    control: SimulatorControl,
    sim: Simulator,
    hostile: HostileServer,
    log_lines: Callable[[], str],
    session_loss: str,
) -> None:
    control.set_readings(session_loss=session_loss, inactive_minutes=0)
    # The first handshake goes out with a key the cloud does not know, as when the session
    # ends between the device list and the handshake.
    stream_path = r"/api/v2/Device/[^/]+/Events"
    hostile.on("GET", stream_path, forward(sim.url, Cookie=STALE_COOKIE), times=1)
    exporter = start_exporter(url=hostile.url)
    accounts = sub_accounts(control)
    ids = [a["id"] for a in accounts]
    wait_for(lambda: all_streams_up(exporter, ids), message="every stream up")
    camera = first_camera(accounts[0])
    control.set_status(camera["id"], OFF)
    wait_agreement(exporter, control)
    reasons = [reason for a in ids for reason in stream_down_reasons(log_lines, a)]
    assert reasons == [HANDSHAKE_REASONS[session_loss]]


@pytest.mark.parametrize(
    ("activity", "session_loss"),
    [
        ("requests", "http"),
        ("requests", "message"),
        ("requests", "close"),
        ("requests+streams", "close"),
    ],
)
def test_keep_alives_beat_the_inactivity_timeout(
    start_exporter: StartExporter,
    control: SimulatorControl,
    log_lines: Callable[[], str],
    activity: str,
    session_loss: str,
) -> None:
    # 1.8 s: the user object says 0.03 (minutes), which the exporter reads as it reads 15.
    control.set_readings(inactive_minutes=0.03, activity=activity, session_loss=session_loss)
    exporter = start_exporter()  # device refresh 300 s: only keep-alives call EEN meanwhile
    wait_ready(exporter)
    accounts = sub_accounts(control)
    # Two keep-alives per stream (at least 1 s apart, the first within 1.25 s of the last
    # call): past the 1.8 s timeout, which would have ended the sessions without them.
    wait_for(
        lambda: count(exporter, "een_api_requests_total", endpoint="isauth") >= 2 * len(accounts),
        timeout=15,
        message="two keep-alives per stream",
    )
    camera = first_camera(accounts[0])
    control.set_status(camera["id"], OFF)
    wait_agreement(exporter, control)
    for account in accounts:
        assert count(exporter, "een_stream_connects_total", account_id=account["id"]) == 1
        assert stream_down_reasons(log_lines, account["id"]) == []
    assert count(exporter, "een_api_request_failures_total", endpoint="isauth") == 0


def test_a_failed_keep_alive_is_tried_again_in_time(
    start_exporter: StartExporter, control: SimulatorControl, log_lines: Callable[[], str]
) -> None:
    control.set_readings(inactive_minutes=0.03, activity="requests")  # 1.8 s
    exporter = start_exporter()
    wait_ready(exporter)
    accounts = sub_accounts(control)
    control.http_fault(503, 1)  # the next REST call: one stream's first keep-alive
    wait_for(
        lambda: (
            count(exporter, "een_api_requests_total", endpoint="isauth") >= 2 * len(accounts) + 1
        ),
        timeout=15,
        message="two keep-alives per stream and the failed one",
    )
    assert count(exporter, "een_api_request_failures_total", endpoint="isauth") == 1
    [line] = [line for line in log_lines().splitlines() if "session keep-alive failed" in line]
    assert 'reason="isauth: HTTP 503 Service Unavailable"' in line
    camera = first_camera(accounts[0])
    control.set_status(camera["id"], OFF)
    wait_agreement(exporter, control)
    for account in accounts:  # the stream that met the 503 kept its session too
        assert count(exporter, "een_stream_connects_total", account_id=account["id"]) == 1


@pytest.mark.parametrize("foreign_esn", ["404", "401"])
def test_a_camera_moved_away_before_the_subscription_fails_alone(
    start_exporter: StartExporter,
    control: SimulatorControl,
    log_lines: Callable[[], str],
    foreign_esn: str,
) -> None:
    control.set_readings(foreign_esn=foreign_esn, inactive_minutes=0)
    exporter = start_exporter(stream_timeout_seconds=1.0, device_refresh_seconds=1.0)
    wait_ready(exporter)
    source, target, *_ = sub_accounts(control)
    camera = first_camera(source)
    # Hold the source account's reconnect in its handshake, after the device list was read,
    # then move the camera: the exporter subscribes a camera of another account.
    control.stall_streams(source["id"])
    wait_for(
        lambda: control.state()["faults"]["held_handshakes"] == 1,
        message="the reconnect held in its handshake",
    )
    logins = count(exporter, "een_api_requests_total", endpoint="authenticate")
    control.move_device(camera["id"], target["id"])
    control.reset()
    wanted = ("device refused by the stream", f"device_id={camera['id']}", f"code={foreign_esn}")
    wait_for(
        lambda: any(all(part in line for part in wanted) for line in log_lines().splitlines()),
        message=f"the refusal ({foreign_esn}) logged",
    )
    wait_agreement(exporter, control)  # the camera now under the target account
    # A refused camera is no lost session: the stream stays, nobody logs in again.
    assert count(exporter, "een_api_requests_total", endpoint="authenticate") == logins
    assert count(exporter, "een_stream_connects_total", account_id=source["id"]) == 2
