"""Fixtures for the monitoring-stack tests: the tools, found once per session."""

from __future__ import annotations

import pytest

from tests.stack import tools


@pytest.fixture(scope="session")
def promtool() -> str:
    return tools.promtool()


@pytest.fixture(scope="session")
def amtool() -> str:
    return tools.amtool()


@pytest.fixture(scope="session")
def compose() -> str:
    return tools.compose()
