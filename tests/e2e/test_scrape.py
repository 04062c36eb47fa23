"""Prometheus scrapes the exporter, which watches the simulated EEN cloud."""

from __future__ import annotations

from urllib.parse import urlsplit

from exporter.app import Exporter
from exporter.simulator.client import SimulatorControl
from tests.e2e.apis import Prometheus
from tests.e2e.conftest import FIRST_SCRAPE_SECONDS
from tests.e2e.world import cameras, sub_accounts
from tests.stack.contract import METRICS
from tests.support import wait_for

EEN_METRICS = {name for name in METRICS if name.startswith("een_")}


def test_prometheus_scrapes_the_exporter(
    prometheus: Prometheus, exporter: Exporter, control: SimulatorControl
) -> None:
    up = wait_for(
        lambda: prometheus.query('up{job="een"} == 1'),
        timeout=FIRST_SCRAPE_SECONDS,
        interval=0.2,
        message='up{job="een"} == 1',
    )
    assert [series["metric"]["instance"] for series in up] == [urlsplit(exporter.url).netloc]

    names = {
        series["metric"]["__name__"]
        for series in prometheus.query('count by (__name__) ({job="een", __name__=~"een_.+"})')
    }
    assert names >= EEN_METRICS, f"missing: {sorted(EEN_METRICS - names)}"

    accounts = sub_accounts(control.state())
    streams_up = prometheus.query('een_stream_up{job="een"} == 1')
    assert {s["metric"]["account_id"] for s in streams_up} == {a["id"] for a in accounts}
    names_by_camera = {
        s["metric"]["camera_id"]: s["metric"]["name"]
        for s in prometheus.query('een_camera_info{job="een"}')
    }
    assert names_by_camera == {c["id"]: c["name"] for a in accounts for c in cameras(a)}
