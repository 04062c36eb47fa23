"""API v3 mode with an end user's own grant (no reseller) against a token endpoint that says
its tokens expire at once (issue 19, item 7): the streams use the grant's token itself, so each
refresh would be a reconnect of every stream and a token-file rewrite."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from exporter.simulator import Simulator, WorldSpec
from exporter.simulator.v3.tokens import V3Settings
from exporter.v3.tokens import TokenPolicy
from tests.integration.conftest import MakeSimulator
from tests.integration.hostile import HostileServer
from tests.integration.v3.conftest import KEEPALIVE, StartExporter, scrape, truth, wait_ready
from tests.integration.v3.test_hostile import (
    TOKEN,
    hostile,
    make_hostile,
    refreshes,
    rewritten,
)
from tests.support import series

__all__ = ["hostile", "make_hostile"]  # fixtures


@pytest.fixture
def sim(make_sim: MakeSimulator) -> Simulator:
    settings = V3Settings(sse_keepalive_seconds=KEEPALIVE)
    return make_sim(WorldSpec(accounts=0, bridges=1, cameras=3, seed=3), v3=settings)


def test_expires_in_zero_is_no_refresh_loop(
    start_exporter: StartExporter, hostile: HostileServer, sim: Simulator, token_file: Path
) -> None:
    hostile.on("POST", TOKEN, rewritten(sim, lambda body: {**body, "expires_in": 0}))
    writes: list[int] = []
    # The production policy, not the fixture's: it is what must hold a minute.
    exporter = start_exporter(url=hostile.url, tuning={"tokens": TokenPolicy()})
    wait_ready(exporter)
    accounts = list(truth(sim))
    before = refreshes(sim)
    deadline = time.monotonic() + 4.0
    while time.monotonic() < deadline:
        writes.append(token_file.stat().st_mtime_ns)
        time.sleep(0.05)
    assert refreshes(sim) == before  # the one at start-up serves for a minute
    assert len(set(writes)) == 1
    samples = scrape(exporter)
    assert all(series(samples, "een_stream_connects_total", account_id=a) == 1 for a in accounts)
