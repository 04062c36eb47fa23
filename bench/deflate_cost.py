"""ISA-L's deflate (python-isal, what /metrics uses) against zlib's, on the exporter's own body.

Builds, in-process, the state of `--accounts` x (`--bridges` + `--cameras`) devices with the
default events (every camera's stream statistics counted), renders /metrics once, then
compresses each block of the body as a gzip piece (exposition.gzipstream: raw deflate, full
flush), with each library at each level, several rounds, one after the other in the same run.
Reports the median time per body and the compressed size.

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

from exporter.exposition.render import FAMILIES, Exposition  # noqa: E402
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


def body_blocks(accounts: int, bridges: int, cameras: int) -> list[bytes]:
    """Every block of the body, as the exposition caches and compresses them."""
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
    blocks: list[bytes] = []
    for index in range(len(FAMILIES)):
        for rendered in exposition._rendered():
            blocks.extend(block for block in rendered.family(index) if block)
    return blocks


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
    blocks = body_blocks(args.accounts, args.bridges, args.cameras)
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
    times: dict[str, list[float]] = {name: [] for name in contenders}
    sizes: dict[str, int] = {}
    for _ in range(args.rounds):  # interleaved, so that load changes hit every contender
        for name, (make, flush) in contenders.items():
            seconds, sizes[name] = pieces(make, flush, blocks)
            times[name].append(seconds)
    print(
        f"{args.accounts:,} accounts x ({args.bridges} bridges + {args.cameras} cameras), "
        f"default events: {len(blocks):,} blocks, {text / 1e6:.1f} MB of text; "
        f"median of {args.rounds} rounds"
    )
    print("| deflate | time per body | MB/s | compressed | of the text |")
    print("|---|---:|---:|---:|---:|")
    for name in contenders:
        seconds = statistics.median(times[name])
        print(
            f"| {name} | {seconds * 1e3:.0f} ms | {text / seconds / 1e6:.0f} | "
            f"{sizes[name] / 1e6:.2f} MB | {sizes[name] / text:.1%} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
