"""Shards of one login against the simulator: each monitors its own accounts, all see all."""

from __future__ import annotations

from exporter.simulator import Simulator, WorldSpec
from exporter.simulator.client import SimulatorControl
from exporter.state.sharding import Shard, shard_of
from tests.integration.conftest import MakeSimulator
from tests.integration.exporter.conftest import (
    PASSWORD,
    USERNAME,
    StartExporter,
    scrape,
    sub_accounts,
    wait_ready,
)
from tests.support import Sample, series


def label_values(samples: dict[Sample, float], metric: str, label: str) -> set[str]:
    return {dict(labels)[label] for (name, labels) in samples if name == metric}


def test_each_shard_monitors_the_accounts_that_hash_to_it(
    make_sim: MakeSimulator, start_exporter: StartExporter
) -> None:
    sim: Simulator = make_sim(
        WorldSpec(accounts=9, bridges=1, cameras=1, seed=3), username=USERNAME, password=PASSWORD
    )
    accounts = {a["id"] for a in sub_accounts(SimulatorControl(sim.url))}
    excluded = sorted(accounts)[0]
    shards = [
        start_exporter(url=sim.url, shard=Shard(index, 3), accounts_exclude=frozenset({excluded}))
        for index in range(3)
    ]
    monitored: list[set[str]] = []
    for index, exporter in enumerate(shards):
        wait_ready(exporter)
        samples = scrape(exporter)
        mine = label_values(samples, "een_account_info", "account_id")
        assert mine == {a for a in accounts - {excluded} if shard_of(a, 3) == index}
        assert label_values(samples, "een_stream_up", "account_id") == mine
        assert series(samples, "een_exporter_accounts_monitored") == len(mine)
        assert series(samples, "een_exporter_shard_info", index=str(index), total="3") == 1
        # Every shard lists every account the filters let through, with its owner.
        assert label_values(samples, "een_exporter_account_shard", "account_id") == (
            accounts - {excluded}
        )
        for account_id in accounts - {excluded}:
            owner = series(
                samples, "een_exporter_account_shard", account_id=account_id, shard=str(index)
            )
            assert (owner == 1) == (account_id in mine)
        monitored.append(mine)
    assert sorted(a for part in monitored for a in part) == sorted(accounts - {excluded})
