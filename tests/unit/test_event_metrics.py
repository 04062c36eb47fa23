"""Events in the state store and on /metrics: counted per configured code, pre-initialised,
rendered without touching the status lines."""

from __future__ import annotations

import gc
import gzip
import re
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from exporter.exposition import gzipstream
from exporter.exposition.render import FAMILIES, Exposition
from exporter.state.counters import SLICE
from exporter.state.model import (
    AccountInfo,
    DeviceInfo,
    DeviceKind,
    Event,
    EventSelection,
    StreamUpdate,
)
from exporter.state.store import AccountsCopy, StateStore
from tests.support import parse_exposition, require_binary, series
from tests.unit.test_exposition import gunzip_one_member

CAM, BRIDGE = DeviceKind.CAMERA, DeviceKind.BRIDGE
ACCOUNT = "00000001"
DEFAULT = EventSelection(("PRTH", "CSSU", "COBC"), ("BBOO", "ABRT", "CCLD"))
T0 = 1_700_000_000_123  # Unix ms


def make_store(selection: EventSelection = DEFAULT) -> StateStore:
    store = StateStore(selection)
    store.sync_accounts([AccountInfo(ACCOUNT, "Acme")])
    store.set_devices(
        ACCOUNT,
        [
            DeviceInfo("c1", CAM, "Lobby", "b1", 0x1E0037),
            DeviceInfo("c2", CAM, "Dock", "b1", 0x1E0037),
            DeviceInfo("b1", BRIDGE, "Main", "", 0x120001),
        ],
        seed_status=True,
        now=1.0,
    )
    return store


def events(*items: Event) -> StreamUpdate:
    return StreamUpdate({}, (), items)


def samples(store: StateStore) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    body = b"".join(Exposition(store, lambda: b"").render(gzip=False)).decode()
    return parse_exposition(body)


def test_event_series_are_pre_initialised_for_the_subscribed_codes() -> None:
    found = samples(make_store())
    for camera in ("c1", "c2"):
        for code in ("PRTH", "CSSU", "COBC"):
            labels = {"camera_id": camera, "event": code}
            assert series(found, "een_camera_events_total", **labels) == 0
            assert series(found, "een_camera_last_event_timestamp_seconds", **labels) == 0
        assert series(found, "een_camera_stream_packets_expected_total", camera_id=camera) == 0
        assert series(found, "een_camera_stream_packets_received_total", camera_id=camera) == 0
    for name in ("boots", "restarts", "cloud_disconnects"):
        assert series(found, f"een_bridge_{name}_total", bridge_id="b1") == 0
    # Not subscribed: no series. No disconnect seen yet: no duration.
    assert series(found, "een_camera_events_total", event="RCON") is None
    assert series(found, "een_bridge_cloud_connects_total", bridge_id="b1") is None
    assert series(found, "een_bridge_last_cloud_disconnect_duration_seconds") is None
    bridge_events = [
        k for k in found if k[0] == "een_camera_events_total" and ("camera_id", "b1") in k[1]
    ]
    assert bridge_events == []


def test_events_are_counted_with_een_timestamps() -> None:
    store = make_store()
    store.apply(
        ACCOUNT,
        events(
            Event("c1", "PRTH", T0),
            Event("c1", "PRTH", T0 + 10_000),
            Event("c1", "CSSU", T0, expected=7200, received=7000),
            Event("c1", "CSSU", T0 + 60_000, expected=7200, received=7200),
            Event("b1", "BBOO", T0 + 5),
            Event("b1", "CCLD", T0 + 6, seconds=42.5),
            Event("b1", "CCLD", T0 + 7, seconds=3),
        ),
        now=2.0,
    )
    found = samples(store)
    c1 = {"camera_id": "c1"}
    assert series(found, "een_camera_events_total", **c1, event="PRTH") == 2
    assert (
        series(found, "een_camera_last_event_timestamp_seconds", **c1, event="PRTH")
        == 1_700_000_010.123
    )
    assert series(found, "een_camera_events_total", **c1, event="CSSU") == 2
    assert series(found, "een_camera_stream_packets_expected_total", **c1) == 14_400
    assert series(found, "een_camera_stream_packets_received_total", **c1) == 14_200
    assert series(found, "een_camera_events_total", camera_id="c2", event="PRTH") == 0
    assert series(found, "een_bridge_boots_total", bridge_id="b1") == 1
    assert series(found, "een_bridge_cloud_disconnects_total", bridge_id="b1") == 2
    assert series(found, "een_bridge_last_cloud_disconnect_duration_seconds", bridge_id="b1") == 3


