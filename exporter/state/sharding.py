"""Which accounts this replica monitors when several replicas share one EEN login.

An account belongs to shard `jump(sha256(account id), total)`. SHA-256 makes the key the
same in every process, Python version and machine (`hash()` is salted per process), and
spreads sequential ids such as 00004206, 00004207 evenly. Jump consistent hash (Lamping and
Veach, 2014) instead of `key % total`: it is as even, and when `total` grows from N to N+1
only 1/(N+1) of the accounts move, so during a rolling re-shard old and new replicas agree
on most accounts and few are briefly monitored twice or not at all.

>>> shard_of("00004206", 1)
0
>>> [shard_of(account_id, 3) for account_id in ("00004206", "00004207", "00004208")]
[1, 1, 2]
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from exporter.state.model import AccountInfo

AUTO = "auto"
MAX_SHARDS = 1024  # the largest --shard.total; an index is below it
# Where `--shard.index=auto` reads the StatefulSet pod name (`een-exporter-2` -> 2).
POD_NAME_VARIABLES = ("POD_NAME", "HOSTNAME")
# An ordinal of more digits than any index has is none (int() fails past 4,300 digits).
_ORDINAL = re.compile(rf"-(\d{{1,{len(str(MAX_SHARDS))}}})$")
_SHOWN_LIMIT = 60  # characters of a pod name an error message repeats

_MASK = (1 << 64) - 1
_JUMP_MULTIPLIER = 2862933555777941757


def jump_hash(key: int, buckets: int) -> int:
    """Lamping and Veach's jump consistent hash of a 64-bit key into [0, buckets).

    >>> jump_hash(0, 7), jump_hash(2**64 - 1, 1)
    (0, 0)
    """
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    bucket, candidate = -1, 0
    while candidate < buckets:
        bucket = candidate
        key = (key * _JUMP_MULTIPLIER + 1) & _MASK
        candidate = int((bucket + 1) * ((1 << 31) / ((key >> 33) + 1)))
    return bucket


def shard_of(account_id: str, total: int) -> int:
    """The shard in [0, total) that monitors `account_id`."""
    digest = hashlib.sha256(account_id.encode()).digest()
    return jump_hash(int.from_bytes(digest[:8], "big"), total)


@dataclass(frozen=True)
class Shard:
    """This replica's place among `total`; the default (0 of 1) monitors every account."""

    index: int = 0
    total: int = 1

    def owner(self, account_id: str) -> int:
        return shard_of(account_id, self.total)

    def select(self, accounts: Iterable[AccountInfo]) -> list[AccountInfo]:
        """The accounts this shard monitors, in the order given."""
        if self.total == 1:
            return list(accounts)
        return [account for account in accounts if self.owner(account.id) == self.index]


def ordinal(pod_name: str) -> int | None:
    """The StatefulSet ordinal at the end of a pod name, or None (also for one of more digits
    than an index has).

    >>> ordinal("een-exporter-12"), ordinal("een-exporter"), ordinal("web-1-x"), ordinal("x-12345")
    (12, None, None, None)
    """
    match = _ORDINAL.search(pod_name.strip())
    return int(match.group(1)) if match else None


def index_from_pod_name(environ: Mapping[str, str]) -> int:
    """The shard index for `auto`: the ordinal of POD_NAME, else of HOSTNAME.

    Raises ValueError naming what was found when neither ends in `-N`.
    """
    for variable in POD_NAME_VARIABLES:
        name = environ.get(variable, "").strip()
        if not name:
            continue
        found = ordinal(name)
        if found is None:
            shown = repr(name[:_SHOWN_LIMIT])
            if len(name) > _SHOWN_LIMIT:
                shown += f"… ({len(name)} characters)"
            raise ValueError(
                f"is auto, but the pod name does not end in -N (a StatefulSet ordinal, "
                f"0 to {MAX_SHARDS - 1}); got {shown} from {variable}"
            )
        return found
    raise ValueError(
        f"is auto, but neither {' nor '.join(POD_NAME_VARIABLES)} is set to a pod name "
        "ending in -N (a StatefulSet ordinal)"
    )
