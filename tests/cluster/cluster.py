"""A one-node Kubernetes on loopback, started from the binaries .ci/k8s-cluster.sh builds.

ControlPlane: etcd, kube-apiserver (its own CA and serving certificate, a static token file,
RBAC and the Node authorizer, a service-account key, Pod Security admission as it comes),
kube-controller-manager and kube-scheduler, each on 127.0.0.1 and an ephemeral port, each in a
temporary directory. Node: its own containerd (runc, overlayfs, the bridge CNI plugin on a
bridge of its own with no route out) and a kubelet (cgroupfs driver), with images imported
from podman. Everything started is stopped by its PID, everything mounted is unmounted, and
the directories are removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.cluster.api import Api, ApiError, Manifest
from tests.cluster.tools import CNI_DIR, free_port
from tests.pki import Authority
from tests.support import wait_for

NODE_NAME = "een-node"
STOP_SECONDS = 15.0
START_SECONDS = 120.0
ADMIN, CONTROLLERS, SCHEDULER, NODE = "admin", "controllers", "scheduler", "node"
# (user, groups) of each static token.
IDENTITIES = {
    ADMIN: ("een-test-admin", "system:masters"),
    CONTROLLERS: ("system:kube-controller-manager", ""),
    SCHEDULER: ("system:kube-scheduler", ""),
    NODE: (f"system:node:{NODE_NAME}", "system:nodes"),
}
# The pod network: a bridge of its own, host-local addresses, no default route and no
# masquerading, so pods reach the host's gateway address and each other and nothing else.
BRIDGE = "een-k8s0"
POD_SUBNET = "10.231.0.0/24"
GATEWAY = "10.231.0.1"
PAUSE_IMAGE = "localhost/een-test-pause:1"


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, characters: int = 3000) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} (exit {self.popen.poll()}) log tail ---\n{text[-characters:]}"

    def stop(self) -> None:
        """SIGTERM to its PID, SIGKILL if it has not exited in STOP_SECONDS; then reaped."""
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(STOP_SECONDS)


@dataclass
class Processes:
    """Started processes, stopped in reverse order of their start."""

    directory: Path
    started: list[Process] = field(default_factory=list)

    def start(self, name: str, command: list[str], env: dict[str, str] | None = None) -> Process:
        log = self.directory / f"{name}.log"
        with log.open("wb") as output:
            popen = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
            )
        process = Process(name, popen, log)
        self.started.append(process)
        return process

    def wait_until(self, condition: Callable[[], object], what: str, timeout: float) -> None:
        """Poll `condition` until it is true; fail early (with the logs) if a process died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [p for p in self.started if not p.alive()]
            if dead:
                raise AssertionError(f"{what}: {dead[0].name} exited\n{dead[0].tail()}")
            with contextlib.suppress(requests.RequestException, ApiError, OSError):
                if condition():
                    return
            time.sleep(0.2)
        logs = "\n".join(p.tail(1500) for p in self.started)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{logs}")

    def logs(self) -> str:
        return "\n".join(p.tail() for p in self.started)

    def stop_all(self) -> None:
        for process in reversed(self.started):
            process.stop()


def write_kubeconfig(path: Path, server: str, ca: Path, token: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "een", "cluster": {"server": server, "certificate-authority": str(ca)}}
        ],
        "users": [{"name": "een", "user": {"token": token}}],
        "contexts": [{"name": "een", "context": {"cluster": "een", "user": "een"}}],
        "current-context": "een",
    }
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    path.chmod(0o600)
    return path