def test_timestamps_are_rendered_to_the_millisecond() -> None:
    store = make_store()
    store.apply(ACCOUNT, events(Event("c1", "PRTH", 1_480_314_733_516)), now=2.0)
    body = b"".join(Exposition(store, lambda: b"").render(gzip=False)).decode()
    line = (
        'een_camera_last_event_timestamp_seconds{account_id="00000001",camera_id="c1",event="PRTH"}'
    )
    assert f"{line} 1480314733.516\n" in body


# Durations EEN may send (up to 2^53 s) and wall-clock times with sub-millisecond digits.
EXACT = (2.0**53, 2.0**53 - 1, 0.1, 1 / 3, 123_456.789, 1e-7, 42.0)


def test_every_float_sample_prints_exactly() -> None:
    # Issue 19 item 13: `{:g}` printed 2^53 as 9.0072e+15 (6 significant digits), and the
    # timestamps kept 3 decimals.
    for seconds in EXACT:
        store = make_store()
        now = 1_700_000_000.123_456_7
        store.apply(ACCOUNT, events(Event("b1", "CCLD", T0, seconds=seconds)), now=now)
        store.apply(ACCOUNT, StreamUpdate({"c1": 0x1E0027}), now=now)
        found = samples(store)
        duration = series(found, "een_bridge_last_cloud_disconnect_duration_seconds")
        assert duration == seconds
        assert series(found, "een_stream_last_message_timestamp_seconds") == now
        assert series(found, "een_camera_last_update_timestamp_seconds", camera_id="c1") == now
    body = b"".join(Exposition(store, lambda: b"").render(gzip=False)).decode()
    assert 'bridge_id="b1"} 42.0\n' in body
    store.apply(ACCOUNT, events(Event("b1", "CCLD", T0, seconds=2.0**53)), now=now)
    body = b"".join(Exposition(store, lambda: b"").render(gzip=False)).decode()
    assert 'bridge_id="b1"} 9007199254740992.0\n' in body
    assert "e+15" not in body


def test_promtool_accepts_exact_floats() -> None:
    promtool = require_binary("promtool", "apt-get install prometheus")
    store = make_store()
    store.apply(ACCOUNT, events(Event("b1", "CCLD", T0, seconds=2.0**53)), now=1 / 3)
    body = b"".join(Exposition(store, lambda: b"").render(gzip=False)).decode()
    result = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_only_configured_codes_of_the_devices_kind_are_counted() -> None:
    store = make_store(EventSelection(("PRTH",), ("BBOO",)))
    store.apply(
        ACCOUNT,
        events(
            Event("c1", "BBOO", T0),  # a bridge code on a camera
            Event("b1", "PRTH", T0),  # a camera code on a bridge
            Event("c1", "RCON", T0),  # not configured
            Event("zz", "PRTH", T0),  # not a device of the account
        ),
        now=2.0,
    )
    found = samples(store)
    labels = {name for name, _ in found}
    assert series(found, "een_camera_events_total", camera_id="c1", event="PRTH") == 0
    assert series(found, "een_bridge_boots_total", bridge_id="b1") == 0
    assert {dict(k[1]).get("event") for k in found if k[0] == "een_camera_events_total"} == {"PRTH"}
    assert "een_camera_stream_packets_expected_total" not in labels


def test_without_events_no_event_series_but_every_family_is_described() -> None:
    store = make_store(EventSelection())
    body = b"".join(Exposition(store, lambda: b"").render(gzip=False)).decode()
    assert "een_camera_events_total{" not in body
    assert "een_bridge_boots_total{" not in body
    for family in FAMILIES:
        assert f"# TYPE {family.name} {family.type}\n" in body


