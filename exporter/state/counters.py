"""The event counters of every device of one kind, in flat lists in the body's order.

Each account's devices of the kind hold a run of consecutive rows, in id order; the runs are in
account id order, so the rows are in the order /metrics shows them. A device's count and last
timestamp of the kind's subscribed code `i` sit at `row * codes + i`. A run is cut into slices
of SLICE rows, the unit the renderer formats and compresses again; each slice carries the
stamp of its last change. Flat lists over the whole fleet rather than lists per account: a
render copies a few lists under the store's lock and formats only the slices changed since
its last stamp, without visiting the accounts.

>>> table = EventTable(codes=2)
>>> table.place("acct", ["c2", "c1"])
>>> table.start("acct"), table.slices, table.changed_since(0)
(0, [Slice(account_id='acct', start=0, ids=('c1', 'c2'))], [0])
>>> table.count("acct", 1, 0, at_ms=1700000000123)
>>> table.counts, table.last_ms[2], table.changed_since(1)
([0, 0, 1, 0], 1700000000123, [0])
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# Devices per slice: a slice is what the renderer formats and compresses again when one of its
# devices' counters changed. Smaller slices cost more per scrape in calls than they save.
SLICE = 64


LISTS = ("counts", "last_ms", "expected", "received", "disconnect")


@dataclass(frozen=True, slots=True)
class Slice:
    """Up to SLICE consecutive devices of one account: their rows [start, start + len(ids))."""

    account_id: str
    start: int
    ids: tuple[str, ...]


@dataclass(slots=True)
class _Run:
    ids: tuple[str, ...]  # the account's devices of the kind, in id order
    start: int = 0  # its first row
    first_slice: int = 0  # its first slice's number


@dataclass(slots=True)
class EventsCopy:
    """What changed in a table since a render's stamp, copied under the store's lock.

    `slices` is every slice when the layout (which devices hold which rows) differs from the one
    asked about, else None; `changed` the numbers of the slices to render again (all of them
    with a new layout); `lists` copies of the rendered lists, by name (LISTS).
    """

    layout: int
    stamp: int
    slices: list[Slice] | None
    changed: list[int]
    lists: dict[str, list[Any]]


@dataclass(slots=True)
class EventTable:
    codes: int  # codes subscribed for the kind (EventSelection.for_kind)
    # The lists that have series (by name), the only ones kept (the others stay empty): e.g.
    # not the per-code counts of cameras whose only code (CSSU, by default) has no series of
    # its own, nor the bridges' last event times.
    rendered: frozenset[str] = frozenset(LISTS)
    counts: list[int] = field(default_factory=list)  # [row * codes + i]: events of code i
    last_ms: list[int] = field(default_factory=list)  # [row * codes + i]: the last one, Unix ms
    expected: list[int] = field(default_factory=list)  # [row]: packets expected, summed (CSSU)
    received: list[int] = field(default_factory=list)  # [row]: packets received, summed
    disconnect: list[float | None] = field(default_factory=list)  # [row]: the last CCLD seconds
    slices: list[Slice] = field(default_factory=list)  # in the body's order
    changed_at: list[int] = field(default_factory=list)  # [slice]: stamp of the last change
    rows: int = 0
    layout: int = 0  # changed whenever which devices hold which rows changes
    stamp: int = 0  # of the last change
    _accounts: list[str] = field(default_factory=list)  # with rows, in id order
    _runs: dict[str, _Run] = field(default_factory=dict)

    def place(self, account_id: str, ids: Iterable[str]) -> None:
        """Give the account's devices of the kind rows (none: the account has no run); a
        device the account had keeps its values. Every slice counts as changed."""
        ordered = tuple(sorted(ids))
        run = self._runs.get(account_id)
        if run is not None and run.ids == ordered:
            return
        if run is None:
            if not ordered:
                return
            at = bisect.bisect(self._accounts, account_id)
            start = self._runs[self._accounts[at]].start if at < len(self._accounts) else self.rows
            self._accounts.insert(at, account_id)
            run = self._runs[account_id] = _Run((), start)
        self._splice(run, ordered)
        if not ordered:
            self._accounts.remove(account_id)
            del self._runs[account_id]
        self._lay_out()

    def _splice(self, run: _Run, ids: tuple[str, ...]) -> None:
        """Replace the run's rows with rows for `ids`, keeping a remaining device's values."""
        codes, start, old = self.codes, run.start, len(run.ids)
        at = {esn: run.start + slot for slot, esn in enumerate(run.ids)}
        kept = [at.get(esn) for esn in ids]
        for name, per_row, blank in (
            ("counts", codes, 0),
            ("last_ms", codes, 0),
            ("expected", 1, 0),
            ("received", 1, 0),
            ("disconnect", 1, None),
        ):
            if name not in self.rendered:
                continue
            values: list[Any] = getattr(self, name)
            new: list[Any] = []
            for row in kept:
                if row is None:
                    new.extend([blank] * per_row)
                else:
                    new.extend(values[row * per_row : (row + 1) * per_row])
            values[start * per_row : (start + old) * per_row] = new
        run.ids = ids

    def _lay_out(self) -> None:
        """The runs' starts and the slices again, after a run changed; every slice changed."""
        self.stamp += 1
        self.layout += 1
        slices: list[Slice] = []
        start = 0
        for account_id in self._accounts:
            run = self._runs[account_id]
            run.start, run.first_slice = start, len(slices)
            for first in range(0, len(run.ids), SLICE):
                slices.append(Slice(account_id, start + first, run.ids[first : first + SLICE]))
            start += len(run.ids)
        self.rows = start
        self.slices = slices
        self.changed_at = [self.stamp] * len(slices)

    def start(self, account_id: str) -> int:
        """The account's first row (its devices' rows follow in id order)."""
        return self._runs[account_id].start

    def count(self, account_id: str, slot: int, code: int, at_ms: int) -> None:
        """One event of code `code` (its index) for the account's device `slot` (its place
        among the account's devices of the kind, in id order)."""
        run = self._runs[account_id]
        at = (run.start + slot) * self.codes + code
        if "counts" in self.rendered:
            self.counts[at] += 1
        if "last_ms" in self.rendered:
            self.last_ms[at] = at_ms
        self.stamp += 1  # each count a later stamp: a render took everything before it
        self.changed_at[run.first_slice + slot // SLICE] = self.stamp

    def packets(self, account_id: str, slot: int, expected: int, received: int) -> None:
        """A CSSU's packets, after count() of the same event (which marks its slice)."""
        if "expected" not in self.rendered:
            return
        row = self._runs[account_id].start + slot
        self.expected[row] += expected
        self.received[row] += received

    def disconnected(self, account_id: str, slot: int, seconds: float) -> None:
        """A CCLD's seconds, after count() of the same event (which marks its slice)."""
        if "disconnect" in self.rendered:
            self.disconnect[self._runs[account_id].start + slot] = seconds

    def changed_since(self, stamp: int) -> list[int]:
        """The numbers of the slices changed after `stamp`."""
        return [number for number, at in enumerate(self.changed_at) if at > stamp]

    def copy(self, layout: int, stamp: int) -> EventsCopy | None:
        """What changed since (layout, stamp) (see EventsCopy); None: nothing."""
        if layout == self.layout:
            if stamp >= self.stamp:
                return None
            changed = self.changed_since(stamp)
            if not changed:
                return None
            slices = None
        else:
            slices = self.slices
            changed = list(range(len(slices)))
        lists = {name: getattr(self, name).copy() for name in self.rendered}
        return EventsCopy(self.layout, self.stamp, slices, changed, lists)