class ControlPlane:
    """etcd, kube-apiserver, kube-controller-manager and kube-scheduler on 127.0.0.1."""

    def __init__(self, directory: Path, binaries: dict[str, str]) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.binaries = binaries
        self.processes = Processes(directory)
        self.port = free_port()
        self.server = f"https://127.0.0.1:{self.port}"
        pki = directory / "pki"
        self.authority = Authority(pki, "een test cluster CA")
        self.serving = self.authority.server("apiserver", ("localhost", "127.0.0.1", "10.0.0.1"))
        self.ca = self.authority.cert
        self.tokens = {role: os.urandom(16).hex() for role in IDENTITIES}
        self.kubeconfigs = {
            role: write_kubeconfig(directory / f"{role}.kubeconfig", self.server, self.ca, token)
            for role, token in self.tokens.items()
        }
        self.api = Api(self.server, self.tokens[ADMIN], self.ca)

    def _service_account_key(self) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        private, public = self.directory / "pki" / "sa.key", self.directory / "pki" / "sa.pub"
        private.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        public.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        return private, public

    def start(self) -> None:
        etcd_port, peer_port = free_port(), free_port()
        etcd = f"http://127.0.0.1:{etcd_port}"
        peer = f"http://127.0.0.1:{peer_port}"
        self.processes.start(
            "etcd",
            [
                self.binaries["etcd"],
                "--name=een",
                f"--data-dir={self.directory / 'etcd'}",
                f"--listen-client-urls={etcd}",
                f"--advertise-client-urls={etcd}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=een={peer}",
                "--unsafe-no-fsync",  # a throwaway store: no fsync per write
                "--log-level=warn",
            ],
        )
        self.processes.wait_until(
            lambda: requests.get(f"{etcd}/health", timeout=2).json()["health"] == "true",
            "etcd's /health",
            START_SECONDS,
        )
        sa_key, sa_pub = self._service_account_key()
        tokens = self.directory / "tokens.csv"
        tokens.write_text(
            "".join(
                f'{self.tokens[role]},{user},{user},"{groups}"\n'
                for role, (user, groups) in IDENTITIES.items()
            )
        )
        tokens.chmod(0o600)
        self.processes.start(
            "kube-apiserver",
            [
                self.binaries["kube-apiserver"],
                f"--etcd-servers={etcd}",
                "--bind-address=127.0.0.1",
                f"--secure-port={self.port}",
                "--advertise-address=127.0.0.1",
                # Endpoints may not hold a loopback address: no kubernetes Service endpoints.
                "--endpoint-reconciler-type=none",
                "--service-cluster-ip-range=10.0.0.0/24",
                f"--tls-cert-file={self.serving.cert}",
                f"--tls-private-key-file={self.serving.key}",
                f"--client-ca-file={self.ca}",
                f"--token-auth-file={tokens}",
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction",  # PodSecurity is on by default
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-account-key-file={sa_pub}",
                f"--service-account-signing-key-file={sa_key}",
                "--profiling=false",
                "--v=0",
            ],
        )
        self.processes.wait_until(
            lambda: self.api.raw("/readyz").text == "ok", "kube-apiserver's /readyz", START_SECONDS
        )
        self.processes.start(
            "kube-controller-manager",
            [
                self.binaries["kube-controller-manager"],
                f"--kubeconfig={self.kubeconfigs[CONTROLLERS]}",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
                "--leader-elect=false",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={sa_key}",
                f"--root-ca-file={self.ca}",
                "--controllers=*,-bootstrapsigner,-tokencleaner",
                "--concurrent-statefulset-syncs=2",
                "--v=1",
            ],
        )
        self.processes.start(
            "kube-scheduler",
            [
                self.binaries["kube-scheduler"],
                f"--kubeconfig={self.kubeconfigs[SCHEDULER]}",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
                "--leader-elect=false",
                "--v=1",
            ],
        )
        # The controllers are working once the service-account controller has made the
        # default namespace's ServiceAccount.
        self.processes.wait_until(
            lambda: self.api.exists("ServiceAccount", "default", "default"),
            "the controller manager's first ServiceAccount",
            START_SECONDS,
        )

    def stop(self) -> None:
        self.api.close()
        self.processes.stop_all()


# --- the node -------------------------------------------------------------------------------


def _mounts_under(directory: Path) -> list[str]:
    """Mount points below `directory`, deepest first (from /proc/self/mountinfo)."""
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if point == str(directory) or point.startswith(f"{directory}/"):
            points.append(point)
    return sorted(points, key=len, reverse=True)


def unmount_all(directory: Path) -> None:
    for point in _mounts_under(directory):
        subprocess.run(["umount", "--lazy", point], capture_output=True, check=False, timeout=30)


CGROUP_ROOT = Path("/sys/fs/cgroup")
KUBEPODS = "kubepods"  # the kubelet's cgroup tree (cgroupfs driver) in every hierarchy


def kubepods_trees() -> set[Path]:
    return {path for path in CGROUP_ROOT.glob(f"*/{KUBEPODS}") if path.is_dir()}


def remove_cgroups(tree: Path) -> None:
    """rmdir a cgroup tree bottom-up (a cgroup directory goes once it has no processes)."""
    for directory in sorted(
        (p for p in tree.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)
    ):
        with contextlib.suppress(OSError):
            directory.rmdir()
    with contextlib.suppress(OSError):
        tree.rmdir()


