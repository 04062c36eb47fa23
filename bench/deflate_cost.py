"""ISA-L's deflate (python-isal, what /metrics uses) against zlib's, on the exporter's own body.

Builds, in-process, the state of `--accounts` x (`--bridges` + `--cameras`) devices with the
default events (every camera's stream statistics counted), renders /metrics once, then
compresses the body as gzip pieces (exposition.gzipstream: raw deflate, full flush), with each
library at each level, a piece per block (an account's lines of a family, or of a slice of
its devices) and a piece per chunk (runs of a family's blocks of about 64 kB, what
gzipstream.Chunks makes), several rounds, interleaved, in the same run. Reports the median
time per body and the compressed size.

    .venv/bin/python bench/deflate_cost.py                   # 1,000 x 50, ~1 min

See docs/performance.md ("Events at the cost of what changed").
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from isal import isal_zlib

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from exporter.exposition import gzipstream  # noqa: E402
from exporter.exposition.render import FAMILIES, Exposition, Source  # noqa: E402
from exporter.state.model import (  # noqa: E402
    AccountInfo,
    DeviceInfo,
    DeviceKind,
    Event,
    EventSelection,
    StreamUpdate,
)
from exporter.state.store import StateStore  # noqa: E402

DEFAULT_EVENTS = EventSelection(("CSSU",), ("BBOO", "ABRT", "CCLD"), ("CSSU",))
ONLINE_ON_STREAMING_RECORDING = 0x1E0000


def body_blocks(accounts: int, bridges: int, cameras: int) -> list[list[bytes]]:
    """Every block of the body, per family, as the exposition caches them."""
    rng = random.Random(21)
    store = StateStore(DEFAULT_EVENTS)
    infos = [AccountInfo(f"{i:08x}", f"Account {i}") for i in range(accounts)]
    store.sync_accounts(infos)
    for account in infos:
        devices = [
            DeviceInfo(f"1{rng.getrandbits(28):07x}", DeviceKind.BRIDGE, f"Bridge {j}", "", 0)
            for j in range(bridges)
        ]
        devices += [
            DeviceInfo(
                f"1{rng.getrandbits(28):07x}",
                DeviceKind.CAMERA,
                f"Camera {j}",
                devices[0].id if devices else "",
                ONLINE_ON_STREAMING_RECORDING,
            )
            for j in range(cameras)
        ]
        store.set_devices(account.id, devices, seed_status=True, now=1.7e9)
        stats = [
            Event(
                d.id,
                "CSSU",
                1_700_000_000_000,
                rng.randint(10**5, 10**7),
                rng.randint(10**5, 10**7),
            )
            for d in devices
            if d.kind is DeviceKind.CAMERA
        ]
        store.apply(account.id, StreamUpdate(events=stats), now=1.7e9)
    exposition = Exposition(store, lambda: b"")
    exposition.render(gzip=False)
    return [
        []
        if family.source is Source.ACCOUNT
        else [block for block in exposition._family(index) if block]
        for index, family in enumerate(FAMILIES)
    ]


def chunks(families: list[list[bytes]]) -> list[bytes]:
    """The texts gzipstream.Chunks compresses a piece each of."""
    return [
        b"".join(blocks[run.start : run.stop])
        for blocks in families
        for run in gzipstream.runs(blocks)
    ]


def pieces(make: Callable[[], Any], flush: int, blocks: list[bytes]) -> tuple[float, int]:
    """(seconds, bytes) of compressing every block as a piece with one reused compressor."""
    compressor = make()
    started = time.perf_counter()
    size = 0
    for block in blocks:
        size += len(compressor.compress(block)) + len(compressor.flush(flush))
    return time.perf_counter() - started, size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--cameras", type=int, default=50)
    parser.add_argument("--bridges", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    families = body_blocks(args.accounts, args.bridges, args.cameras)
    blocks = [block for family in families for block in family]
    cut = {"a piece per block": blocks, "a piece per chunk": chunks(families)}
    text = sum(map(len, blocks))
    contenders = {
        "zlib, level 1": (lambda: zlib.compressobj(1, zlib.DEFLATED, -15), zlib.Z_FULL_FLUSH),
        "zlib, level 6": (lambda: zlib.compressobj(6, zlib.DEFLATED, -15), zlib.Z_FULL_FLUSH),
        "isal, level 0": (
            lambda: isal_zlib.compressobj(0, isal_zlib.DEFLATED, -15),
            isal_zlib.Z_FULL_FLUSH,
        ),
        "isal, level 1": (
            lambda: isal_zlib.compressobj(1, isal_zlib.DEFLATED, -15),
            isal_zlib.Z_FULL_FLUSH,
        ),
        "isal, level 2": (
            lambda: isal_zlib.compressobj(2, isal_zlib.DEFLATED, -15),
            isal_zlib.Z_FULL_FLUSH,
        ),
    }
    runs = [(name, way) for name in contenders for way in cut]
    times: dict[tuple[str, str], list[float]] = {run: [] for run in runs}
    sizes: dict[tuple[str, str], int] = {}
    for _ in range(args.rounds):  # interleaved, so that load changes hit every contender
        for name, way in runs:
            make, flush = contenders[name]
            seconds, sizes[name, way] = pieces(make, flush, cut[way])
            times[name, way].append(seconds)
    print(
        f"{args.accounts:,} accounts x ({args.bridges} bridges + {args.cameras} cameras), "
        f"default events: {len(blocks):,} blocks, {len(cut['a piece per chunk']):,} chunks, "
        f"{text / 1e6:.1f} MB of text; median of {args.rounds} rounds"
    )
    print("| deflate | pieces | time per body | MB/s | compressed | of the text |")
    print("|---|---|---:|---:|---:|---:|")
    for name, way in runs:
        seconds = statistics.median(times[name, way])
        size = sizes[name, way]
        print(
            f"| {name} | {way} | {seconds * 1e3:.0f} ms | {text / seconds / 1e6:.0f} | "
            f"{size / 1e6:.2f} MB | {size / text:.1%} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
