"""The exporter in API v3 mode against the simulator: what /metrics shows, how fast changes
arrive, and how it rides out token expiry, rotation, restarts, cut and stalled streams,
401 and 429 (docs/een-api-v3.md)."""

from __future__ import annotations

import logging
import time

import pytest
import requests

from exporter.simulator import Simulator
from tests.integration.v3.conftest import (
    StartExporter,
    expected,
    scrape,
    set_status,
    shown,
    sim_post,
    truth,
    wait_matching,
    wait_ready,
)
from tests.support import Sample, series, wait_for

V1_ONLY_FAMILIES = (
    "een_camera_on",
    "een_camera_streaming",
    "een_camera_recording",
    "een_camera_events_total",
    "een_camera_last_event_timestamp_seconds",
    "een_camera_stream_packets_expected_total",
    "een_camera_stream_packets_received_total",
    "een_bridge_boots_total",
    "een_bridge_restarts_total",
    "een_bridge_cloud_connects_total",
    "een_bridge_cloud_disconnects_total",
    "een_bridge_last_cloud_disconnect_duration_seconds",
)


def a_camera(sim: Simulator, account: str | None = None) -> tuple[str, str, str]:
    """(account id, camera id, its connectionStatus) of some camera."""
    for account_id, devices in sorted(truth(sim).items()):
        if account is not None and account_id != account:
            continue
        for esn, (kind, status) in sorted(devices.items()):
            if kind == "camera":
                return account_id, esn, status
    raise AssertionError("no camera")


def other_than(status: str) -> str:
    return "deviceOffline" if status == "online" else "online"


def camera_status(samples: dict[Sample, float], account: str, esn: str) -> str | None:
    return shown(samples).get(account, {}).get(esn, ("", ""))[1] or None


def test_metrics_equal_the_simulators_world(sim: Simulator, start_exporter: StartExporter) -> None:
    exporter = start_exporter()
    wait_ready(exporter)
    wait_matching(exporter, sim)
    samples = scrape(exporter)
    world = truth(sim)
    assert len(world) == 3
    assert all(len(devices) == 5 for devices in world.values())
    for account, devices in world.items():
        assert series(samples, "een_stream_up", account_id=account) == 1
        for esn, (kind, status) in devices.items():
            if kind != "camera":
                continue
            online = series(samples, "een_camera_online", account_id=account, camera_id=esn)
            assert online == (status == "online")
            # Every documented value is a series; exactly one is 1.
            lines = [
                value
                for (name, labels), value in samples.items()
                if name == "een_camera_status" and ("camera_id", esn) in labels
            ]
            assert sorted(lines) == [0, 0, 0, 0, 0, 0, 1]
    # What v3 cannot tell is absent, never guessed.
    names = {name for name, _ in samples}
    assert not names & set(V1_ONLY_FAMILIES)
    assert "een_camera_last_update_timestamp_seconds" in names
    assert series(samples, "een_api_requests_total", endpoint="device_list") is None


def test_a_change_reaches_metrics_within_2_s_through_sse(
    sim: Simulator, start_exporter: StartExporter
) -> None:
    exporter = start_exporter()
    wait_ready(exporter)
    wait_matching(exporter, sim)
    account, esn, status = a_camera(sim)
    before = scrape(exporter)
    listings = series(before, "een_api_requests_total", endpoint="cameras")
    messages = series(before, "een_stream_messages_total", account_id=account)
    new = other_than(status)
    set_status(sim, esn, new)
    changed_at = time.monotonic()
    wait_for(
        lambda: camera_status(scrape(exporter), account, esn) == new,
        timeout=2.0,
        message=f"{esn} to show {new}",
    )
    print(f"change on /metrics after {time.monotonic() - changed_at:.3f} s")
    after = scrape(exporter)
    # Through the stream: no device list was read meanwhile, and SSE messages were counted.
    assert series(after, "een_api_requests_total", endpoint="cameras") == listings
    assert (series(after, "een_stream_messages_total", account_id=account) or 0) > (messages or 0)
    assert series(after, "een_camera_online", account_id=account, camera_id=esn) == (
        new == "online"
    )


def test_a_cut_stream_recovers_and_resyncs(sim: Simulator, start_exporter: StartExporter) -> None:
    exporter = start_exporter()
    wait_ready(exporter)
    wait_matching(exporter, sim)
    account, esn, status = a_camera(sim)
    connects = series(scrape(exporter), "een_stream_connects_total", account_id=account) or 0
    assert sim_post(sim, "/_sim/faults/v3/drop-sse", {"account_id": account})["dropped"] == 1
    set_status(sim, esn, other_than(status))  # maybe while no stream listens: the re-list finds it
    wait_for(
        lambda: (
            (series(scrape(exporter), "een_stream_connects_total", account_id=account) or 0)
            > connects
        ),
        message="a reconnect",
    )
    wait_matching(exporter, sim, timeout=5.0)
    samples = scrape(exporter)
    assert series(samples, "een_stream_up", account_id=account) == 1
    assert (series(samples, "een_stream_disconnects_total", account_id=account) or 0) >= 1


