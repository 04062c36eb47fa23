import gzip
import subprocess
import tracemalloc
import zlib

from exporter.exposition import Exposition, camera_values
from exporter.model import AccountInfo, DeviceInfo, DeviceKind, StreamUpdate
from exporter.store import StateStore
from tests.support import parse_exposition, require_binary, series

CAM, BRIDGE = DeviceKind.CAMERA, DeviceKind.BRIDGE
RECORDING, PASSWORD_NEEDED, BRIDGE_UP = 0x1E0037, 0x120120, 1179649


def make_store() -> StateStore:
    store = StateStore()
    store.sync_accounts([AccountInfo("00000001", 'Acme "East"'), AccountInfo("00000002", "Beta")])
    store.set_devices(
        "00000001",
        [
            DeviceInfo("c1", CAM, "Lobby\\Door\nNorth", "b1", RECORDING),
            DeviceInfo("c2", CAM, "Dock", "b1", PASSWORD_NEEDED),
            DeviceInfo("c3", CAM, "New", "b1", 0),  # status not known yet
            DeviceInfo("b1", BRIDGE, "Main bridge", "", BRIDGE_UP),
        ],
        seed_status=True,
        now=1700000000.25,
    )
    return store


def text(exposition: Exposition) -> str:
    return b"".join(exposition.render(gzip=False)).decode()


def gunzip_one_member(body: bytes) -> bytes:
    """Decode `body` as exactly one gzip member, as browsers and curl do: nothing may follow."""
    decoder = zlib.decompressobj(wbits=31)
    plain = decoder.decompress(body) + decoder.flush()
    assert decoder.eof, "the gzip stream does not end"
    assert decoder.unused_data == b"", f"{len(decoder.unused_data)} bytes after the first member"
    return plain


def test_camera_bridge_and_account_series() -> None:
    samples = parse_exposition(text(Exposition(make_store(), lambda: b"")))
    c1 = {"account_id": "00000001", "camera_id": "c1"}
    assert series(samples, "een_camera_online", **c1) == 1
    assert series(samples, "een_camera_recording", **c1) == 1
    assert series(samples, "een_camera_last_update_timestamp_seconds", **c1) == 1700000000.25
    assert series(samples, "een_camera_info", **c1, name="Lobby\\Door\nNorth", bridge_id="b1") == 1
    c2 = {"account_id": "00000001", "camera_id": "c2"}
    assert series(samples, "een_camera_streaming", **c2) == 0
    one_hot = {
        dict(labels)["status"]: value
        for (name, labels), value in samples.items()
        if name == "een_camera_status" and ("camera_id", "c2") in labels
    }
    assert one_hot == {
        "online": 0,
        "offline": 0,
        "internet_offline": 0,
        "password_needed": 1,
        "off": 0,
    }
    assert series(samples, "een_bridge_online", account_id="00000001", bridge_id="b1") == 1
    assert series(samples, "een_bridge_info", bridge_id="b1", name="Main bridge") == 1
    assert series(samples, "een_account_info", account_id="00000001", name='Acme "East"') == 1


def test_unknown_status_has_only_the_info_series() -> None:
    samples = parse_exposition(text(Exposition(make_store(), lambda: b"")))
    c3 = [name for (name, labels), _ in samples.items() if ("camera_id", "c3") in labels]
    assert c3 == ["een_camera_info"]


def test_stream_counters_exist_from_the_start() -> None:
    samples = parse_exposition(text(Exposition(make_store(), lambda: b"")))
    for name in ("een_stream_connects", "een_stream_disconnects", "een_stream_messages"):
        assert series(samples, name + "_total", account_id="00000002") == 0
    assert series(samples, "een_stream_up", account_id="00000002") == 0


def test_each_family_is_described_once_and_contiguous() -> None:
    lines = text(Exposition(make_store(), lambda: b"")).splitlines()
    families = [line.split()[2] for line in lines if line.startswith("# TYPE")]
    assert len(families) == len(set(families))
    seen: list[str] = []
    for line in lines:
        if not line.startswith("#"):
            name = line.split("{")[0]
            if not seen or seen[-1] != name:
                assert name not in seen, f"{name} samples are split"
                seen.append(name)


