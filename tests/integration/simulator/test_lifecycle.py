"""Starting and stopping the in-process simulator."""

from __future__ import annotations

import threading
import time

import pytest
import websocket

from exporter.simulator import Simulator, WorldSpec
from tests.integration.simulator.een import login, open_stream, subscribe


def sim_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "een-sim"]


def test_stop_closes_streams_and_joins_the_thread() -> None:
    before = len(sim_threads())
    sim = Simulator(WorldSpec(accounts=1, bridges=1, cameras=2)).start()
    assert len(sim_threads()) == before + 1
    http = login(sim)
    account = http.get(f"{sim.url}/g/account/list", timeout=10).json()[1][0]
    ws = open_stream(sim, http, account)
    subscribe(ws, [])
    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 2.5
    assert len(sim_threads()) == before
    opcode, frame = ws.recv_data_frame(True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert frame.data[:2] == (1001).to_bytes(2, "big")  # going away
    sim.stop()  # idempotent


def test_start_twice_and_stop_before_start() -> None:
    Simulator().stop()  # nothing to stop
    with Simulator() as sim, pytest.raises(RuntimeError):
        sim.start()


def test_a_busy_port_fails_start() -> None:
    with Simulator() as first:
        with pytest.raises(OSError, match="in use"):
            Simulator(port=first.port).start()
        assert login(first)  # the first one is unaffected