def test_an_event_re_renders_only_the_event_lines() -> None:
    store = make_store()
    [(version, _)] = store.accounts({}).devices.values()
    cameras = store.event_changes(CAM, -1, -1)
    assert cameras is not None
    assert cameras.laid_out == {0: ((ACCOUNT, "c1"), (ACCOUNT, "c2"))}
    store.apply(ACCOUNT, events(Event("c1", "PRTH", T0)), now=2.0)
    assert store.accounts({ACCOUNT: version}).devices == {}, "not the status lines"
    first = store.event_changes(CAM, cameras.epoch, cameras.stamp)
    assert first is not None
    # Its first event moves c1 to the end (position 2): its slice holds other devices now.
    assert first.laid_out == {0: (None, (ACCOUNT, "c2"), (ACCOUNT, "c1"))}
    assert first.changed == [0]
    assert first.lists["counts"][2 * 3] == 1  # c1's PRTH: position 2, code 0 of 3
    store.apply(ACCOUNT, events(Event("c1", "COBC", T0)), now=2.5)
    changes = store.event_changes(CAM, first.epoch, first.stamp)
    assert changes is not None
    assert changes.laid_out == {}, "the same devices: the same layout"
    assert changes.changed == [0]
    assert changes.lists["counts"][2 * 3 : 3 * 3] == [1, 0, 1]
    bridges = store.event_changes(BRIDGE, -1, -1)
    assert bridges is not None
    assert store.event_changes(BRIDGE, bridges.epoch, bridges.stamp) is None
    store.apply(ACCOUNT, StreamUpdate({"c1": 0x120025}), now=3.0)
    assert store.accounts({ACCOUNT: version}).devices
    assert store.event_changes(CAM, changes.epoch, changes.stamp) is None


def test_an_event_of_no_counted_kind_changes_nothing_to_render() -> None:
    store = make_store(EventSelection(("PRTH",), ()))
    tables = {kind: store.event_changes(kind, -1, -1) for kind in (CAM, BRIDGE)}
    store.apply(ACCOUNT, events(Event("b1", "PRTH", T0), Event("c1", "VRES", T0)), now=2.0)
    for kind, copy in tables.items():
        assert copy is not None
        assert store.event_changes(kind, copy.epoch, copy.stamp) is None


def test_device_list_changes_reach_the_event_lines() -> None:
    store = make_store()
    exposition = Exposition(store, lambda: b"")
    exposition.render(gzip=False)
    store.set_devices(ACCOUNT, [DeviceInfo("c3", CAM, "Roof", "", 0x1E0037)], False, 5.0)
    found = parse_exposition(b"".join(exposition.render(gzip=False)).decode())
    assert series(found, "een_camera_events_total", camera_id="c3", event="PRTH") == 0
    assert series(found, "een_camera_events_total", camera_id="c1", event="PRTH") is None
    assert series(found, "een_bridge_boots_total", bridge_id="b1") is None


def test_subscriptions_follow_the_device_kind() -> None:
    store = make_store()
    assert store.subscriptions(ACCOUNT) == {
        "c1": ("PRTH", "CSSU", "COBC"),
        "c2": ("PRTH", "CSSU", "COBC"),
        "b1": ("BBOO", "ABRT", "CCLD"),
    }
    assert store.subscriptions(ACCOUNT, ["b1", "gone"]) == {"b1": ("BBOO", "ABRT", "CCLD")}


def test_gzip_follows_events() -> None:
    store = make_store()
    exposition = Exposition(store, lambda: b"")
    for at in range(5):
        store.apply(ACCOUNT, events(Event("c2", "COBC", T0 + at)), now=2.0)
        plain = b"".join(exposition.render(gzip=False))
        assert gunzip_one_member(b"".join(exposition.render(gzip=True))) == plain
    assert b'camera_id="c2",event="COBC"} 5\n' in plain


