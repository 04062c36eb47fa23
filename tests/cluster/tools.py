"""Where .ci/k8s-cluster.sh leaves etcd and the Kubernetes binaries, and the node's runtime.

The binaries are cached by version under EEN_TOOLS_CACHE (default ~/.cache/een-exporter);
containerd, runc, the CNI plugins and iptables come from Debian. Missing, a test skips
naming the command that provides them; with EEN_TEST_REQUIRE_TOOLS=1 (CI) it fails.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

from tests.chart.tools import script_setting, tools_cache
from tests.support import REQUIRE_TOOLS

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / ".ci" / "k8s-cluster.sh"
HINT = "run `bash .ci/k8s-cluster.sh` as root (builds them with Go, cached)"
CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
NODE_BINARIES = ("containerd", "containerd-shim-runc-v2", "runc", "ctr", "ip", "podman")
CNI_DIR = Path("/usr/lib/cni")
CNI_PLUGINS = ("bridge", "host-local", "loopback")


KUBE_VERSION = script_setting(BUILD_SCRIPT, "KUBE_VERSION")
ETCD_VERSION = script_setting(BUILD_SCRIPT, "ETCD_VERSION")


def unavailable(message: str) -> None:
    """Skip, or fail where CI forbids skipping."""
    if REQUIRE_TOOLS:
        pytest.fail(f"{message}; EEN_TEST_REQUIRE_TOOLS=1 forbids skipping")
    pytest.skip(message)


def bin_dir() -> Path:
    return tools_cache() / "cluster" / f"kube-{KUBE_VERSION}-etcd-{ETCD_VERSION}" / "bin"


def binaries(names: tuple[str, ...]) -> dict[str, str]:
    """Each built binary's path; skips (fails in CI) when one is missing."""
    found = {name: bin_dir() / name for name in names}
    missing = [name for name, path in found.items() if not os.access(path, os.X_OK)]
    if missing:
        unavailable(f"{', '.join(missing)} not built in {bin_dir()} ({HINT})")
    return {name: str(path) for name, path in found.items()}


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        unavailable(f"{what} needs root (mounts, network namespaces, cgroups)")


def node_binaries() -> dict[str, str]:
    """containerd, its runc shim, runc, ctr, ip and podman; skips (fails in CI) if missing."""
    found = {name: shutil.which(name) for name in NODE_BINARIES}
    missing = [name for name, path in found.items() if not path]
    missing += [f"CNI {p}" for p in CNI_PLUGINS if not os.access(CNI_DIR / p, os.X_OK)]
    if missing:
        unavailable(f"{', '.join(missing)} not installed ({HINT}; it installs them)")
    return {name: str(path) for name, path in found.items()}


def free_port() -> int:
    """A port free on 127.0.0.1 right now (the process that takes it binds it next)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
