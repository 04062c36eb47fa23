"""What the benchmarks read and drive: the peak of concurrent logins, churn set at run time."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import requests
import websocket

from exporter.simulator import Simulator
from exporter.simulator.client import SimulatorControl, SimulatorControlError
from tests.integration.conftest import MakeSimulator
from tests.integration.simulator.een import (
    TIMEOUT,
    authenticate,
    get,
    login,
    receive,
    sub_accounts,
    subscribed_stream,
)
from tests.support import wait_for

LATENCY = 0.5  # long enough that requests started together are surely in flight together
SILENCE = 0.5


def all_at_once(count: int, call: Callable[[], object]) -> None:
    """Run `call` on `count` threads released together; wait for all of them."""
    barrier = threading.Barrier(count)

    def run() -> None:
        barrier.wait(TIMEOUT)
        call()

    threads = [threading.Thread(target=run, name=f"test-client-{n}") for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 3)


def state(sim: Simulator) -> dict[str, Any]:
    with SimulatorControl(sim.url) as control:
        return control.state()


def peak(sim: Simulator) -> int:
    return int(state(sim)["peak_concurrent_logins"])


def test_peak_concurrent_logins(make_sim: MakeSimulator) -> None:
    sim = make_sim(latency=LATENCY)
    assert peak(sim) == 0
    http = login(sim, sub_accounts(state(sim))[0]["id"])
    assert peak(sim) == 1  # authenticate, authorize and switch_account one after the other

    all_at_once(3, lambda: authenticate(sim))
    assert peak(sim) == 3

    # Other v1 calls are not logins, however many run at once.
    all_at_once(5, lambda: get(sim, http, "/g/account/list"))
    assert peak(sim) == 3


def test_churn_set_at_run_time(sim: Simulator, sim_control: SimulatorControl) -> None:
    account = sub_accounts(sim_control.state())[0]
    _, ws = subscribed_stream(sim, account)
    assert sim_control.state()["churn"] == 0

    sim_control.set_churn(2000)  # fast enough that the 12 subscribed devices change soon
    assert sim_control.state()["churn"] == 2000
    ws.settimeout(TIMEOUT)
    change = receive(ws)
    assert change["status_code"] == 200
    assert set(change["data"]) <= {d["id"] for d in account["devices"]}

    sim_control.set_churn(0)
    # Changes already on the way may still arrive; after them the stream goes quiet.
    ws.settimeout(SILENCE)
    wait_for(lambda: _quiet(ws), timeout=TIMEOUT, message="the stream to go quiet")


def _quiet(ws: websocket.WebSocket) -> bool:
    try:
        ws.recv()
    except websocket.WebSocketTimeoutException:
        return True
    return False


def test_churn_validation(sim_control: SimulatorControl) -> None:
    for bad in (-1, 1e9, True):
        with pytest.raises(SimulatorControlError) as refused:
            sim_control.set_churn(bad)
        assert refused.value.status == 400
    response = requests.put(f"{sim_control.url}/_sim/churn", json={"rate": "5"}, timeout=TIMEOUT)
    assert response.status_code == 400
    assert sim_control.state()["churn"] == 0