def test_a_stalled_stream_is_left_and_the_other_accounts_carry_on(
    sim: Simulator, start_exporter: StartExporter
) -> None:
    exporter = start_exporter()
    wait_ready(exporter)
    wait_matching(exporter, sim)
    accounts = sorted(truth(sim))
    stalled, others = accounts[0], accounts[1:]
    before = scrape(exporter)
    connects = {a: series(before, "een_stream_connects_total", account_id=a) for a in accounts}
    assert sim_post(sim, "/_sim/faults/v3/stall-sse", {"account_id": stalled})["stalled"] == 1
    # The stalled account's stream goes down after the read deadline...
    wait_for(
        lambda: series(scrape(exporter), "een_stream_disconnects_total", account_id=stalled),
        timeout=6.0,
        message="the stalled stream to be left",
    )
    # ...while a change in another account still arrives within 2 s.
    _, esn, status = a_camera(sim, others[0])
    new = other_than(status)
    set_status(sim, esn, new)
    wait_for(
        lambda: camera_status(scrape(exporter), others[0], esn) == new,
        timeout=2.0,
        message="the other account's change",
    )
    samples = scrape(exporter)
    for account in others:
        assert series(samples, "een_stream_up", account_id=account) == 1
        assert series(samples, "een_stream_connects_total", account_id=account) == connects[account]
    # Once the fault is gone the stalled account comes back, resynced.
    requests.post(f"{sim.url}/_sim/faults/reset", timeout=10).raise_for_status()
    wait_for(
        lambda: series(scrape(exporter), "een_stream_up", account_id=stalled) == 1,
        timeout=8.0,
        message="the stalled account back up",
    )
    wait_matching(exporter, sim)


def test_expired_tokens_401_are_renewed(sim: Simulator, start_exporter: StartExporter) -> None:
    exporter = start_exporter()
    wait_ready(exporter)
    wait_matching(exporter, sim)
    refreshes = requests.get(f"{sim.url}/_sim/v3/state", timeout=10).json()["refreshes"]
    expired = sim_post(sim, "/_sim/faults/v3/expire-tokens", {})
    assert expired["access_tokens"] >= 4  # the reseller's and three end users'
    _account, esn, status = a_camera(sim)
    set_status(sim, esn, other_than(status))
    wait_matching(exporter, sim, timeout=8.0)
    wait_for(
        lambda: all(
            series(scrape(exporter), "een_stream_up", account_id=a) == 1 for a in truth(sim)
        ),
        message="every stream back up",
    )
    state = requests.get(f"{sim.url}/_sim/v3/state", timeout=10).json()
    assert state["refreshes"] > refreshes  # the grant was refreshed after the 401s
    samples = scrape(exporter)
    assert series(samples, "een_credentials_refused") == 0
    # The streams' tokens were refused (401) once each, then renewed.
    assert (series(samples, "een_api_request_failures_total", endpoint="cameras") or 0) >= 1


def test_429_retry_after_is_honoured(sim: Simulator, start_exporter: StartExporter) -> None:
    exporter = start_exporter()
    wait_ready(exporter)
    wait_matching(exporter, sim)
    account = sorted(truth(sim))[0]
    sim_post(
        sim,
        "/_sim/faults/v3/http",
        {"status": 429, "count": 1, "retry_after": 2, "path": "/api/v3.0/cameras"},
    )
    sim_post(sim, "/_sim/faults/v3/drop-sse", {"account_id": account})
    dropped_at = time.monotonic()
    wait_for(
        lambda: series(scrape(exporter), "een_api_request_failures_total", endpoint="cameras"),
        message="the 429",
    )
    wait_for(
        lambda: series(scrape(exporter), "een_stream_up", account_id=account) == 1,
        timeout=6.0,
        message="the stream back up",
    )
    # The backoff alone (base 0.05 s, cap 0.5 s) would have been back in well under a second.
    assert time.monotonic() - dropped_at >= 2.0
    wait_matching(exporter, sim)


def test_a_dead_grant_is_reported_and_nothing_else_breaks(
    sim: Simulator, start_exporter: StartExporter, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = start_exporter()
    wait_ready(exporter)
    wait_matching(exporter, sim)
    known = expected(truth(sim))
    caplog.set_level(logging.DEBUG)
    sim_post(sim, "/_sim/faults/v3/expire-tokens", {"refresh_tokens": True})
    wait_for(
        lambda: series(scrape(exporter), "een_credentials_refused") == 1,
        timeout=8.0,
        message="een_credentials_refused 1",
    )
    readyz = requests.get(exporter.url + "/readyz", timeout=5)
    assert "een-exporter login" in readyz.text
    # What was known is still served.
    assert shown(scrape(exporter)) == known
    # One error line for it, whichever of the four threads met the refusal first; the
    # streams' retries wait out the pause without asking EEN (or logging) again.
    refusals = [r for r in caplog.records if r.getMessage() == "EEN refuses the grant"]
    assert [r.levelname for r in refusals][:1] == ["ERROR"]
    assert all(r.levelname == "DEBUG" for r in refusals[1:])
    asked = series(scrape(exporter), "een_api_requests_total", endpoint="token")
    wait_for(
        lambda: sum(r.getMessage() == "stream down" and r.levelname == "DEBUG"
                    for r in caplog.records) >= 3,
        message="every stream waiting out the refusal",
    )  # fmt: skip
    assert series(scrape(exporter), "een_api_requests_total", endpoint="token") == asked
