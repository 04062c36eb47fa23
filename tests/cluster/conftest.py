"""The one-node cluster of tests/cluster, started once per session, and what runs on it."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from exporter import __version__
from tests.chart.tools import CRD_FILES, OPERATOR_VERSION, helm, tools_cache
from tests.cluster.api import Api, ApiError, Manifest
from tests.cluster.cluster import (
    ADMIN,
    PAUSE_IMAGE,
    ControlPlane,
    Node,
    build_pause_image,
    remove_tree,
    save_image,
)
from tests.cluster.tools import (
    CONTROL_PLANE,
    binaries,
    node_binaries,
    require_root,
    unavailable,
)
from tests.container.podman import IMAGE, build_image, require_podman
from tests.support import wait_for

RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}
# The chart's default image (een-exporter:<appVersion>), as the kubelet asks containerd for it.
CHART_IMAGE = f"docker.io/library/een-exporter:{__version__}"


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    # Short: containerd's and the kubelet's unix sockets live below it (108-byte limit).
    directory = Path(tempfile.mkdtemp(prefix="een-k8s-", dir="/tmp"))
    try:
        yield directory
    finally:
        remove_tree(directory)


@pytest.fixture(scope="session")
def control_plane(workdir: Path) -> Iterator[ControlPlane]:
    plane = ControlPlane(workdir / "control-plane", binaries(CONTROL_PLANE))
    try:
        plane.start()
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def api(control_plane: ControlPlane) -> Api:
    return control_plane.api


def established(api: Api, name: str) -> bool:
    status = api.get("CustomResourceDefinition", None, name).get("status") or {}
    return any(
        c["type"] == "Established" and c["status"] == "True" for c in status.get("conditions") or []
    )


@pytest.fixture(scope="session")
def crds(api: Api) -> list[str]:
    """The Prometheus Operator's ServiceMonitor and PrometheusRule CRDs, established."""
    directory = tools_cache() / "crds" / f"prometheus-operator-{OPERATOR_VERSION}"
    names = []
    for filename in CRD_FILES.values():
        path = directory / filename
        if not path.is_file():
            unavailable(f"{path} is missing (run `bash .ci/k8s-tools.sh`)")
        crd = yaml.safe_load(path.read_text())
        names.append(crd["metadata"]["name"])
        api.create(crd)
    for name in names:
        wait_for(functools.partial(established, api, name), 30, 0.1, f"CRD {name} established")
    return names


@dataclass
class Helm:
    """The real helm, against the test cluster, with its own config and cache directories."""

    binary: str
    kubeconfig: Path
    home: Path

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_DATA_HOME": str(self.home / "data"),
        }
        return subprocess.run(
            [self.binary, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )

    def ok(self, *args: str, timeout: float = 120) -> str:
        result = self.run(*args, timeout=timeout)
        assert result.returncode == 0, f"helm {' '.join(args)}\n{result.stdout}{result.stderr}"
        return result.stdout


@pytest.fixture(scope="session")
def cluster_helm(control_plane: ControlPlane, workdir: Path) -> Helm:
    return Helm(helm(), control_plane.kubeconfigs[ADMIN], workdir / "helm")


def create_namespace(api: Api, name: str, labels: dict[str, str] | None = None) -> None:
    namespace: Manifest = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": labels if labels is not None else RESTRICTED},
    }
    api.create(namespace)
    # Pods need the namespace's default ServiceAccount, which a controller makes.
    wait_for(lambda: api.exists("ServiceAccount", name, "default"), 30, 0.1, f"{name}'s SA")


def delete_namespace(api: Api, name: str) -> None:
    try:
        api.delete("Namespace", None, name)
    except ApiError as error:
        if error.status != 404:
            raise


# One node per machine at a time: two kubelets would share the kubepods cgroups, the bridge
# and its subnet. A second test session waits for the first one's node to stop.
NODE_LOCK = Path("/tmp/een-exporter-k8s-node.lock")
NODE_LOCK_SECONDS = 900.0


@contextlib.contextmanager
def node_lock() -> Iterator[None]:
    with NODE_LOCK.open("a") as lock:

        def acquired() -> bool:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        wait_for(acquired, NODE_LOCK_SECONDS, 0.5, f"{NODE_LOCK} (another test session's node)")
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def node(control_plane: ControlPlane, workdir: Path) -> Iterator[Node]:
    """A kubelet on containerd, registered and Ready, with the project's image and a pause
    image imported from podman."""
    require_root("a kubelet with containerd")
    tools = node_binaries()
    go = shutil.which("go")
    if not go:
        unavailable("go is not on PATH (the pause image is built with it)")
        return
    (kubelet,) = binaries(("kubelet",)).values()
    podman = require_podman()
    directory = workdir / "node"
    directory.mkdir()
    images = directory / "images"
    images.mkdir()
    build_image()
    build_pause_image(podman, directory, go)
    save_image(podman, IMAGE, images / "exporter.tar")
    save_image(podman, PAUSE_IMAGE, images / "pause.tar")
    running = Node(directory, control_plane, kubelet, tools)
    with node_lock(), running_until_stopped(running):
        running.start_runtime()
        running.import_image(images / "pause.tar")
        running.import_image(images / "exporter.tar")
        running.tag(f"localhost/{IMAGE}", CHART_IMAGE)
        running.start_kubelet()
        yield running


@contextlib.contextmanager
def running_until_stopped(node: Node) -> Iterator[None]:
    try:
        yield
    finally:
        node.stop()
