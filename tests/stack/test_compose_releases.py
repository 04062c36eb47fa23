"""The compose file's Prometheus and Alertmanager are the releases the e2e suite proves.

Their images cannot be pulled here, so the compose services are validated with the same
releases' binaries from Debian (tests/stack/tools.py: PROMETHEUS3): the image tags name the
version that ran the e2e suite, and the command lines the compose file gives them parse.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.stack.test_compose import resolved
from tests.stack.tools import PROMETHEUS3, output, run

# service -> (image repository, binary of the proven release)
SERVICES = {
    "prometheus": ("prom/prometheus", PROMETHEUS3.prometheus),
    "alertmanager": ("prom/alertmanager", PROMETHEUS3.alertmanager),
}
# `prometheus, version 3.5.3+ds1 (branch: debian/sid, ...)`: Debian's upstream version.
VERSION = re.compile(r"^\w+, version (\d+\.\d+)\.\d+")


def release_series(binary: str) -> str:
    """major.minor of the binary's upstream version."""
    result = run([binary, "--version"])
    assert result.returncode == 0, output(result)
    match = VERSION.match(result.stdout + result.stderr)
    assert match, output(result)
    return match.group(1)


@pytest.mark.parametrize("service", SERVICES)
def test_image_is_the_release_the_e2e_suite_proves(
    compose: str, tmp_path: Path, service: str
) -> None:
    repository, binary = SERVICES[service]
    image = resolved(compose, tmp_path)["services"][service]["image"]
    name, _, tag = image.partition(":")
    assert name == repository
    # The same series: Debian unstable may move on by a patch release before the tag does.
    assert tag.startswith(f"v{release_series(binary())}."), image


@pytest.mark.parametrize("service", SERVICES)
def test_command_line_parses_with_the_proven_release(
    compose: str, tmp_path: Path, service: str
) -> None:
    _, binary = SERVICES[service]
    command = resolved(compose, tmp_path)["services"][service]["command"]
    # --version is acted on once every flag before it has parsed; an unknown flag fails first.
    result = run([binary(), *command, "--version"])
    assert result.returncode == 0, output(result)


def test_an_unknown_flag_fails_the_command_line_check() -> None:
    # Guards the check above: the binaries really reject what they do not know.
    result = run([PROMETHEUS3.prometheus(), "--storage.tsdb.retention=15d", "--version"])
    assert result.returncode != 0, output(result)
