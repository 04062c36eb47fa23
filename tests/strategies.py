"""Hypothesis strategies for what EEN sends: JSON values of every type, and stream envelopes."""

from __future__ import annotations

import json

from hypothesis import strategies as st


class Digits(str):
    """A JSON integer written out as its digits: beyond what json.dumps (and int) will write."""


def to_json(value: object) -> str:
    """JSON text for `value`, Digits written as they are."""
    if isinstance(value, Digits):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json(item) for item in value) + "]"
    return json.dumps(value)


LEAF = st.none() | st.booleans() | st.integers(-(2**80), 2**80) | st.floats() | st.text(max_size=10)
# Beyond 2^64; up to and just beyond the 4,300 digits int() converts.
HUGE = st.builds(
    lambda sign, n: Digits(sign + "9" * n),
    st.sampled_from(["", "-"]),
    st.sampled_from([20, 4300, 4301]),
)


def nested(leaf: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.recursive(
        leaf,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        ),
        max_leaves=6,
    )


JSON = nested(LEAF)  # what json.loads can return
WIRE = nested(LEAF | HUGE)  # what EEN can send, for to_json
ABSENT = object()


@st.composite
def envelopes(draw: st.DrawFn) -> dict[str, object]:
    """The poll stream's envelope, with wrong types, unknown keys and nesting anywhere."""
    envelope: dict[str, object] = draw(st.dictionaries(st.text(max_size=8), WIRE, max_size=3))
    envelope["status_code"] = draw(st.sampled_from([200, 412]) | WIRE)
    data = {}
    for esn in draw(st.lists(st.text(max_size=8), max_size=6, unique=True)):
        entity = draw(st.dictionaries(st.sampled_from(["event", "x", "error"]), WIRE, max_size=2))
        if draw(st.booleans()):
            entity["status"] = draw(st.integers(0, 2**64 - 1) | WIRE)  # valid, or anything
        data[esn] = entity if draw(st.integers(0, 9)) else draw(WIRE)
    envelope["data"] = data if draw(st.integers(0, 9)) else draw(WIRE)
    return envelope
