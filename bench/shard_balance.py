"""How evenly the shard hash splits accounts, and how many move when the total changes.

Ids are the simulator's (8 digits, like EEN's 00004206: a seeded world's sub-accounts) and,
as a harder case, sequential ids from 00004206 on. For each, the accounts per shard, the
imbalance (the fullest shard over the mean, minus 1) and how many accounts change shard when
the total grows by one, for the exporter's hash (jump hash of SHA-256) and for plain
SHA-256 modulo the total.

    .venv/bin/python bench/shard_balance.py                      # 1,000 ids, 3 shards
    .venv/bin/python bench/shard_balance.py --accounts 3000 --shards 4
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere, without the package installed
    sys.path.insert(0, str(ROOT))

from exporter.simulator import WorldSpec  # noqa: E402
from exporter.simulator.world import build_world  # noqa: E402
from exporter.state.sharding import shard_of  # noqa: E402

Hash = Callable[[str, int], int]


def modulo(account_id: str, total: int) -> int:
    """The alternative: the same SHA-256 key, modulo the total."""
    return int.from_bytes(hashlib.sha256(account_id.encode()).digest()[:8], "big") % total


def simulated_ids(count: int, seed: int) -> list[str]:
    world = build_world(WorldSpec(accounts=count, bridges=0, cameras=0, seed=seed))
    return [account.id for account in world.accounts.values() if not account.is_master]


def sequential_ids(count: int) -> list[str]:
    return [f"{number:08d}" for number in range(4206, 4206 + count)]


def report(name: str, ids: list[str], shards: int, hashes: dict[str, Hash]) -> list[str]:
    lines = [f"{name}: {len(ids):,} ids, {shards} shards (mean {len(ids) / shards:.1f})"]
    for label, shard in hashes.items():
        counts = Counter(shard(account_id, shards) for account_id in ids)
        sizes = [counts.get(index, 0) for index in range(shards)]
        imbalance = max(sizes) / statistics.fmean(sizes) - 1
        moved = sum(shard(a, shards) != shard(a, shards + 1) for a in ids)
        lines.append(
            f"  {label:<22} per shard {sizes}; imbalance {100 * imbalance:+.1f} %; "
            f"{shards} -> {shards + 1} shards moves {moved} ({100 * moved / len(ids):.0f} %)"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--shards", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.accounts < 1 or args.shards < 1:
        parser.error("--accounts and --shards must be >= 1")
    hashes: dict[str, Hash] = {"jump(sha256) [used]": shard_of, "sha256 % total": modulo}
    lines = report(
        f"simulator ids (seed {args.seed})",
        simulated_ids(args.accounts, args.seed),
        args.shards,
        hashes,
    )
    lines += report("sequential ids", sequential_ids(args.accounts), args.shards, hashes)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
