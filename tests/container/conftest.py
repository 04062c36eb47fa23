"""The image, built once per session with podman (skipped, or failed in CI, without it)."""

from __future__ import annotations

import pytest

from tests.container import podman


@pytest.fixture(scope="session")
def image() -> str:
    podman.require_podman()
    return podman.build_image()
