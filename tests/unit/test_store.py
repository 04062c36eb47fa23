from exporter.state.model import AccountInfo, DeviceInfo, DeviceKind, Status, StreamUpdate
from exporter.state.store import Readiness, StateStore

CAM = DeviceKind.CAMERA
ONLINE, OFFLINE = 0x1E0037, 0x120020


def store_with(*devices: DeviceInfo) -> StateStore:
    store = StateStore()
    store.sync_accounts([AccountInfo("00000001", "Acme")])
    store.set_devices("00000001", devices, seed_status=True, now=100.0)
    return store


def device_status(store: StateStore, esn: str) -> tuple[Status, float]:
    [(_, devices)] = store.accounts({}).devices.values()
    [row] = [row for row in devices if row[0] == esn]
    return row[4], row[5]


def test_sync_accounts_reports_changes_and_renames() -> None:
    store = StateStore()
    assert store.sync_accounts([AccountInfo("1", "A"), AccountInfo("2", "B")]) == (["1", "2"], [])
    assert store.sync_accounts([AccountInfo("2", "B2"), AccountInfo("3", "C")]) == (["3"], ["1"])
    accounts = store.accounts({})
    assert (accounts.ids, accounts.names) == (["2", "3"], ["B2", "C"])


def test_device_list_diff() -> None:
    store = store_with(DeviceInfo("c1", CAM, "Lobby", "b1", ONLINE))
    changes = store.set_devices(
        "00000001",
        [DeviceInfo("c1", CAM, "Front lobby", "b1", 0), DeviceInfo("c2", CAM, "Dock", "b1", 0)],
        seed_status=False,
        now=200.0,
    )
    assert (changes.added, changes.removed, changes.renamed) == (("c2",), (), ("c1",))
    changes = store.set_devices("00000001", [], seed_status=False, now=300.0)
    assert changes.removed == ("c1", "c2")


def test_refresh_keeps_the_streams_fresher_status_unless_resyncing() -> None:
    store = store_with(DeviceInfo("c1", CAM, "Lobby", "", ONLINE))
    store.apply("00000001", StreamUpdate({"c1": OFFLINE}), now=150.0)
    store.set_devices("00000001", [DeviceInfo("c1", CAM, "Lobby", "", ONLINE)], False, 200.0)
    assert device_status(store, "c1") == (OFFLINE, 150.0)
    store.set_devices("00000001", [DeviceInfo("c1", CAM, "Lobby", "", ONLINE)], True, 300.0)
    assert device_status(store, "c1") == (ONLINE, 300.0)


def test_uninformative_statuses_keep_the_previous_state() -> None:
    store = store_with(DeviceInfo("c1", CAM, "Lobby", "", ONLINE))
    for status in (0, 0x010000 | OFFLINE):
        store.apply("00000001", StreamUpdate({"c1": status}), now=150.0)
    assert device_status(store, "c1") == (ONLINE, 100.0)


def test_a_repeated_status_keeps_its_timestamp() -> None:
    store = store_with(DeviceInfo("c1", CAM, "Lobby", "", ONLINE))
    store.apply("00000001", StreamUpdate({"c1": ONLINE}), now=150.0)
    store.set_devices("00000001", [DeviceInfo("c1", CAM, "Lobby", "", ONLINE)], True, 200.0)
    assert device_status(store, "c1") == (ONLINE, 100.0)  # in this state since 100
    store.apply("00000001", StreamUpdate({"c1": OFFLINE}), now=250.0)
    assert device_status(store, "c1") == (OFFLINE, 250.0)


def test_unknown_device_in_a_message_is_ignored() -> None:
    store = store_with(DeviceInfo("c1", CAM, "Lobby", "", ONLINE))
    store.apply("00000001", StreamUpdate({"zz": OFFLINE}), now=150.0)
    accounts = store.accounts({})
    [(_, devices)] = accounts.devices.values()
    assert [row[0] for row in devices] == ["c1"]
    assert accounts.health[0][3] == 1  # its message is counted


