"""Sharding: the hash, the split of accounts, the shard settings and the shard metrics."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from exporter.cli import main
from exporter.config import ConfigError, Settings, load_settings
from exporter.simulator import WorldSpec
from exporter.simulator.world import build_world
from exporter.state.model import AccountInfo
from exporter.state.selfmetrics import SelfMetrics
from exporter.state.sharding import Shard, index_from_pod_name, jump_hash, ordinal, shard_of
from tests.support import parse_exposition, series

CREDENTIALS = {"EEN_USERNAME": "ops@example.com", "EEN_PASSWORD": "pw"}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _in_empty_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in an empty directory so that no stray ./.env is read."""
    monkeypatch.chdir(tmp_path)


def simulated_ids(count: int, seed: int = 1) -> list[str]:
    """The sub-account ids of a simulated world: 8 digits, like EEN's 00004206."""
    world = build_world(WorldSpec(accounts=count, bridges=0, cameras=0, seed=seed))
    return [account.id for account in world.accounts.values() if not account.is_master]


# --- the hash -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "buckets"),
    [
        # Lamping and Veach's reference C++ code for buckets = 1..19.
        (1, [0, 0, 0, 0, 0, 0, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 17, 17]),
        (0xDEADBEEF, [0, 1, 2, 3, 3, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 16, 16, 16]),
        (0x0DDC0FFEEBADF00D, [0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 15, 15, 15, 15]),
    ],
)
def test_jump_hash_matches_the_reference_implementation(key: int, buckets: list[int]) -> None:
    assert [jump_hash(key, n) for n in range(1, 20)] == buckets


def test_jump_hash_needs_a_bucket() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        jump_hash(1, 0)