def test_promtool_accepts_the_event_families() -> None:
    promtool = require_binary("promtool", "apt-get install prometheus")
    store = make_store()
    store.apply(ACCOUNT, events(Event("b1", "CCLD", T0, seconds=7)), now=2.0)
    body = b"".join(Exposition(store, lambda: b"").render(gzip=False)).decode()
    result = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def many_cameras_store(cameras: int = 40, accounts: int = 2) -> StateStore:
    """Accounts ACCOUNT, 00000002, ... with `cameras` cameras c00, c01, ... and a bridge b1."""
    store = StateStore(EventSelection(("CSSU",), ("BBOO", "CCLD")))
    ids = [f"{n:08d}" for n in range(1, accounts + 1)]
    store.sync_accounts([AccountInfo(account, f"Account {account}") for account in ids])
    for account in ids:
        store.set_devices(
            account,
            [DeviceInfo(f"c{i:02d}", CAM, f"Cam {i}", "b1", 0x1E0037) for i in range(cameras)]
            + [DeviceInfo("b1", BRIDGE, "Main", "", 0x120001)],
            seed_status=True,
            now=1.0,
        )
    return store


def camera_ids(cameras: int) -> list[str]:
    """many_cameras_store's camera ids, in id order."""
    return sorted(f"c{i:02d}" for i in range(cameras))


def report_once(store: StateStore, cameras: int, accounts: int) -> None:
    """Every camera of many_cameras_store reports once, account by account, in id order: each
    moves to the end at its first event (EventTable), so afterwards they are in that order
    again, their slices SLICE cameras of one account (with `cameras` a multiple of SLICE)."""
    for n in range(1, accounts + 1):
        update = events(*(Event(esn, "CSSU", T0, 0, 0) for esn in camera_ids(cameras)))
        store.apply(f"{n:08d}", update, now=1.5)


def second_slice(cameras: int) -> list[str]:
    """The ids of the second slice of an account's cameras, after report_once."""
    return camera_ids(cameras)[SLICE : 2 * SLICE]


def record_escapes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, every label value the renderer escapes (lays out), in order."""
    import exporter.exposition.render as exposition_module

    escaped: list[str] = []
    real_escape = exposition_module.escape

    def escape(value: str) -> str:
        escaped.append(value)
        return real_escape(value)

    monkeypatch.setattr(exposition_module, "escape", escape)
    return escaped


def record_slice_renders(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """From now on, the text of every slice the renderer formats, in order."""
    import exporter.exposition.render as exposition_module

    rendered: list[bytes] = []
    real_render = exposition_module.SliceLayout.render

    def render(self: exposition_module.SliceLayout, numbers: list[Any], start: int) -> bytes:
        rendered.append(real_render(self, numbers, start))
        return rendered[-1]

    monkeypatch.setattr(exposition_module.SliceLayout, "render", render)
    return rendered


def test_an_event_on_one_camera_renders_only_its_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 21: one camera's stream statistics must not render again its account's other
    cameras (every account has some camera reporting within any scrape interval), nor escape
    any label again: only the slice of SLICE cameras it is in."""
    store = many_cameras_store(cameras=3 * SLICE)
    report_once(store, 3 * SLICE, accounts=2)
    exposition = Exposition(store, lambda: b"")
    exposition.render(gzip=True)
    escaped = record_escapes(monkeypatch)
    rendered = record_slice_renders(monkeypatch)
    cameras = second_slice(3 * SLICE)
    store.apply(ACCOUNT, events(Event(cameras[7], "CSSU", T0, 100, 97)), now=2.0)
    body = gunzip_one_member(b"".join(exposition.render(gzip=True))).decode()
    assert f'camera_id="{cameras[7]}"}} 97\n' in body
    assert not {value for value in escaped if value.startswith(("c", "b"))}
    # Its slice's lines of the camera event families: count, last event, expected, received.
    assert len(rendered) == 4
    for data in rendered:
        assert set(re.findall(rb'camera_id="(c\d+)"', data)) == {c.encode() for c in cameras}


