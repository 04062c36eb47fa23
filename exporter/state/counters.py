"""An account's event counters for one kind of device, in flat lists indexed by slot.

A device's slot is its place among the account's devices of its kind, in id order; its count
and last timestamp for the kind's subscribed code `i` sit at `slot * codes + i`. Flat lists
rather than lists in an object per device: a counter costs one list item, copying an account's
counters for a render is a few list copies under the store's lock, and the renderer formats a
slice of them with one `%` of a cached template (exposition.render), not line by line.

>>> counters = Counters.for_devices(["c2", "c1"], codes=2, stamp=7)
>>> counters.ids, counters.slot("c2"), counters.changed_at
(('c1', 'c2'), 1, [7])
>>> counters.count(1, 0, at_ms=1700000000123, stamp=8)
>>> counters.counts, counters.last_ms[2], counters.changed_at
([0, 0, 1, 0], 1700000000123, [8])
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Devices per slice: a slice is what the renderer formats and compresses again when one of its
# devices' counters changed. Smaller slices cost more per scrape in pieces and their flushes
# (about 5 bytes each) than they save.
SLICE = 64


LISTS = frozenset({"counts", "last_ms", "expected", "received", "disconnect"})


def slices(devices: int) -> int:
    """How many slices `devices` devices take."""
    return -(-devices // SLICE)


@dataclass(slots=True)
class Counters:
    ids: tuple[str, ...]  # slot -> device id, in id order
    codes: int  # codes subscribed for the kind (EventSelection.for_kind)
    counts: list[int]  # [slot * codes + i]: events of code i
    last_ms: list[int]  # [slot * codes + i]: EEN's timestamp of the last one, Unix ms; 0: none
    expected: list[int]  # [slot]: packets expected, summed (STREAM_STATS; cameras)
    received: list[int]  # [slot]: packets received, summed
    disconnect: list[float | None]  # [slot]: the last CLOUD_DISCONNECT's seconds (bridges)
    changed_at: list[int]  # [slot // SLICE]: the account's events version of the last change
    last_change: int  # the latest of changed_at
    # The lists that have series (by name), so the only ones a snapshot copies: e.g. not the
    # per-code counts of cameras whose only code (CSSU, by default) has no series of its own.
    rendered: frozenset[str] = LISTS

    @classmethod
    def for_devices(
        cls,
        ids: Iterable[str],
        codes: int,
        stamp: int,
        previous: Counters | None = None,
        rendered: frozenset[str] = LISTS,
    ) -> Counters:
        """Counters for these devices, every slice changed at `stamp`; a device that `previous`
        also has keeps its values."""
        ordered = tuple(sorted(ids))
        n = len(ordered)
        counters = cls(
            ordered,
            codes,
            [0] * (n * codes),
            [0] * (n * codes),
            [0] * n,
            [0] * n,
            [None] * n,
            [stamp] * slices(n),
            stamp,
            rendered,
        )
        if previous is not None and previous.codes == codes:
            counters._take(previous)
        return counters

    def _take(self, previous: Counters) -> None:
        old_slots = {esn: slot for slot, esn in enumerate(previous.ids)}
        codes = self.codes
        for slot, esn in enumerate(self.ids):
            old = old_slots.get(esn)
            if old is None:
                continue
            self.counts[slot * codes : (slot + 1) * codes] = previous.counts[
                old * codes : (old + 1) * codes
            ]
            self.last_ms[slot * codes : (slot + 1) * codes] = previous.last_ms[
                old * codes : (old + 1) * codes
            ]
            self.expected[slot] = previous.expected[old]
            self.received[slot] = previous.received[old]
            self.disconnect[slot] = previous.disconnect[old]

    def slot(self, esn: str) -> int:
        """The device's slot (for tests and rebuilding: the store keeps it on the device)."""
        return self.ids.index(esn)

    def count(self, slot: int, code: int, at_ms: int, stamp: int) -> None:
        """One event of code `code` (its index) for the device at `slot`."""
        at = slot * self.codes + code
        self.counts[at] += 1
        self.last_ms[at] = at_ms
        self.changed_at[slot // SLICE] = self.last_change = stamp

    def snapshot(self) -> Counters:
        """A copy to render outside the lock, of the lists in `rendered` (the others empty;
        ids is shared: it is never changed in place)."""
        rendered = self.rendered
        return Counters(
            self.ids,
            self.codes,
            self.counts.copy() if "counts" in rendered else [],
            self.last_ms.copy() if "last_ms" in rendered else [],
            self.expected.copy() if "expected" in rendered else [],
            self.received.copy() if "received" in rendered else [],
            self.disconnect.copy() if "disconnect" in rendered else [],
            self.changed_at.copy(),
            self.last_change,
            rendered,
        )
