"""What the exporter reads of the user object from authorize (een-api.md §1.5, §1.7)."""

from __future__ import annotations

import math

import pytest

from exporter.een.api import _user


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (15, 900.0),  # the documented example, in minutes
        (0.03, 1.8),  # the simulator's fractional minutes for tests
        (0, None),  # never ends: no keep-alive
        (-5, None),
        ("15", None),
        (True, None),
        (math.inf, None),
        (math.nan, None),
        (None, None),
    ],
)
def test_the_inactivity_timeout(value: object, seconds: float | None) -> None:
    user = _user({"owner_account_id": "00001", "inactive_session_timeout": value})
    assert user.inactive_timeout == (None if seconds is None else pytest.approx(seconds))


def test_no_timeout_field() -> None:
    assert _user({"owner_account_id": "00001"}).inactive_timeout is None
