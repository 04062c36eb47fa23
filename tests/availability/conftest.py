"""The backfilled month in a real Prometheus of each release (tests/availability/backfill.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.availability import backfill
from tests.e2e.apis import Prometheus
from tests.stack.tools import Release

# Backfilled blocks carry no staleness markers, which a live Prometheus writes when a recorded
# series stops (a window with nothing counted any more). An instant query there would read
# the last value for 5 more minutes; looking back less than one evaluation (59 s) reads what a
# live Prometheus would. Queries that read windows (the report, the rules) are not affected.
LOOKBACK = "--query.lookback-delta=59s"


@pytest.fixture(scope="session")
def month(tmp_path_factory: pytest.TempPathFactory, release: Release) -> Iterator[Prometheus]:
    home = tmp_path_factory.mktemp(f"month-{release.name}")
    data = backfill.backfill(release, home)
    daemon = backfill.start_prometheus(release, home, data, [backfill.RULES], "month", LOOKBACK)
    try:
        yield Prometheus(daemon.url, home / "prometheus-month.yml")
    finally:
        daemon.stop()
