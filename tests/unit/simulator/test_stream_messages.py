"""Poll-stream message shapes."""

from __future__ import annotations

import json

from exporter.simulator.stream import chunked, entity_error, envelope


def test_envelope() -> None:
    assert json.loads(envelope({"100e1e23": {"status": 1441847}})) == {
        "status_code": 200,
        "message": "OK",
        "data": {"100e1e23": {"status": 1441847}},
    }
    assert json.loads(envelope({}, 412, "auth lost")) == {
        "status_code": 412,
        "message": "auth lost",
        "data": {},
    }


def test_entity_error() -> None:
    assert entity_error(404, "resolve invalid") == {
        "error": [{"status_code": 404, "message": "resolve invalid"}]
    }


def test_chunked_keeps_order_and_everything() -> None:
    items = [(f"{n:08x}", {"status": n}) for n in range(250)]
    chunks = list(chunked(items, 100))
    assert [len(chunk) for chunk in chunks] == [100, 100, 50]
    merged = {k: v for chunk in chunks for k, v in chunk.items()}
    assert list(merged.items()) == items
