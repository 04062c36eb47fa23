"""Accounts and devices that appear, vanish or are renamed in the EEN cloud."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from exporter.simulator import Simulator, WorldSpec
from exporter.simulator.client import SimulatorControl
from tests.integration.conftest import MakeSimulator
from tests.integration.exporter.conftest import (
    PASSWORD,
    USERNAME,
    StartExporter,
    scrape,
    sub_accounts,
    wait_ready,
)
from tests.support import series, wait_for


def test_devices_added_removed_and_renamed_follow_the_refresh(
    start_exporter: StartExporter, control: SimulatorControl
) -> None:
    exporter = start_exporter(device_refresh_seconds=0.3)
    wait_ready(exporter)
    account = sub_accounts(control)[0]
    bridge = next(d for d in account["devices"] if d["type"] == "bridge")
    gone, renamed = [d for d in account["devices"] if d["type"] == "camera"][:2]
    new = control.add_device(account["id"], "camera", "Rooftop", bridge_id=bridge["id"],
                             status=0x1E0037)  # fmt: skip
    control.delete_device(gone["id"])
    control.rename_device(renamed["id"], "Renamed camera")

    def refreshed() -> bool:
        samples = scrape(exporter)
        return (
            series(samples, "een_camera_info", camera_id=new, name="Rooftop") == 1
            and series(samples, "een_camera_info", camera_id=gone["id"]) is None
            and series(samples, "een_camera_info", camera_id=renamed["id"],
                       name="Renamed camera") == 1
        )  # fmt: skip

    wait_for(refreshed, message="the new, deleted and renamed cameras on /metrics")
    samples = scrape(exporter)
    assert not [k for k in samples if ("camera_id", gone["id"]) in k[1]]  # every series gone
    assert series(samples, "een_camera_recording", camera_id=new) == 1
    # The new camera is subscribed on the open stream: its changes arrive.
    control.set_status(new, 0x100025)
    wait_for(
        lambda: series(scrape(exporter), "een_camera_on", camera_id=new) == 0,
        message="a change of the new camera",
    )


def test_accounts_added_and_removed_follow_the_refresh(
    start_exporter: StartExporter, control: SimulatorControl
) -> None:
    exporter = start_exporter(device_refresh_seconds=0.3)
    wait_ready(exporter)
    old = sub_accounts(control)[0]["id"]
    new = control.add_account("Northwind Depot")
    control.delete_account(old)

    def rediscovered() -> bool:
        samples = scrape(exporter)
        return (
            series(samples, "een_account_info", account_id=new, name="Northwind Depot") == 1
            and series(samples, "een_stream_up", account_id=new) == 1
            and series(samples, "een_account_info", account_id=old) is None
        )

    wait_for(rediscovered, message="the new account streaming and the old one gone")
    assert not [k for k in scrape(exporter) if ("account_id", old) in k[1]]


def test_a_dealers_own_account_is_monitored_once_it_holds_devices(
    start_exporter: StartExporter, control: SimulatorControl
) -> None:
    exporter = start_exporter(device_refresh_seconds=0.3)
    wait_ready(exporter)
    master = next(a for a in control.state()["accounts"] if not a["devices"])
    camera = control.add_device(master["id"], "camera", "Head office", status=0x1E0037)
    wait_for(
        lambda: series(scrape(exporter), "een_camera_online", camera_id=camera,
                       account_id=master["id"]) == 1,
        message="the dealer's own camera on /metrics",
    )  # fmt: skip


def test_include_and_exclude_filters(
    start_exporter: StartExporter, control: SimulatorControl
) -> None:
    first, second, third = (a["id"] for a in sub_accounts(control))
    exporter = start_exporter(
        accounts=frozenset({first, second}), accounts_exclude=frozenset({second})
    )
    wait_ready(exporter)
    samples = scrape(exporter)
    monitored = {dict(k[1])["account_id"] for k in samples if k[0] == "een_stream_up"}
    assert monitored == {first}
    assert third not in monitored


@pytest.fixture
def customer(make_sim: MakeSimulator) -> Simulator:
    spec = WorldSpec(accounts=0, bridges=1, cameras=3, seed=11)
    return make_sim(spec, username=USERNAME, password=PASSWORD)


def test_a_plain_customer_monitors_its_own_account(
    start_exporter: StartExporter, customer: Simulator
) -> None:
    exporter = start_exporter(url=customer.url)
    wait_ready(exporter)
    [account] = SimulatorControl(customer.url).state()["accounts"]
    samples = scrape(exporter)
    assert series(samples, "een_stream_up", account_id=account["id"]) == 1
    for device in account["devices"]:
        kind = "camera" if device["type"] == "camera" else "bridge"
        assert series(samples, f"een_{kind}_info", **{f"{kind}_id": device["id"]}) == 1


def test_no_account_to_monitor_is_said_once_and_on_readyz(
    start_exporter: StartExporter, log_lines: Callable[[], str]
) -> None:
    exporter = start_exporter(accounts=frozenset({"00000000"}), device_refresh_seconds=0.1)
    wait_for(
        lambda: (
            (series(scrape(exporter), "een_api_requests_total", endpoint="account_list") or 0) >= 3
        ),
        message="three discoveries",
    )
    [line] = [line for line in log_lines().splitlines() if 'msg="no account to monitor"' in line]
    assert "level=warning" in line
    assert "include=00000000" in line
    ready = requests.get(exporter.url + "/readyz", timeout=5)
    assert ready.status_code == 503
    assert ready.text.startswith("no account to monitor")