def test_changes_and_removals_show_on_the_next_render() -> None:
    store = make_store()
    exposition = Exposition(store, lambda: b"")
    text(exposition)
    store.apply("00000001", StreamUpdate({"c1": 0x100025}), now=1700000001.0)
    store.sync_accounts([AccountInfo("00000001", "Acme")])
    samples = parse_exposition(text(exposition))
    assert series(samples, "een_camera_on", camera_id="c1") == 0
    assert series(samples, "een_camera_status", camera_id="c1", status="off") == 1
    assert series(samples, "een_stream_up", account_id="00000002") is None
    assert series(samples, "een_account_info", account_id="00000001", name="Acme") == 1


def test_unchanged_store_serves_the_cached_body() -> None:
    exposition = Exposition(make_store(), lambda: b"")
    first, _ = exposition.render(gzip=True)
    second, _ = exposition.render(gzip=True)
    assert first is second


def test_gzip_body_is_the_same_exposition_in_one_gzip_member() -> None:
    store = make_store()
    exposition = Exposition(store, lambda: b"# self metrics\n")
    plain = b"".join(exposition.render(gzip=False))
    compressed = b"".join(exposition.render(gzip=True))
    assert gunzip_one_member(compressed) == plain
    assert plain.endswith(b"# self metrics\n")
    assert gzip.decompress(compressed) == plain  # the gzip module checks the CRC and length


def test_gzip_body_without_self_metrics_ends_properly() -> None:
    exposition = Exposition(make_store(), lambda: b"")
    assert gunzip_one_member(b"".join(exposition.render(gzip=True))) == text(exposition).encode()


def test_gzip_follows_every_kind_of_change() -> None:
    store = make_store()
    exposition = Exposition(store, lambda: b"")

    def plain() -> bytes:
        return b"".join(exposition.render(gzip=False))

    def compressed() -> bytes:
        return gunzip_one_member(b"".join(exposition.render(gzip=True)))

    assert compressed() == plain()
    store.stream_connected("00000002")  # account health only
    assert compressed() == plain()
    store.apply("00000001", StreamUpdate({"c2": RECORDING}), now=1700000002.0)
    assert compressed() == plain()
    store.set_devices("00000001", [DeviceInfo("c9", CAM, "Roof", "", RECORDING)], False, 1.0)
    assert compressed() == plain()
    assert b'camera_id="c9"' in compressed()
    assert b'camera_id="c1"' not in compressed()


def test_promtool_accepts_the_exposition() -> None:
    promtool = require_binary("promtool", "apt-get install prometheus")
    body = text(Exposition(make_store(), lambda: b""))
    result = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_text_that_utf8_cannot_encode_becomes_replacement_characters() -> None:
    store = make_store()
    # Lone surrogates: valid JSON ("\\ud800"), so EEN can send them; not encodable as UTF-8.
    store.sync_accounts([AccountInfo("00000001", "Acme \ud800"), AccountInfo("00000002", "B")])
    store.set_devices("00000001", [DeviceInfo("c\udfff", CAM, "\udbff\udc00x", "", RECORDING)],
                      seed_status=True, now=1.0)  # fmt: skip
    exposition = Exposition(store, lambda: b"")
    body = text(exposition)
    assert gunzip_one_member(b"".join(exposition.render(gzip=True))).decode() == body
    samples = parse_exposition(body)
    assert series(samples, "een_account_info", account_id="00000001", name="Acme \ufffd") == 1
    assert series(samples, "een_camera_online", camera_id="c\ufffd") == 1
    assert series(samples, "een_camera_info", name="\ufffd\ufffdx") == 1
    assert series(samples, "een_account_info", account_id="00000002") == 1  # others unaffected


def test_distinct_statuses_do_not_grow_memory() -> None:
    store = make_store()
    exposition = Exposition(store, lambda: b"")

    def render_statuses(first: int, count: int) -> None:
        for n in range(first, first + count):
            # Bits from 24 up mean nothing to the decoding; every value is a new bitmask.
            status = RECORDING | n << 24
            store.apply("00000001", StreamUpdate({"c1": status}), now=float(n))
            text(exposition)

    render_statuses(1, 200)  # warm up: caches, the exposition's own blocks
    # Only what the renderer and the decoder allocate: threads left by other tests allocate too.
    ours = [tracemalloc.Filter(True, "*/exporter/exposition.py"),
            tracemalloc.Filter(True, "*/exporter/status.py")]  # fmt: skip
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot().filter_traces(ours)
        render_statuses(201, 2_000)
        after = tracemalloc.take_snapshot().filter_traces(ours)
    finally:
        tracemalloc.stop()
    kept = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert kept < 256_000, f"{kept:,} bytes kept after 2,000 statuses"
    assert camera_values.cache_info().currsize <= 128
