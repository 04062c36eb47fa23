"""Undocumented connectionStatus values cost a bounded amount (issue 19, item 6): one stored
value, a bounded memory of distinct ones, a bounded number of log lines."""

from __future__ import annotations

import logging

import pytest

from exporter.exposition.render import Exposition, connection_values
from exporter.state.model import AccountInfo, DeviceInfo, DeviceKind, StreamUpdate
from exporter.state.status import CONNECTION_STATUSES, UNDOCUMENTED, documented
from exporter.state.store import StateStore
from exporter.v3.stream import Undocumented


def test_documented_values_are_kept_and_any_other_is_one_value() -> None:
    assert [documented(s) for s in CONNECTION_STATUSES] == list(CONNECTION_STATUSES)
    assert documented("") == ""  # not known yet
    assert {documented(f"new{i}") for i in range(1000)} == {UNDOCUMENTED}


def test_distinct_values_are_logged_a_bounded_number_of_times(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    undocumented = Undocumented("00000001", clock=lambda: now[0])
    caplog.set_level(logging.WARNING)
    for index in range(100_000):
        undocumented.met(f"someDayNewValue{index}")
        undocumented.met("someDayNewValue0")  # remembered: never again
    lines = [(r.status, r.count) for r in caplog.records]  # type: ignore[attr-defined]
    assert lines == [(f"someDayNewValue{i}", 1) for i in range(Undocumented.REMEMBERED)]
    assert all(len(r.status) <= Undocumented.SHOWN for r in caplog.records)  # type: ignore[attr-defined]
    # Past the remembered ones: a count, at most once per interval...
    now[0] += Undocumented.LOG_INTERVAL
    undocumented.met("x" * 10_000)
    assert [(r.status, r.count) for r in caplog.records[-1:]] == [  # type: ignore[attr-defined]
        ("x" * Undocumented.SHOWN, 100_000 - Undocumented.REMEMBERED + 1)
    ]
    undocumented.met("another")
    assert len(caplog.records) == Undocumented.REMEMBERED + 1
    # ...and what is still counted when the stream attempt ends.
    undocumented.flush()
    assert [(r.status, r.count) for r in caplog.records[-1:]] == [("another", 1)]  # type: ignore[attr-defined]
    undocumented.flush()
    assert len(caplog.records) == Undocumented.REMEMBERED + 2


def test_the_exposition_memo_is_bounded_whatever_the_store_holds() -> None:
    store = StateStore()
    store.sync_accounts([AccountInfo("00000003", "Gamma")])
    store.set_devices(
        "00000003", [DeviceInfo("c1", DeviceKind.CAMERA, "c", "", "online")], True, 1.0
    )
    exposition = Exposition(store, lambda: b"")
    for index in range(200):
        store.apply("00000003", StreamUpdate({"c1": f"new{index}"}), 2.0 + index)
        exposition.render(gzip=False)
    info = connection_values.cache_info()
    assert info.maxsize is not None
    assert info.currsize <= info.maxsize
