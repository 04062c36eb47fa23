"""Fixtures shared by the stack and end-to-end tests."""

from __future__ import annotations

import pytest

from tests.stack.tools import RELEASES, Release


@pytest.fixture(scope="session", params=RELEASES, ids=lambda release: release.name)
def release(request: pytest.FixtureRequest) -> Release:
    """Each Prometheus and Alertmanager release in turn: tests using it run once per release."""
    result: Release = request.param
    return result
