"""Faults in the EEN cloud: the exporter notices, reconnects, and keeps what it knows."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

import pytest
import requests

from exporter.app import Exporter
from exporter.een import api, stream
from exporter.een.messages import parse_message
from exporter.een.rows import parse_accounts
from exporter.simulator.client import SimulatorControl
from tests.integration.exporter.conftest import StartExporter, scrape, sub_accounts, wait_ready
from tests.support import series, wait_for

T = TypeVar("T")
R = TypeVar("R")


def counter(exporter: Exporter, name: str, **labels: str) -> float:
    value = series(scrape(exporter), name, **labels)
    assert value is not None, f"{name}{labels} missing"
    return value


def wait_disconnects(exporter: Exporter, account: str, at_least: int, timeout: float) -> None:
    def counted() -> bool:
        return counter(exporter, "een_stream_disconnects_total", account_id=account) >= at_least

    wait_for(counted, timeout=timeout, message=f"{at_least} disconnect(s) counted for {account}")


def all_streams_up(exporter: Exporter, accounts: list[str]) -> bool:
    samples = scrape(exporter)
    return all(series(samples, "een_stream_up", account_id=a) == 1 for a in accounts)


def test_dropped_streams_reconnect_and_resync(
    start_exporter: StartExporter, control: SimulatorControl
) -> None:
    exporter = start_exporter()
    wait_ready(exporter)
    accounts = [a["id"] for a in sub_accounts(control)]
    camera = next(d for d in sub_accounts(control)[0]["devices"] if d["type"] == "camera")
    assert control.drop_streams() == 3
    # A change made while the streams are down must show after the resync.
    control.set_status(camera["id"], 0x100025)  # switched off
    for account in accounts:
        wait_disconnects(exporter, account, at_least=1, timeout=10)
    wait_for(lambda: all_streams_up(exporter, accounts), message="every stream back up")
    samples = scrape(exporter)
    for account in accounts:
        assert series(samples, "een_stream_connects_total", account_id=account) == 2
    off = series(samples, "een_camera_status", camera_id=camera["id"], status="off")
    assert off == 1


def test_auth_lost_makes_every_stream_log_in_again(
    start_exporter: StartExporter, control: SimulatorControl
) -> None:
    exporter = start_exporter()
    wait_ready(exporter)
    accounts = [a["id"] for a in sub_accounts(control)]
    logins = counter(exporter, "een_api_requests_total", endpoint="authenticate")
    control.auth_lost()

    def relogged() -> bool:
        again = counter(exporter, "een_api_requests_total", endpoint="authenticate")
        return again >= logins + 3 and all_streams_up(exporter, accounts)

    wait_for(relogged, message="three new logins and every stream up")
    assert counter(exporter, "een_login_failures_total") == 0


def test_http_errors_are_retried_with_backoff(
    start_exporter: StartExporter, control: SimulatorControl
) -> None:
    control.http_fault(503, 3)
    exporter = start_exporter()
    wait_ready(exporter)
    failed = counter(exporter, "een_api_request_failures_total", endpoint="authenticate")
    assert failed == 3  # the discovery login failed three times, then got through
    control.http_fault(429, 2)
    control.drop_streams()
    accounts = [a["id"] for a in sub_accounts(control)]
    # The streams must be seen to drop first: right after drop_streams they may still show up.
    for account in accounts:
        wait_disconnects(exporter, account, at_least=1, timeout=10)
    wait_for(lambda: all_streams_up(exporter, accounts), message="streams back after 429s")
    samples = scrape(exporter)
    failures = sum(v for (n, _), v in samples.items() if n == "een_api_request_failures_total")
    assert failures == 5


def test_a_stalled_stream_is_detected_and_replaced(
    start_exporter: StartExporter, control: SimulatorControl
) -> None:
    exporter = start_exporter(stream_timeout_seconds=1.5)
    wait_ready(exporter)
    accounts = [a["id"] for a in sub_accounts(control)]
    control.stall_streams()
    for account in accounts:
        wait_disconnects(exporter, account, at_least=1, timeout=5)
    control.reset()
    wait_for(lambda: all_streams_up(exporter, accounts), message="streams back after the stall")


def test_one_accounts_failure_leaves_the_others_untouched(
    start_exporter: StartExporter, control: SimulatorControl
) -> None:
    exporter = start_exporter()
    wait_ready(exporter)
    broken, *healthy = sub_accounts(control)
    camera = next(d for d in broken["devices"] if d["type"] == "camera")
    control.delete_account(broken["id"])
    wait_for(
        lambda: series(scrape(exporter), "een_stream_up", account_id=broken["id"]) == 0,
        message="the deleted account's stream down",
    )
    # Its cameras keep their last known values while the stream is down.
    assert series(scrape(exporter), "een_camera_info", camera_id=camera["id"]) == 1
    # The others still stream, on their first connection, and still follow changes.
    other = next(d for d in healthy[0]["devices"] if d["type"] == "camera")
    control.set_status(other["id"], 0x120120)
    wait_for(
        lambda: series(scrape(exporter), "een_camera_status", camera_id=other["id"],
                       status="password_needed") == 1,
        message="a change in a healthy account",
    )  # fmt: skip
    samples = scrape(exporter)
    for account in healthy:
        assert series(samples, "een_stream_up", account_id=account["id"]) == 1
        assert series(samples, "een_stream_disconnects_total", account_id=account["id"]) == 0
    ready = requests.get(exporter.url + "/readyz", timeout=5)
    assert ready.status_code == 200  # every account had its first snapshot before the fault


def test_stop_cuts_a_hanging_handshake(
    start_exporter: StartExporter, control: SimulatorControl
) -> None:
    exporter = start_exporter(stream_timeout_seconds=1.0)
    wait_ready(exporter)
    account = sub_accounts(control)[0]["id"]
    control.stall_streams(account)  # its next handshake gets no answer until reset
    wait_disconnects(exporter, account, at_least=1, timeout=5)
    wait_for(
        lambda: control.state()["faults"]["held_handshakes"] == 1,
        message="the exporter's reconnect hanging in the handshake",
    )
    started = time.monotonic()
    stuck = exporter.stop()
    assert stuck == []
    assert time.monotonic() - started < 5


def boundary_lines(log_lines: Callable[[], str], text: str) -> list[str]:
    """Lines about `text` at info level or above (a traceback may follow at debug)."""
    return [line for line in log_lines().splitlines() if text in line and "level=debug" not in line]


def fails_once_in_new_threads(function: Callable[[T], R]) -> Callable[[T], R]:
    """`function`, but the first call from a thread started after this one raises a bug.

    Threads that other tests' exporters left behind call the same module: only the exporter
    started from now on may meet the bug.
    """
    earlier = set(threading.enumerate())
    calls: list[T] = []

    def buggy(argument: T) -> R:
        if threading.current_thread() not in earlier:
            calls.append(argument)
            if len(calls) == 1:
                raise RuntimeError("simulated bug")
        return function(argument)

    return buggy


def test_a_bug_in_discovery_is_logged_once_counted_and_outlived(
    start_exporter: StartExporter,
    monkeypatch: pytest.MonkeyPatch,
    log_lines: Callable[[], str],
) -> None:
    monkeypatch.setattr(api, "parse_accounts", fails_once_in_new_threads(parse_accounts))
    exporter = start_exporter()
    wait_ready(exporter)
    errors = counter(exporter, "een_exporter_unexpected_errors_total", thread="discovery")
    assert errors == 1
    [line] = boundary_lines(log_lines, "simulated bug")
    assert 'msg="account discovery failed"' in line
    assert 'reason="unexpected error: RuntimeError: simulated bug"' in line
    assert "stack=" not in line


def test_a_bug_in_a_stream_is_logged_once_counted_and_outlived(
    start_exporter: StartExporter,
    control: SimulatorControl,
    monkeypatch: pytest.MonkeyPatch,
    log_lines: Callable[[], str],
) -> None:
    monkeypatch.setattr(stream, "parse_message", fails_once_in_new_threads(parse_message))
    exporter = start_exporter()
    wait_ready(exporter)
    # A stream is up once subscribed, before its first message (the one that hits the bug).
    wait_for(
        lambda: counter(exporter, "een_exporter_unexpected_errors_total", thread="stream"),
        message="the bug counted",
    )
    accounts = [a["id"] for a in sub_accounts(control)]
    wait_for(lambda: all_streams_up(exporter, accounts), message="every stream up")
    assert counter(exporter, "een_exporter_unexpected_errors_total", thread="stream") == 1
    [line] = boundary_lines(log_lines, "simulated bug")
    assert 'msg="stream down"' in line
    assert 'reason="unexpected error: RuntimeError: simulated bug"' in line
