"""The same seed gives the same world, over the wire; churn is seeded too."""

from __future__ import annotations

from typing import Any

from exporter.simulator import Simulator, WorldSpec
from exporter.simulator.client import SimulatorControl
from tests.integration.conftest import MakeSimulator
from tests.integration.simulator.een import get, login, sub_accounts
from tests.support import wait_for


def world_of(sim: Simulator) -> dict[str, Any]:
    """Account rows and device rows of every account, as the v1 API shows them."""
    http = login(sim)
    accounts = get(sim, http, "/g/account/list").json()
    devices = {}
    for row in accounts:
        http.post(f"{sim.url}/g/aaa/switch_account", json={"account_id": row[0]}, timeout=10)
        devices[row[0]] = get(sim, http, "/g/device/list").json()
    return {"accounts": accounts, "devices": devices}


def test_same_seed_same_world(make_sim: MakeSimulator) -> None:
    spec = WorldSpec(accounts=4, bridges=2, cameras=30, seed=42)
    first, second = make_sim(spec), make_sim(spec)
    assert world_of(first) == world_of(second)
    with SimulatorControl(first.url) as one, SimulatorControl(second.url) as other:
        assert one.state() == other.state()


def test_another_seed_another_world(make_sim: MakeSimulator) -> None:
    first = make_sim(WorldSpec(seed=1))
    second = make_sim(WorldSpec(seed=2))
    assert world_of(first)["accounts"] != world_of(second)["accounts"]


def statuses(control: SimulatorControl) -> dict[str, int]:
    return {
        device["id"]: device["status"]
        for account in sub_accounts(control.state())
        for device in account["devices"]
    }


def test_churn_moves_statuses(make_sim: MakeSimulator) -> None:
    sim = make_sim(WorldSpec(seed=9), churn=50.0)
    with SimulatorControl(sim.url) as control:
        before = statuses(control)
        changed = wait_for(
            lambda: sum(before[esn] != now for esn, now in statuses(control).items()) >= 5,
            message="churn to change a few statuses",
        )
        assert changed