def test_cameras_that_report_together_are_rendered_together(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 21: at 15 s a quarter of the cameras have sent their stream statistics (CSSU, every
    60 s, each camera at its own phase), a few in every account. Once they have reported,
    those that report together sit together: their next round renders one slice per family,
    not one per account they are in."""
    accounts, cameras = 3, 2 * SLICE
    store = many_cameras_store(cameras=cameras, accounts=accounts)
    together = [(f"{n:08d}", esn) for n in range(1, accounts + 1) for esn in ("c03", "c77")]

    def report() -> None:
        for account, esn in together:
            store.apply(account, events(Event(esn, "CSSU", T0, 10, 9)), now=2.0)

    report()
    exposition = Exposition(store, lambda: b"")
    exposition.render(gzip=True)
    rendered = record_slice_renders(monkeypatch)
    report()
    body = b"".join(exposition.render(gzip=False)).decode()
    assert '{account_id="00000003",camera_id="c77"} 18\n' in body
    assert len(rendered) == 4  # count, last event, expected, received: one slice each
    for data in rendered:
        found = re.findall(rb'account_id="(\d+)",camera_id="(c\d+)"', data)
        assert {(a.decode(), c.decode()) for a, c in found} == set(together)


def test_a_new_account_lays_out_only_its_own_event_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new account's devices go at the end: no other account's event rows move, and no other
    label is laid out (escaped) again, not even those of the slice they join."""
    store = many_cameras_store(cameras=100, accounts=3)
    store.apply("00000002", events(Event("c01", "CSSU", T0, 100, 97)), now=2.0)
    exposition = Exposition(store, lambda: b"")
    exposition.render(gzip=True)
    escaped = record_escapes(monkeypatch)
    ids = ["00000000", "00000001", "00000002", "00000003"]
    store.sync_accounts([AccountInfo(account, f"Account {account}") for account in ids])
    store.set_devices(
        "00000000",
        [DeviceInfo("n1", CAM, "New", "nb", 0x1E0037), DeviceInfo("nb", BRIDGE, "B", "", 0)],
        seed_status=True,
        now=3.0,
    )
    body = gunzip_one_member(b"".join(exposition.render(gzip=True)))
    # 301 positions of cameras (c01 of 00000002 moved): n1 joins the last slice, of 45.
    assert {value for value in escaped if value.startswith(("c", "b"))} == set()
    assert {"n1", "nb"} <= set(escaped)
    assert b'{account_id="00000002",camera_id="c01"} 97\n' in body
    assert body == b"".join(Exposition(store, lambda: b"").render(gzip=False))


def test_an_event_compresses_only_the_chunk_of_its_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    """A gzip scrape after one camera's event compresses, of each camera event family, the
    one chunk of consecutive blocks that holds the camera's slice: less than
    gzipstream.CHUNK bytes and that slice, of a family of over eight chunks."""
    store = many_cameras_store(cameras=3 * SLICE, accounts=40)
    report_once(store, 3 * SLICE, accounts=40)
    exposition = Exposition(store, lambda: b"")
    families = b"".join(exposition.render(gzip=False)).split(b"# HELP ")
    compressed: list[bytes] = []
    real_piece = gzipstream.Pieces.piece

    def piece(self: gzipstream.Pieces, data: bytes) -> bytes:
        compressed.append(data)
        return real_piece(self, data)

    exposition.render(gzip=True)
    monkeypatch.setattr(gzipstream.Pieces, "piece", piece)
    camera = second_slice(3 * SLICE)[7]
    store.apply("00000020", events(Event(camera, "CSSU", T0 + 1000, 100, 97)), now=2.0)
    body = gunzip_one_member(b"".join(exposition.render(gzip=True)))
    line = f'{{account_id="00000020",camera_id="{camera}"}} 97\n'.encode()
    assert line in body
    chunks = [data for data in compressed if b'camera_id="' in data]
    assert len(chunks) == 4  # count, last event, expected, received
    for chunk in chunks:
        family = next(text for text in families if text.startswith(chunk.split(b"{", 1)[0]))
        assert len(family) > 8 * gzipstream.CHUNK
        assert b'{account_id="00000020",camera_id="' + camera.encode() in chunk
        assert len(chunk) < gzipstream.CHUNK + 3 * SLICE * 100  # a chunk and its last block


def test_incremental_bodies_equal_a_fresh_render() -> None:
    """Cached lines, slices and pieces, after events here and there, give byte for byte what
    a fresh exposition of the same store gives, identity and gzip."""
    store = many_cameras_store()
    exposition = Exposition(store, lambda: b"# self\n")
    for step in range(12):
        cameras = [f"c{(step * 7 + k) % 40:02d}" for k in range(step % 3 + 1)]
        update = events(*(Event(c, "CSSU", T0 + step, 10 + step, 9) for c in cameras))
        store.apply(ACCOUNT if step % 2 else "00000002", update, now=2.0 + step)
        if step == 5:
            store.apply(ACCOUNT, events(Event("b1", "CCLD", T0, seconds=3.5)), now=9.0)
        if step == 8:  # a device gone: the account's slices are laid out again
            store.set_devices(
                ACCOUNT,
                [DeviceInfo(f"c{i:02d}", CAM, f"Cam {i}", "b1", 0x1E0037) for i in range(1, 40)],
                seed_status=False,
                now=10.0,
            )
        plain = b"".join(exposition.render(gzip=False))
        compressed = b"".join(exposition.render(gzip=step % 2 == 0))
        fresh = b"".join(Exposition(store, lambda: b"# self\n").render(gzip=False))
        assert plain == fresh
        if step % 2 == 0:
            assert gzip.decompress(compressed) == fresh  # checks the CRC and length too
    assert "een_bridge_last_cloud_disconnect_duration_seconds" in fresh.decode()


def test_chunked_gzip_equals_a_fresh_render_when_blocks_come_and_go() -> None:
    """The gzip chunks follow the blocks when an account's number of slices changes and when
    accounts come and go, and never the other way round."""
    store = many_cameras_store(cameras=SLICE + 1, accounts=30)  # two slices each: 3 chunks
    exposition = Exposition(store, lambda: b"")
    exposition.render(gzip=True)

    def cameras(count: int) -> list[DeviceInfo]:
        return [DeviceInfo(f"c{i:02d}", CAM, f"Cam {i}", "b1", 0x1E0037) for i in range(count)]

    changes: list[Callable[[], object]] = [
        lambda: store.apply("00000015", events(Event("c01", "CSSU", T0, 5, 4)), now=2.0),
        lambda: store.set_devices("00000010", cameras(SLICE), seed_status=False, now=3.0),
        lambda: store.set_devices("00000005", cameras(2 * SLICE + 3), seed_status=True, now=4.0),
        lambda: store.sync_accounts([AccountInfo(f"{n:08d}", "x") for n in range(1, 32) if n != 3]),
        lambda: store.set_devices("00000031", cameras(SLICE), seed_status=True, now=5.0),
    ]
    for change in changes:
        change()
        compressed = b"".join(exposition.render(gzip=True))
        fresh = b"".join(Exposition(store, lambda: b"").render(gzip=False))
        assert gzip.decompress(compressed) == fresh


def test_counted_but_hidden_codes_have_no_per_code_series() -> None:
    """The default: CSSU feeds the packet counters, and has no events_total series."""
    store = make_store(EventSelection(("PRTH", "CSSU"), ("BBOO",), ("CSSU",)))
    store.apply(ACCOUNT, events(Event("c1", "CSSU", T0, 10, 9), Event("c1", "PRTH", T0)), now=2.0)
    found = samples(store)
    assert series(found, "een_camera_events_total", camera_id="c1", event="PRTH") == 1
    assert series(found, "een_camera_events_total", camera_id="c1", event="CSSU") is None
    assert (
        series(found, "een_camera_last_event_timestamp_seconds", camera_id="c1", event="CSSU")
        is None
    )
    assert series(found, "een_camera_stream_packets_received_total", camera_id="c1") == 9


def test_the_garbage_collector_is_paused_while_rendering(monkeypatch: pytest.MonkeyPatch) -> None:
    """A render's short-lived views must not be promoted by a collection mid-render (that
    sets off full collections of every long-lived object, inside scrapes)."""
    store = many_cameras_store()
    exposition = Exposition(store, lambda: b"")
    seen: list[bool] = []
    real_accounts = store.accounts

    def accounts(known: dict[str, int]) -> AccountsCopy:
        seen.append(gc.isenabled())
        return real_accounts(known)

    monkeypatch.setattr(store, "accounts", accounts)
    assert gc.isenabled()
    exposition.render(gzip=True)
    assert seen == [False]
    assert gc.isenabled(), "on again after the render"
    gc.disable()  # a caller's choice is left as it was
    try:
        exposition.render(gzip=False)
        assert not gc.isenabled()
    finally:
        gc.enable()
