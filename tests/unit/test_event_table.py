"""The event counters of every device of a kind in one table: rows in the body's order, values
that follow their device when rows move, slices that say what changed."""

from __future__ import annotations

from exporter.state.counters import SLICE, EventTable, Slice


def counted(table: EventTable, account: str, esn: str, code: int, times: int = 1) -> None:
    slot = _slot(table, account, esn)
    for at in range(times):
        table.count(account, slot, code, at_ms=1_700_000_000_000 + at)


def _slot(table: EventTable, account: str, esn: str) -> int:
    ids = [esn for s in table.slices if s.account_id == account for esn in s.ids]
    return ids.index(esn)


def row_of(table: EventTable, account: str, esn: str) -> int:
    return table.start(account) + _slot(table, account, esn)


def test_rows_follow_account_then_device_order_whatever_the_order_of_placing() -> None:
    table = EventTable(codes=1)
    table.place("acct-c", ["z", "y"])
    table.place("acct-a", ["m"])
    table.place("acct-b", ["q", "p"])
    assert [(s.account_id, s.start, s.ids) for s in table.slices] == [
        ("acct-a", 0, ("m",)),
        ("acct-b", 1, ("p", "q")),
        ("acct-c", 3, ("y", "z")),
    ]
    assert table.rows == 5


def test_values_follow_their_device_when_rows_move() -> None:
    table = EventTable(codes=2)
    table.place("acct-b", ["c1", "c2"])
    counted(table, "acct-b", "c2", code=1, times=3)
    table.packets("acct-b", _slot(table, "acct-b", "c2"), expected=10, received=9)
    table.disconnected("acct-b", _slot(table, "acct-b", "c1"), 4.5)
    table.place("acct-a", ["a1", "a2", "a3"])  # before it: its rows move
    table.place("acct-b", ["c0", "c2"])  # c1 gone, c0 new, c2 kept
    c2 = row_of(table, "acct-b", "c2")
    assert c2 == 4
    assert table.counts[c2 * 2 : c2 * 2 + 2] == [0, 3]
    assert (table.expected[c2], table.received[c2]) == (10, 9)
    c0 = row_of(table, "acct-b", "c0")
    assert (table.counts[c0 * 2 : c0 * 2 + 2], table.disconnect[c0]) == ([0, 0], None)
    assert table.disconnect == [None] * 5, "c1's duration left with it"


def test_an_account_without_devices_gives_back_its_rows() -> None:
    table = EventTable(codes=1)
    table.place("a", ["x"])
    table.place("b", ["y"])
    counted(table, "b", "y", 0, times=2)
    table.place("a", [])
    assert table.slices == [Slice("b", 0, ("y",))]
    assert table.counts == [2]


def test_a_copy_holds_the_slices_changed_since_its_stamp() -> None:
    table = EventTable(codes=1, rendered=frozenset({"counts"}))
    table.place("a", [f"c{i:03d}" for i in range(2 * SLICE + 1)])
    table.place("b", ["x"])
    first = table.copy(-1, -1)
    assert first is not None
    assert first.slices == table.slices
    assert first.changed == [0, 1, 2, 3]  # a new layout: every slice
    assert set(first.lists) == {"counts"}, "only the rendered lists are copied"
    assert table.copy(first.layout, first.stamp) is None
    counted(table, "a", f"c{SLICE + 5:03d}", 0)
    counted(table, "b", "x", 0)
    later = table.copy(first.layout, first.stamp)
    assert later is not None
    assert later.slices is None
    assert later.changed == [1, 3]
    assert later.lists["counts"][row_of(table, "b", "x")] == 1
    table.place("b", ["x", "w"])
    moved = table.copy(later.layout, later.stamp)
    assert moved is not None
    assert moved.changed == [0, 1, 2, 3]


def test_lists_without_series_are_not_kept() -> None:
    """CSSU alone, without series of its own (the default): its per-code counts and times
    would be 2 numbers per camera nobody reads."""
    table = EventTable(codes=1, rendered=frozenset({"expected", "received"}))
    table.place("a", ["c1", "c2"])
    counted(table, "a", "c2", 0)
    table.packets("a", 1, expected=10, received=9)
    table.disconnected("a", 1, 3.0)
    assert (table.counts, table.last_ms, table.disconnect) == ([], [], [])
    assert (table.expected, table.received) == ([0, 10], [0, 9])
    assert table.changed_since(0) == [0], "a count without a list still marks its slice"