def shim_pids(address: Path) -> list[int]:
    """PIDs of containerd-shim processes serving the containerd at `address` (ours only)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"containerd-shim-runc-v2") and str(address).encode() in argv:
            pids.append(int(entry.name))
    return pids


class Node:
    """containerd with runc and the bridge CNI plugin, and a kubelet that registers NODE_NAME."""

    def __init__(self, directory: Path, plane: ControlPlane, kubelet: str, tools: dict[str, str]):
        self.directory = directory
        self.plane = plane
        self.kubelet = kubelet
        self.tools = tools
        self.processes = Processes(directory)
        self.containerd_root = directory / "containerd"
        self.socket = directory / "containerd.sock"
        self.cni_conf = directory / "cni" / "net.d"
        self.kubelet_root = directory / "kubelet"
        self.pod_logs = directory / "pod-logs"
        self._cgroups_before: set[Path] | None = None

    def _containerd_config(self) -> Path:
        state = self.containerd_root / "state"
        root = self.containerd_root / "root"
        runc_root = self.containerd_root / "runc"
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        config = f"""version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{self.socket}"
[ttrpc]
  address = "{self.socket}.ttrpc"
[debug]
  level = "info"
[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  netns_mounts_under_state_dir = true
  # This sandbox withholds CAP_SYS_RESOURCE: a negative oom_score_adj (the pause container's
  # -998) cannot be written, and runc fails "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  enable_selinux = false
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        BinaryName = "{self.tools["runc"]}"
        Root = "{runc_root}"
        SystemdCgroup = false
  [{cri}.cni]
    bin_dir = "{CNI_DIR}"
    conf_dir = "{self.cni_conf}"
    max_conf_num = 1
"""
        path = self.directory / "containerd.toml"
        path.write_text(config)
        return path

    def _cni_config(self) -> None:
        self.cni_conf.mkdir(parents=True, exist_ok=True)
        network = {
            "cniVersion": "1.0.0",
            "name": "een-test",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": BRIDGE,
                    "isGateway": True,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": POD_SUBNET, "gateway": GATEWAY}]],
                        "dataDir": str(self.directory / "cni" / "ipam"),
                    },
                }
            ],
        }
        (self.cni_conf / "10-een-test.conflist").write_text(json.dumps(network, indent=2))

    def _bridge(self) -> None:
        """The pod bridge with the gateway address up front, so a server on the host can
        listen on GATEWAY before the first pod exists (the bridge plugin then reuses it)."""
        ip = self.tools["ip"]
        subprocess.run([ip, "link", "del", BRIDGE], capture_output=True, check=False, timeout=30)
        prefix = POD_SUBNET.split("/")[1]
        for command in (
            [ip, "link", "add", BRIDGE, "type", "bridge"],
            [ip, "addr", "add", f"{GATEWAY}/{prefix}", "dev", BRIDGE],
            [ip, "link", "set", BRIDGE, "up"],
        ):
            subprocess.run(command, capture_output=True, check=True, timeout=30)

    def ctr(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.tools["ctr"], "--address", str(self.socket), "--namespace", "k8s.io", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def import_image(self, archive: Path) -> None:
        result = self.ctr("images", "import", "--all-platforms", str(archive))
        assert result.returncode == 0, result.stderr

    def tag(self, source: str, target: str) -> None:
        result = self.ctr("images", "tag", "--force", source, target)
        assert result.returncode == 0, result.stderr

    def _kubelet_config(self) -> Path:
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": "127.0.0.1",
            "port": free_port(),
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": free_port(),
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": False},
                "x509": {"clientCAFile": str(self.plane.ca)},
            },
            "authorization": {"mode": "AlwaysAllow"},
            "cgroupDriver": "cgroupfs",
            "failSwapOn": False,
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            "podLogsDir": str(self.pod_logs),
            "resolvConf": "/etc/resolv.conf",
            "registerNode": True,
            "nodeStatusUpdateFrequency": "2s",
            "syncFrequency": "5s",
            "fileCheckFrequency": "5s",
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {},
            "evictionPressureTransitionPeriod": "5s",
            "maxPods": 30,
            "serializeImagePulls": False,
            "localStorageCapacityIsolation": True,
            "protectKernelDefaults": False,
            "makeIPTablesUtilChains": False,
            "shutdownGracePeriod": "0s",
        }
        path = self.directory / "kubelet.json"
        path.write_text(json.dumps(config, indent=2))
        return path

    def start_runtime(self) -> None:
        self._cni_config()
        self._bridge()
        self.processes.start(
            "containerd", [self.tools["containerd"], "--config", str(self._containerd_config())]
        )
        self.processes.wait_until(
            lambda: self.ctr("version", timeout=10).returncode == 0, "containerd", START_SECONDS
        )

    def start_kubelet(self) -> None:
        self._cgroups_before = kubepods_trees()
        self.processes.start(
            "kubelet",
            [
                self.kubelet,
                f"--config={self._kubelet_config()}",
                f"--kubeconfig={self.plane.kubeconfigs[NODE]}",
                f"--root-dir={self.kubelet_root}",
                f"--cert-dir={self.directory / 'kubelet-pki'}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={GATEWAY}",
                "--v=1",
            ],
        )
        self.processes.wait_until(self.ready, f"node {NODE_NAME} Ready", START_SECONDS)

    def ready(self) -> bool:
        node = self.plane.api.get("Node", None, NODE_NAME)
        conditions = {c["type"]: c["status"] for c in node["status"].get("conditions", [])}
        return conditions.get("Ready") == "True"

    def stop(self) -> None:
        """Pods first (through the kubelet, so the sandboxes and their networks go), then the
        kubelet, containerd and any shim of ours left, then the mounts and the bridge."""
        try:
            self._delete_pods()
        finally:
            self.processes.stop_all()
            for pid in shim_pids(self.socket):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(AssertionError):
                wait_for(lambda: not shim_pids(self.socket), 10, 0.1, "the shims to exit")
            unmount_all(self.directory)
            if self._cgroups_before is not None:  # only the trees this kubelet made
                for tree in kubepods_trees() - self._cgroups_before:
                    remove_cgroups(tree)
            subprocess.run(
                [self.tools["ip"], "link", "del", BRIDGE],
                capture_output=True,
                check=False,
                timeout=30,
            )

    def _delete_pods(self) -> None:
        if not any(p.name == "kubelet" and p.alive() for p in self.processes.started):
            return
        api = self.plane.api
        for pod in api.list("Pod"):
            meta = pod["metadata"]
            with contextlib.suppress(ApiError):
                api.delete("Pod", meta["namespace"], meta["name"], grace=0)
        with contextlib.suppress(AssertionError):
            wait_for(
                lambda: not self.ctr("tasks", "list", "--quiet", timeout=10).stdout.strip(),
                60,
                0.5,
                "every container to stop",
            )


def save_image(podman: str, image: str, archive: Path) -> None:
    result = subprocess.run(
        [podman, "save", "--format", "oci-archive", "--output", str(archive), image],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def build_pause_image(podman: str, directory: Path, go: str) -> None:
    """The pod sandbox's image: a static Go program that waits for a signal, FROM scratch
    (registry.k8s.io cannot be reached; its pause image does the same)."""
    source = directory / "pause"
    source.mkdir(parents=True)
    (source / "go.mod").write_text("module pause\n\ngo 1.22\n")
    (source / "main.go").write_text(
        "package main\n\n"
        'import (\n\t"os"\n\t"os/signal"\n\t"syscall"\n)\n\n'
        "func main() {\n"
        "\tc := make(chan os.Signal, 1)\n"
        "\tsignal.Notify(c, syscall.SIGINT, syscall.SIGTERM)\n"
        "\t<-c\n"
        "}\n"
    )
    build = subprocess.run(
        [go, "build", "-o", "pause", "."],
        cwd=source,
        env={**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    (source / "Containerfile").write_text(
        'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n'
    )
    result = subprocess.run(
        [podman, "build", "--runtime", "runc", "--tag", PAUSE_IMAGE, str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def pod_ip(pod: Manifest) -> str:
    ip: str = pod["status"]["podIP"]
    return ip


def condition(pod: Manifest, kind: str) -> bool:
    conditions: list[dict[str, Any]] = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == kind and c["status"] == "True" for c in conditions)


def remove_tree(directory: Path) -> None:
    unmount_all(directory)
    shutil.rmtree(directory, ignore_errors=True)


def pod_log(node: Node, pod: Manifest) -> str:
    """The container log files the kubelet wrote for `pod` (no API-server-to-kubelet hop)."""
    meta = pod["metadata"]
    folder = node.pod_logs / f"{meta['namespace']}_{meta['name']}_{meta['uid']}"
    texts = [path.read_text(errors="replace") for path in sorted(folder.rglob("*.log"))]
    return "\n".join(texts)
