"""Helpers shared by every test layer."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import hypothesis
import pytest

T = TypeVar("T")

# CI sets this so that a test needing an external binary fails instead of skipping.
REQUIRE_TOOLS = os.environ.get("EEN_TEST_REQUIRE_TOOLS") == "1"

# Property-based tests run few examples in `make test`; EEN_HYPOTHESIS_PROFILE=long runs each
# with 100 times as many (e.g. nightly, or after changing a parser).
FUZZ_PROFILES = {"default": 1, "long": 100}
FUZZ_PROFILE = os.environ.get("EEN_HYPOTHESIS_PROFILE", "default")


def fuzz(examples: int) -> hypothesis.settings:
    """Settings for a property-based test that runs `examples` examples in `make test`.

    No deadline: a shared CI machine makes single examples slow at random, which is no bug.
    """
    if FUZZ_PROFILE not in FUZZ_PROFILES:
        raise ValueError(f"EEN_HYPOTHESIS_PROFILE must be one of {', '.join(FUZZ_PROFILES)}")
    return hypothesis.settings(
        max_examples=examples * FUZZ_PROFILES[FUZZ_PROFILE], deadline=None, print_blob=True
    )


def require_binary(name: str, hint: str) -> str:
    """Return the path of `name`, or skip (fail in CI) saying how to install it."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not on PATH ({hint})"
    if REQUIRE_TOOLS:
        pytest.fail(f"{message}; EEN_TEST_REQUIRE_TOOLS=1 forbids skipping")
    pytest.skip(message)


# Headless Chromium as CI runs it (Debian's `chromium`, installed by .ci/run): no sandbox (no
# user namespaces in containers), no GPU, and nothing that would reach the network by itself.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
)
CHROMIUM_TIMEOUT = 60.0


def run_chromium(url: str, workdir: Path, *flags: str) -> subprocess.CompletedProcess[bytes]:
    """Load `url` in headless Chromium with an empty profile under `workdir` and `flags`
    (e.g. --dump-dom); skips (fails in CI) when chromium is not installed."""
    chromium = require_binary("chromium", "apt-get install chromium")
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=workdir)
    result = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *flags, url],
        capture_output=True,
        timeout=CHROMIUM_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    return result


def wait_for(
    condition: Callable[[], T | None],
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str = "condition",
) -> T:
    """Poll `condition` until it returns something truthy; return that value.

    >>> wait_for(lambda: 42)
    42
    """
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.1f}s waiting for {message} (last: {last!r})")


Sample = tuple[str, frozenset[tuple[str, str]]]


def parse_exposition(text: str) -> dict[Sample, float]:
    """Samples of a text exposition keyed by (name, labels); fails on a duplicate series."""
    from prometheus_client.parser import text_string_to_metric_families

    samples: dict[Sample, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in samples, f"duplicate series {sample.name}{sample.labels}"
            assert sample.timestamp is None, f"sample timestamp on {sample.name}"
            samples[key] = sample.value
    return samples


def series(samples: dict[Sample, float], metric: str, /, **labels: str) -> float | None:
    """The value of the one `metric` series whose labels include `labels`, or None."""
    wanted = set(labels.items())
    found = [v for (n, ls), v in samples.items() if n == metric and wanted <= ls]
    assert len(found) <= 1, f"{len(found)} series match {metric}{labels}"
    return found[0] if found else None
