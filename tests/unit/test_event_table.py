"""The event counters of every device of a kind in one table: positions in the body's order,
devices that move to the end at their first event, values that follow their device, slices
that say what changed."""

from __future__ import annotations

from exporter.state.counters import SLICE, EventTable


def slot_of(table: EventTable, account: str, esn: str) -> int:
    """The device's slot: its place among the account's devices, in id order."""
    return sorted(device[1] for device in table.devices if device and device[0] == account).index(
        esn
    )


def counted(table: EventTable, account: str, esn: str, code: int, times: int = 1) -> None:
    for at in range(times):
        table.count(account, slot_of(table, account, esn), code, at_ms=1_700_000_000_000 + at)


def position_of(table: EventTable, account: str, esn: str) -> int:
    return table.devices.index((account, esn))


def test_devices_are_put_at_the_end_as_placed_in_id_order() -> None:
    table = EventTable(codes=1)
    table.place("acct-c", ["z", "y"])
    table.place("acct-a", ["m"])
    table.place("acct-c", ["y", "z", "x"])
    assert table.devices == [("acct-c", "y"), ("acct-c", "z"), ("acct-a", "m"), ("acct-c", "x")]
    assert table.position("acct-c", 0) == 3, "slot 0 is x, the first in id order"


def test_a_device_moves_to_the_end_at_its_first_event_only() -> None:
    """The events that change most are periodic (CSSU): devices in the order of their first
    event are in the order of their phase, and those that report together sit together."""
    table = EventTable(codes=1)
    table.place("a", ["x", "y"])
    table.place("b", ["z"])
    counted(table, "b", "z", 0)
    counted(table, "a", "x", 0)
    assert table.devices == [None, ("a", "y"), None, ("b", "z"), ("a", "x")]
    counted(table, "b", "z", 0)
    counted(table, "a", "x", 0, times=2)
    assert table.devices == [None, ("a", "y"), None, ("b", "z"), ("a", "x")]
    assert table.counts == [0, 0, 0, 2, 3]
    assert table.holes == 2


def test_values_follow_their_device() -> None:
    table = EventTable(codes=2)
    table.place("b", ["c1", "c2"])
    counted(table, "b", "c2", code=1, times=3)
    table.packets("b", slot_of(table, "b", "c2"), expected=10, received=9)
    counted(table, "b", "c1", code=0)
    table.disconnected("b", slot_of(table, "b", "c1"), 4.5)
    table.place("a", ["a1", "a2", "a3"])
    table.place("b", ["c0", "c2"])  # c1 gone, c0 new, c2 kept
    c2 = position_of(table, "b", "c2")
    assert table.counts[c2 * 2 : c2 * 2 + 2] == [0, 3]
    assert (table.expected[c2], table.received[c2]) == (10, 9)
    c0 = position_of(table, "b", "c0")
    assert (table.counts[c0 * 2 : c0 * 2 + 2], table.disconnect[c0]) == ([0, 0], None)
    assert ("b", "c1") not in table.devices
    assert table.disconnect[position_of(table, "b", "c2")] is None


def test_holes_are_renumbered_away_once_they_outnumber_the_devices() -> None:
    table = EventTable(codes=1)
    table.place("a", ["w", "x", "y", "z"])
    counted(table, "a", "y", 0, times=2)
    counted(table, "a", "w", 0)
    table.disconnected("a", slot_of(table, "a", "w"), 1.5)
    assert (table.holes, table.epoch) == (2, 0)
    table.place("a", ["w", "y"])  # x and z gone: 4 holes, 2 devices
    assert table.devices == [("a", "y"), ("a", "w")]
    assert (table.holes, table.epoch) == (0, 1)
    assert (table.counts, table.disconnect) == ([2, 1], [None, 1.5])
    assert table.position("a", 0) == 1
    counted(table, "a", "w", 0)
    assert table.counts == [2, 2], "counted where it is now"


def test_an_account_without_devices_leaves_holes() -> None:
    table = EventTable(codes=1)
    table.place("a", ["x", "v"])
    table.place("b", ["y", "w", "u"])
    counted(table, "b", "y", 0, times=2)
    table.place("a", [])
    assert table.devices == [None, None, ("b", "u"), ("b", "w"), None, ("b", "y")]
    table.place("c", ["q"])
    assert (table.holes, table.epoch) == (3, 0)
    table.place("b", ["y"])  # 5 holes, 2 devices: renumbered
    assert table.devices == [("b", "y"), ("c", "q")]
    assert table.counts == [2, 0]


def test_a_copy_holds_the_slices_changed_since_its_stamp() -> None:
    table = EventTable(codes=1, rendered=frozenset({"counts"}))
    table.place("a", [f"c{i:03d}" for i in range(2 * SLICE + 1)])
    table.place("b", ["x"])
    first = table.copy(-1, -1)
    assert first is not None
    assert first.size == 2 * SLICE + 2
    assert sorted(first.laid_out) == first.changed == [0, 1, 2]  # a new epoch: every slice
    assert first.laid_out[2] == (("a", f"c{2 * SLICE:03d}"), ("b", "x"))
    assert set(first.lists) == {"counts"}, "only the rendered lists are copied"
    assert table.copy(first.epoch, first.stamp) is None
    counted(table, "a", f"c{SLICE + 5:03d}", 0)  # moves from slice 1 to slice 2
    counted(table, "b", "x", 0)  # already at the end: it stays
    later = table.copy(first.epoch, first.stamp)
    assert later is not None
    assert later.changed == [1, 2]
    assert sorted(later.laid_out) == [1, 2]
    assert later.laid_out[1][5] is None
    assert later.lists["counts"][position_of(table, "b", "x")] == 1
    counted(table, "a", f"c{SLICE + 5:03d}", 0)
    again = table.copy(later.epoch, later.stamp)
    assert again is not None
    assert (again.changed, again.laid_out) == ([2], {}), "the same devices: the same layout"


def test_lists_without_series_are_not_kept() -> None:
    """CSSU alone, without series of its own (the default): its per-code counts and times
    would be 2 numbers per camera nobody reads."""
    table = EventTable(codes=1, rendered=frozenset({"expected", "received"}))
    table.place("a", ["c1", "c2"])
    counted(table, "a", "c2", 0)
    table.packets("a", 1, expected=10, received=9)
    table.disconnected("a", 1, 3.0)
    assert (table.counts, table.last_ms, table.disconnect) == ([], [], [])
    assert (table.expected, table.received) == ([0, 0, 10], [0, 0, 9])
    assert table.changed_since(0) == [0], "a count without a list still marks its slice"
