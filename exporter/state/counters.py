"""The event counters of every device of one kind, in flat lists, at positions that put the
devices reporting together side by side.

A device holds one position; its count and last timestamp of the kind's subscribed code `i`
sit at `position * codes + i`, its packets and disconnect time at `position`. The positions,
cut in slices of SLICE, are the order /metrics shows the event lines in, and a slice is the
unit the renderer formats and compresses again; each slice carries the stamps of its last
change and of the last change of which devices it holds.

A device gets a position at the end when it is placed, and moves to the end once more at its
first event. The events that change most are periodic: CSSU, a streaming camera's stream
statistics, comes every `interval` (60 s in een-sim), each camera at its own phase. Devices
thus end up in the order of their phase, and the cameras that reported since the last scrape
(a quarter of them at 15 s) are a few runs of whole slices, not a few cameras in every slice:
a scrape formats and compresses what changed, not the fleet. A position left behind is a hole
(no line); when there are more holes than devices, the positions are renumbered in order
(`epoch` changes).

>>> table = EventTable(codes=2)
>>> table.place("acct", ["c2", "c1"])
>>> table.devices, table.changed_since(0)
([('acct', 'c1'), ('acct', 'c2')], [0])
>>> table.count("acct", 1, 0, at_ms=1700000000123)  # c2's first event: it moves to the end
>>> table.devices, table.counts, table.last_ms[4]
([('acct', 'c1'), None, ('acct', 'c2')], [0, 0, 0, 0, 1, 0], 1700000000123)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# Positions per slice: a slice is what the renderer formats and compresses again when one of
# its devices' counters changed. Smaller slices cost more per scrape in calls than they save.
SLICE = 64

LISTS = ("counts", "last_ms", "expected", "received", "disconnect")

Device = tuple[str, str]  # (account id, device id)


@dataclass(slots=True)
class EventsCopy:
    """What changed in a table since a render's (epoch, stamp), copied under the store's lock.

    The slices are positions [k * SLICE, (k + 1) * SLICE) of `size`. `laid_out` holds, by
    slice number, the devices at each position of the slices whose devices changed (None: a
    hole); every slice, in a new epoch. `changed` are the numbers of the slices to render
    again, those included; `lists` copies of the rendered lists, by name (LISTS).
    """

    epoch: int
    stamp: int
    size: int
    laid_out: dict[int, tuple[Device | None, ...]]
    changed: list[int]
    lists: dict[str, list[Any]]


@dataclass(slots=True)
class EventTable:
    codes: int  # codes subscribed for the kind (EventSelection.for_kind)
    # The lists that have series (by name), the only ones kept (the others stay empty): e.g.
    # not the per-code counts of cameras whose only code (CSSU, by default) has no series of
    # its own, nor the bridges' last event times.
    rendered: frozenset[str] = frozenset(LISTS)
    counts: list[int] = field(default_factory=list)  # [position * codes + i]: events of code i
    last_ms: list[int] = field(default_factory=list)  # [position * codes + i]: the last, Unix ms
    expected: list[int] = field(default_factory=list)  # [position]: packets expected (CSSU)
    received: list[int] = field(default_factory=list)  # [position]: packets received
    disconnect: list[float | None] = field(default_factory=list)  # [position]: last CCLD's s
    devices: list[Device | None] = field(default_factory=list)  # [position]; None: a hole
    reported: bytearray = field(default_factory=bytearray)  # [position]: 1 once it had an event
    changed_at: list[int] = field(default_factory=list)  # [slice]: stamp of its last change
    laid_at: list[int] = field(default_factory=list)  # [slice]: ... of which devices it holds
    holes: int = 0
    epoch: int = 0  # changed whenever the positions are renumbered
    stamp: int = 0  # of the last change
    _positions: dict[str, list[int]] = field(default_factory=dict)  # account: [slot]
    _ids: dict[str, tuple[str, ...]] = field(default_factory=dict)  # account: ids by slot

    def place(self, account_id: str, ids: Iterable[str]) -> None:
        """Make the account's devices of the kind `ids` (none: the account has none): slots in
        id order; a device the account had keeps its position and values, a new one is put at
        the end, a gone one leaves a hole."""
        ordered = tuple(sorted(ids))
        if ordered == self._ids.get(account_id, ()):
            return
        self.stamp += 1
        had_ids = self._ids.pop(account_id, ())
        had = dict(zip(had_ids, self._positions.pop(account_id, []), strict=True))
        positions: list[int] = []
        for esn in ordered:
            position = had.pop(esn, None)
            if position is None:
                position = self._append((account_id, esn), None)
            positions.append(position)
        for position in had.values():  # gone
            self._vacate(position)
        if ordered:
            self._ids[account_id] = ordered
            self._positions[account_id] = positions
        if self.holes > len(self.devices) - self.holes:
            self._renumber()

    def count(self, account_id: str, slot: int, code: int, at_ms: int) -> None:
        """One event of code `code` (its index) for the account's device `slot` (its place
        among the account's devices of the kind, in id order)."""
        self.stamp += 1  # each count a later stamp: a render took everything before it
        positions = self._positions[account_id]
        position = positions[slot]
        if not self.reported[position]:  # its first event: to the end, among its peers
            position = positions[slot] = self._move(position)
        at = position * self.codes + code
        if "counts" in self.rendered:
            self.counts[at] += 1
        if "last_ms" in self.rendered:
            self.last_ms[at] = at_ms
        self.changed_at[position // SLICE] = self.stamp

    def packets(self, account_id: str, slot: int, expected: int, received: int) -> None:
        """A CSSU's packets, after count() of the same event (which marks its slice)."""
        if "expected" not in self.rendered:
            return
        position = self._positions[account_id][slot]
        self.expected[position] += expected
        self.received[position] += received

    def disconnected(self, account_id: str, slot: int, seconds: float) -> None:
        """A CCLD's seconds, after count() of the same event (which marks its slice)."""
        if "disconnect" in self.rendered:
            self.disconnect[self._positions[account_id][slot]] = seconds

    def position(self, account_id: str, slot: int) -> int:
        """Where the account's device `slot` is."""
        return self._positions[account_id][slot]

    def changed_since(self, stamp: int) -> list[int]:
        """The numbers of the slices changed after `stamp`."""
        return [number for number, at in enumerate(self.changed_at) if at > stamp]

    def copy(self, epoch: int, stamp: int) -> EventsCopy | None:
        """What changed since (epoch, stamp) (see EventsCopy); None: nothing."""
        if epoch == self.epoch:
            if stamp >= self.stamp:
                return None
            changed = self.changed_since(stamp)
            if not changed:
                return None
            laid = [number for number, at in enumerate(self.laid_at) if at > stamp]
        else:
            changed = laid = list(range(len(self.changed_at)))
        devices = self.devices
        laid_out = {k: tuple(devices[k * SLICE : (k + 1) * SLICE]) for k in laid}
        lists = {name: getattr(self, name).copy() for name in self.rendered}
        return EventsCopy(self.epoch, self.stamp, len(devices), laid_out, changed, lists)

    def _lists(self) -> Iterable[tuple[list[Any], int, Any]]:
        """(list, numbers per position, a new position's number) of each kept list."""
        for name, per_position, blank in (
            ("counts", self.codes, 0),
            ("last_ms", self.codes, 0),
            ("expected", 1, 0),
            ("received", 1, 0),
            ("disconnect", 1, None),
        ):
            if name in self.rendered:
                yield getattr(self, name), per_position, blank

    def _append(self, device: Device, values_of: int | None) -> int:
        """A position at the end for `device`, with the values at `values_of` (None: blank)."""
        position = len(self.devices)
        self.devices.append(device)
        self.reported.append(0)
        for values, per, blank in self._lists():
            if values_of is None:
                values.extend([blank] * per)
            else:
                values.extend(values[values_of * per : (values_of + 1) * per])
        if position % SLICE == 0:
            self.changed_at.append(self.stamp)
            self.laid_at.append(self.stamp)
        self._relaid(position)
        return position

    def _vacate(self, position: int) -> None:
        self.devices[position] = None
        self.holes += 1
        self._relaid(position)

    def _relaid(self, position: int) -> None:
        number = position // SLICE
        self.changed_at[number] = self.laid_at[number] = self.stamp

    def _move(self, position: int) -> int:
        device = self.devices[position]
        assert device is not None
        moved = self._append(device, position)
        self.reported[moved] = 1
        self._vacate(position)
        return moved

    def _renumber(self) -> None:
        """Positions without the holes, in the same order: a new epoch."""
        kept = [position for position, device in enumerate(self.devices) if device is not None]
        for values, per, _ in self._lists():
            if per == 1:
                values[:] = [values[position] for position in kept]
            else:
                values[:] = [v for p in kept for v in values[p * per : (p + 1) * per]]
        renumbered = {old: new for new, old in enumerate(kept)}
        self.devices = [self.devices[position] for position in kept]
        self.reported = bytearray(self.reported[position] for position in kept)
        for positions in self._positions.values():
            positions[:] = [renumbered[position] for position in positions]
        self.holes = 0
        self.epoch += 1
        slices = -(-len(kept) // SLICE)
        self.changed_at = [self.stamp] * slices
        self.laid_at = [self.stamp] * slices
