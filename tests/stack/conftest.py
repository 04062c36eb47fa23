"""Fixtures for the monitoring-stack tests: the tools of each release, found once per session."""

from __future__ import annotations

import pytest

from tests.stack import tools


@pytest.fixture(scope="session")
def promtool(release: tools.Release) -> str:
    return release.promtool()


@pytest.fixture(scope="session")
def amtool(release: tools.Release) -> str:
    return release.amtool()


@pytest.fixture(scope="session")
def compose() -> str:
    return tools.compose()