def test_readiness_waits_for_every_subscribed_device() -> None:
    store = store_with(DeviceInfo("c1", CAM, "A", "", 0), DeviceInfo("c2", CAM, "B", "", 0))
    assert readiness(store) is Readiness.PENDING
    store.stream_connected("00000001")
    store.stream_subscribed("00000001", ["c1", "c2"])
    store.apply("00000001", StreamUpdate({"c1": ONLINE}), now=1.0)
    assert readiness(store) is Readiness.PENDING
    store.apply("00000001", StreamUpdate({}, ["c2"]), now=2.0)
    assert readiness(store) is Readiness.READY


def test_a_malformed_status_in_the_snapshot_counts_as_an_answer() -> None:
    store = store_with(DeviceInfo("c1", CAM, "A", "", ONLINE))
    store.stream_connected("00000001")
    store.stream_subscribed("00000001", ["c1"])
    store.apply("00000001", StreamUpdate({}, ["c1"]), now=1.0)
    assert readiness(store) is Readiness.READY
    assert device_status(store, "c1") == (ONLINE, 100.0)  # the last good value stays


def test_failure_before_the_first_snapshot_counts_as_resolved_for_readiness() -> None:
    store = store_with()
    store.account_failing("00000001", "login: HTTP 401")
    assert readiness(store) is Readiness.FAILING
    store.stream_subscribed("00000001", [])  # an empty account is ready once subscribed
    assert readiness(store) is Readiness.READY


def test_stream_health_counters() -> None:
    store = store_with(DeviceInfo("c1", CAM, "A", "", ONLINE))
    store.stream_connected("00000001")
    store.stream_subscribed("00000001", ["c1"])
    store.apply("00000001", StreamUpdate({"c1": OFFLINE}), now=5.0)
    store.stream_closed("00000001", "connection lost")
    assert store.accounts({}).health == [(False, 1, 1, 1, 5.0)]
    assert device_status(store, "c1") == (OFFLINE, 5.0)  # last known value survives


def test_only_changed_devices_are_copied_again() -> None:
    listing = [DeviceInfo("c1", CAM, "A", "", ONLINE)]
    store = store_with(*listing)
    store.sync_accounts([AccountInfo("00000001", "Acme"), AccountInfo("00000002", "Beta")])
    first = store.accounts({})
    known = {account_id: version for account_id, (version, _) in first.devices.items()}
    assert set(known) == {"00000001", "00000002"}
    # A refresh that finds nothing new, and a snapshot repeating a status, change no device.
    store.set_devices("00000001", listing, seed_status=True, now=200.0)
    store.apply("00000001", StreamUpdate({"c1": ONLINE}), now=300.0)
    again = store.accounts(known)
    assert again.devices == {}
    assert again.health[0][3] == 1  # the message is counted all the same
    store.apply("00000001", StreamUpdate({"c1": OFFLINE}), now=400.0)
    [(version, devices)] = store.accounts(known).devices.values()
    assert version != known["00000001"]
    assert [row[4] for row in devices] == [OFFLINE]


def readiness(store: StateStore) -> Readiness:
    _, _, [health] = store.health()
    return health.readiness


def test_a_shard_whose_share_is_empty_is_ready_but_no_account_at_all_is_not() -> None:
    from exporter.web.endpoints import readiness as ready

    store = StateStore()
    store.sync_accounts([], wanted=5)  # four other shards hold the five accounts
    assert ready(store) == (True, "ready: 0 accounts")
    store.sync_accounts([])
    assert ready(store)[0] is False
    assert ready(store)[1].startswith("no account to monitor")


def test_v3_statuses_are_kept_and_an_empty_one_changes_nothing() -> None:
    store = StateStore()
    store.sync_accounts([AccountInfo("00000001", "Acme")])
    camera = DeviceInfo("c1", DeviceKind.CAMERA, "Lobby", "b1", "online")
    store.set_devices("00000001", [camera], seed_status=True, now=100.0)
    assert device_status(store, "c1") == ("online", 100.0)
    store.apply("00000001", StreamUpdate({"c1": "unknown"}), 200.0)  # a documented value
    assert device_status(store, "c1") == ("unknown", 200.0)
    store.apply("00000001", StreamUpdate({"c1": ""}), 300.0)  # says nothing
    assert device_status(store, "c1") == ("unknown", 200.0)
    store.apply("00000001", StreamUpdate({"c1": "unknown"}), 400.0)  # a repeat keeps "since"
    assert device_status(store, "c1") == ("unknown", 200.0)
    [health] = store.health()[2]
    assert health.cameras_by_status == {"unknown": 1}
