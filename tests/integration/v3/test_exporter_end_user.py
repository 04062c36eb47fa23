"""A plain end-user grant (no reseller): its one account is watched with the grant's own
token, which rotates on every refresh and takes its access token with it (§1.5)."""

from __future__ import annotations

import logging

import pytest

from exporter.simulator import Simulator, WorldSpec
from exporter.simulator.v3.tokens import V3Settings
from tests.integration.conftest import MakeSimulator
from tests.integration.v3.conftest import (
    KEEPALIVE,
    StartExporter,
    scrape,
    set_status,
    truth,
    wait_matching,
    wait_ready,
)
from tests.integration.v3.test_exporter import a_camera, camera_status, other_than
from tests.support import series, wait_for


@pytest.fixture
def sim(make_sim: MakeSimulator) -> Simulator:
    settings = V3Settings(sse_keepalive_seconds=KEEPALIVE, access_token_seconds=3.0)
    return make_sim(WorldSpec(accounts=0, bridges=1, cameras=3, seed=3), v3=settings)


def test_an_end_users_account_through_renewals(
    sim: Simulator, start_exporter: StartExporter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    exporter = start_exporter()
    wait_ready(exporter)
    wait_matching(exporter, sim)
    (account,) = truth(sim)
    # Through two renewals of the grant's own token (every 2.4 s)...
    wait_for(
        lambda: (
            (series(scrape(exporter), "een_stream_connects_total", account_id=account) or 0) >= 3
        ),
        timeout=8.0,
        message="two renewals",
    )
    # ...changes still arrive through the stream, within 2 s.
    _, esn, status = a_camera(sim)
    new = other_than(status)
    set_status(sim, esn, new)
    wait_for(
        lambda: camera_status(scrape(exporter), account, esn) == new,
        timeout=2.0,
        message=f"{esn} to show {new}",
    )
    assert "stream renewed" in caplog.text
    assert "stream down" not in caplog.text