def test_the_owner_is_the_same_in_another_process_with_another_hash_seed() -> None:
    ids = simulated_ids(50)
    code = (
        "import sys; from exporter.state.sharding import shard_of; "
        "print(','.join(str(shard_of(i, 7)) for i in sys.argv[1:]))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code, *ids],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    assert other.stdout.strip() == ",".join(str(shard_of(i, 7)) for i in ids)


def test_owners_are_pinned_so_an_upgrade_never_reshuffles_accounts() -> None:
    # A changed hash would move accounts between running replicas of different versions.
    ids = ["00004206", "00004207", "00004208", "00012345", "1a2b3c4d", "deadbeef"]
    assert [shard_of(i, 3) for i in ids] == [1, 1, 2, 1, 0, 2]
    assert [shard_of(i, 8) for i in ids] == [1, 4, 6, 1, 0, 2]


@pytest.mark.parametrize("ids", [simulated_ids(1000), [f"{n:08d}" for n in range(4206, 5206)]])
def test_a_thousand_ids_spread_evenly_over_three_shards(ids: list[str]) -> None:
    counts = Counter(shard_of(account_id, 3) for account_id in ids)
    assert sorted(counts) == [0, 1, 2]
    # A fair three-way split of 1,000 has a standard deviation of 15; allow 3 of them.
    assert max(abs(count - 1000 / 3) for count in counts.values()) < 45, counts


def test_growing_the_total_moves_only_the_new_shards_share() -> None:
    ids = simulated_ids(3000)
    moved = [i for i in ids if shard_of(i, 3) != shard_of(i, 4)]
    assert {shard_of(i, 4) for i in moved} == {3}  # accounts only move to the new shard
    assert 0.2 < len(moved) / len(ids) < 0.3  # about 1/4, where `% total` moves 3/4


def test_the_shards_partition_the_accounts() -> None:
    accounts = [AccountInfo(i, f"Account {i}") for i in simulated_ids(200)]
    chosen = [Shard(index, 3).select(accounts) for index in range(3)]
    ids = [a.id for part in chosen for a in part]
    assert sorted(ids) == sorted(a.id for a in accounts)  # each exactly once
    assert all(part for part in chosen)
    assert Shard().select(accounts) == accounts


# --- the pod name ---------------------------------------------------------------------------


def test_ordinal_of_a_statefulset_pod_name() -> None:
    assert ordinal("een-exporter-0") == 0
    assert ordinal("release-een-exporter-17") == 17
    assert ordinal("een-exporter") is None
    assert ordinal("een-exporter-x") is None


def test_pod_name_beats_hostname() -> None:
    assert index_from_pod_name({"POD_NAME": "een-exporter-2", "HOSTNAME": "node-7"}) == 2
    assert index_from_pod_name({"HOSTNAME": "een-exporter-1"}) == 1


# --- settings -------------------------------------------------------------------------------


def test_no_sharding_by_default() -> None:
    assert load_settings([], CREDENTIALS).shard == Shard(0, 1)


def test_shard_flags_and_environment() -> None:
    flags = ["--shard.index=2", "--shard.total=3"]
    assert load_settings(flags, CREDENTIALS).shard == Shard(2, 3)
    environ = {**CREDENTIALS, "EEN_SHARD_INDEX": "1", "EEN_SHARD_TOTAL": "4"}
    assert load_settings([], environ).shard == Shard(1, 4)
    assert load_settings(["--shard.index=3"], environ).shard == Shard(3, 4)  # flag wins


def test_auto_index_from_the_statefulset_pod_name() -> None:
    environ = {**CREDENTIALS, "EEN_SHARD_TOTAL": "3", "POD_NAME": "een-exporter-2"}
    settings = load_settings(["--shard.index=auto"], environ)
    assert settings == Settings(username="ops@example.com", password="pw", shard=Shard(2, 3))
    hostname_only = {**CREDENTIALS, "HOSTNAME": "een-exporter-1"}
    assert load_settings(["--shard.index=AUTO", "--shard.total=2"], hostname_only).shard == Shard(
        1, 2
    )


NINES = "'" + "9" * 60 + "'"  # how an error message shows the start of a long value


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (
            ["--shard.index=3", "--shard.total=3"],
            {},
            "EEN_SHARD_INDEX / --shard.index must be less than EEN_SHARD_TOTAL / "
            "--shard.total (3); got 3",
        ),
        (
            ["--shard.index=1"],
            {},
            "EEN_SHARD_INDEX / --shard.index must be less than EEN_SHARD_TOTAL / "
            "--shard.total (1); got 1",
        ),
        (
            ["--shard.total=0"],
            {},
            "EEN_SHARD_TOTAL / --shard.total must be a whole number from 1 to 1024; got '0' "
            "(from --shard.total)",
        ),
        (
            [],
            {"EEN_SHARD_INDEX": "-1"},
            "EEN_SHARD_INDEX / --shard.index must be a whole number from 0 to 1023, or auto; "
            "got '-1' "
            "(from EEN_SHARD_INDEX)",
        ),
        (
            ["--shard.index=auto", "--shard.total=3"],
            {"HOSTNAME": "3f9a2c7d1b4e"},
            "EEN_SHARD_INDEX / --shard.index is auto, but the pod name does not end in -N "
            "(a StatefulSet ordinal, 0 to 1023); got '3f9a2c7d1b4e' from HOSTNAME",
        ),
        (
            ["--shard.index=auto", "--shard.total=3"],
            {},
            "EEN_SHARD_INDEX / --shard.index is auto, but neither POD_NAME nor HOSTNAME is set "
            "to a pod name ending in -N (a StatefulSet ordinal)",
        ),
        (
            ["--shard.index=auto", "--shard.total=3"],
            {"POD_NAME": "een-exporter-3"},
            "EEN_SHARD_INDEX / --shard.index must be less than EEN_SHARD_TOTAL / "
            "--shard.total (3); got 3 (the pod name's ordinal)",
        ),
        # Issue 19 item 15: a 5,000-digit index printed Python's int-conversion message
        # ("Exceeds the limit (4300 digits) ... use sys.set_int_max_str_digits()") and the
        # value whole; a 4,000-digit one came back whole as "got 999...".
        (
            ["--shard.index=" + "9" * 5000],
            {},
            "EEN_SHARD_INDEX / --shard.index must be a whole number from 0 to 1023, or auto; "
            "got " + NINES + "… (5000 characters) (from --shard.index)",
        ),
        (
            ["--shard.index=" + "9" * 4000, "--shard.total=3"],
            {},
            "EEN_SHARD_INDEX / --shard.index must be a whole number from 0 to 1023, or auto; "
            "got " + NINES + "… (4000 characters) (from --shard.index)",
        ),
        (
            ["--shard.index=1024", "--shard.total=3"],
            {},
            "EEN_SHARD_INDEX / --shard.index must be a whole number from 0 to 1023, or auto; "
            "got '1024' (from --shard.index)",
        ),
        (
            ["--shard.total=" + "9" * 5000],
            {},
            "EEN_SHARD_TOTAL / --shard.total must be a whole number from 1 to 1024; "
            "got " + NINES + "… (5000 characters) (from --shard.total)",
        ),
        (
            ["--shard.index=auto", "--shard.total=3"],
            {"POD_NAME": "een-exporter-" + "9" * 5000},
            "EEN_SHARD_INDEX / --shard.index is auto, but the pod name does not end in -N "
            "(a StatefulSet ordinal, 0 to 1023); got 'een-exporter-" + "9" * 47 + "'… "
            "(5013 characters) from POD_NAME",
        ),
    ],
)
def test_bad_shard_settings_name_the_setting(
    argv: list[str], environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(argv, {**CREDENTIALS, **environ})
    assert str(caught.value) == message


def test_a_bad_shard_setting_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    assert main(["--shard.index=5", "--shard.total=3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("een-exporter: error: EEN_SHARD_INDEX / --shard.index must be less")
    assert err.count("\n") == 1


# --- metrics --------------------------------------------------------------------------------


def test_shard_metrics_name_every_discovered_account_and_its_owner() -> None:
    metrics = SelfMetrics(Shard(1, 3))
    before = parse_exposition(metrics.render().decode())
    assert series(before, "een_exporter_shard_info", index="1", total="3") == 1
    assert series(before, "een_exporter_accounts_monitored") == 0
    accounts = [AccountInfo(i, "x") for i in simulated_ids(30)]
    metrics.accounts_discovered(accounts)
    samples = parse_exposition(metrics.render().decode())
    owners = {
        dict(labels)["account_id"]: dict(labels)["shard"]
        for (name, labels) in samples
        if name == "een_exporter_account_shard"
    }
    assert owners == {a.id: str(shard_of(a.id, 3)) for a in accounts}
    mine = sum(owner == "1" for owner in owners.values())
    assert (
        series(samples, "een_exporter_accounts_monitored")
        == mine
        == len(Shard(1, 3).select(accounts))
    )
    metrics.accounts_discovered(accounts[:10])  # the others vanished from discovery
    after = parse_exposition(metrics.render().decode())
    assert len([name for (name, _) in after if name == "een_exporter_account_shard"]) == 10
