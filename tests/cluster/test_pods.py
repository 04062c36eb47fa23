"""The chart's pods run by a real kubelet (containerd, runc, the bridge CNI plugin) against
`een-sim` on the host: installed by helm with shards=3 into a namespace enforcing
`restricted`, each exporter takes its shard from its pod name, logs in with the password
from the mounted Secret, passes its probes, and together they monitor every account once.
Deleting a pod leaves the others' streams alone and brings the same shard back; `helm
upgrade` to 4 shards moves exactly the accounts that jump hashing moves.

The simulator listens on the pod bridge's gateway address, which only the pods and the host
reach (the pod network has no route out).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from exporter.simulator.world import WorldSpec, build_world
from exporter.state.sharding import shard_of
from tests.chart.tools import CHART
from tests.cluster.api import Api, Manifest
from tests.cluster.cluster import GATEWAY, NODE_NAME, Node, condition, pod_ip, pod_log
from tests.cluster.conftest import Helm, create_namespace, delete_namespace
from tests.cluster.tools import free_port
from tests.container.podman import BUILD_SECONDS
from tests.support import Sample, parse_exposition, wait_for

# The first test also pays for the node: the image build (cold: minutes) and the kubelet.
pytestmark = pytest.mark.timeout(BUILD_SECONDS + 600)

RELEASE = "een-exporter"
VALUES = CHART / "ci" / "three-shards-values.yaml"
USERNAME, PASSWORD = "monitoring@example.com", "not-a-real-password"  # the value set's
EXCLUDED = "00001234"  # the value set's accountsExclude
WORLD = WorldSpec(accounts=12, bridges=1, cameras=2, seed=7)
PORT = 9877
READY_SECONDS = 180.0
UID = 10001


@dataclass
class Deployment:
    api: Api
    helm: Helm
    node: Node
    namespace: str
    sim_url: str

    def install_args(self, shards: int) -> tuple[str, ...]:
        return (
            "--values",
            str(VALUES),
            "--set",
            f"shards={shards}",
            "--set",
            f"config.url={self.sim_url}",
            "--set",
            "config.deviceRefreshSeconds=600",
        )

    def pods(self) -> list[Manifest]:
        selector = f"app.kubernetes.io/instance={RELEASE}"
        pods = self.api.list("Pod", self.namespace, selector)
        return sorted(pods, key=lambda p: p["metadata"]["name"])

    def ready_pods(self, shards: int, revision: str | None = None) -> list[Manifest] | None:
        """All `shards` pods, Ready and at `revision` (any if None), else None."""
        pods = [p for p in self.pods() if not p["metadata"].get("deletionTimestamp")]
        if [p["metadata"]["name"] for p in pods] != [f"{RELEASE}-{i}" for i in range(shards)]:
            return None
        for pod in pods:
            if not condition(pod, "Ready"):
                return None
            if revision and pod["metadata"]["labels"]["controller-revision-hash"] != revision:
                return None
        return pods

    def wait_ready(self, shards: int, revision: str | None = None) -> list[Manifest]:
        try:
            return wait_for(
                lambda: self.ready_pods(shards, revision), READY_SECONDS, 0.5, f"{shards} pods"
            )
        except AssertionError as error:
            details = "\n".join(
                f"{p['metadata']['name']}: {p.get('status')}\n{pod_log(self.node, p)[-2000:]}"
                for p in self.pods()
            )
            raise AssertionError(f"{error}\n{details}\n{self.node.processes.logs()}") from None

    def revision(self) -> str:
        statefulset = self.api.get("StatefulSet", self.namespace, RELEASE)
        status = statefulset["status"]
        current: str = status.get("updateRevision", "")
        return current


def scrape(pod: Manifest) -> dict[Sample, float]:
    text = requests.get(f"http://{pod_ip(pod)}:{PORT}/metrics", timeout=10).text
    return parse_exposition(text)


def labelled(samples: dict[Sample, float], name: str, label: str) -> dict[str, float]:
    return {
        dict(labels)[label]: value for (metric, labels), value in samples.items() if metric == name
    }


def monitored(pod: Manifest) -> set[str]:
    return set(labelled(scrape(pod), "een_account_info", "account_id"))


def shard_info(pod: Manifest) -> tuple[str, str]:
    ((labels, _),) = [
        (dict(labels), value)
        for (name, labels), value in scrape(pod).items()
        if name == "een_exporter_shard_info"
    ]
    return labels["index"], labels["total"]


def expected_accounts() -> set[str]:
    world = build_world(WORLD, USERNAME)
    return {a.id for a in world.accounts.values() if not a.is_master} - {EXCLUDED}


def sim_binary() -> str:
    found = shutil.which("een-sim") or shutil.which(
        "een-sim", path=str(Path(sys.executable).parent)
    )
    assert found, "een-sim is not installed (pip install -e .)"
    return found


@pytest.fixture(scope="module")
def deployment(
    node: Node, cluster_helm: Helm, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    api = node.plane.api
    port = free_port()
    log = tmp_path_factory.mktemp("sim") / "een-sim.log"
    with log.open("wb") as output:
        sim = subprocess.Popen(
            [
                sim_binary(),
                f"--listen={GATEWAY}:{port}",
                f"--accounts={WORLD.accounts}",
                f"--bridges={WORLD.bridges}",
                f"--cameras={WORLD.cameras}",
                f"--seed={WORLD.seed}",
                f"--username={USERNAME}",
                f"--password={PASSWORD}",
                "--thumbnail-seconds=0",
                "--stream-stats-seconds=0",
                "--bridge-boots-per-hour=0",
                "--lossy-cameras=0",
            ],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    namespace = f"een-{uuid.uuid4().hex[:8]}"
    try:
        url = f"http://{GATEWAY}:{port}"
        wait_for(lambda: log.read_text().find("listening on") >= 0 or sim.poll() is not None, 30)
        assert sim.poll() is None, log.read_text()
        create_namespace(api, namespace)
        deployment = Deployment(api, cluster_helm, node, namespace, url)
        cluster_helm.ok(
            "install", RELEASE, str(CHART), "--namespace", namespace, *deployment.install_args(3)
        )
        deployment.wait_ready(3)
        yield deployment
    finally:
        delete_namespace(api, namespace)
        sim.terminate()
        try:
            sim.wait(15)
        except subprocess.TimeoutExpired:
            sim.kill()
            sim.wait(15)


def container_pid(node: Node, pod: Manifest) -> int:
    """The host PID of the pod's exporter process (containerd's task for its container)."""
    (status,) = pod["status"]["containerStatuses"]
    container_id = status["containerID"].removeprefix("containerd://")
    tasks = node.ctr("tasks", "list", timeout=30)
    assert tasks.returncode == 0, tasks.stderr
    for line in tasks.stdout.splitlines()[1:]:
        task, pid, *_ = line.split()
        if task == container_id:
            return int(pid)
    raise AssertionError(f"no task for {container_id}: {tasks.stdout}")


def proc_status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}


def test_each_pod_takes_its_shard_from_its_name(deployment: Deployment) -> None:
    pods = deployment.wait_ready(3)
    for index, pod in enumerate(pods):
        assert pod["metadata"]["name"] == f"{RELEASE}-{index}"
        assert shard_info(pod) == (str(index), "3")
        assert pod["spec"]["nodeName"] == NODE_NAME
        assert pod["status"]["podIP"].startswith(GATEWAY.rsplit(".", 1)[0] + ".")


def test_the_exporters_run_hardened_as_the_pod_spec_says(deployment: Deployment) -> None:
    """The kubelet applied the security context: uid/gid 10001, no capabilities, no new
    privileges, a read-only root; the password is the mounted Secret's file, not the env."""
    for pod in deployment.wait_ready(3):
        pid = container_pid(deployment.node, pod)
        status = proc_status(pid)
        assert status["Uid"].split() == [str(UID)] * 4
        assert status["Gid"].split() == [str(UID)] * 4
        assert int(status["CapEff"], 16) == 0
        assert int(status["CapBnd"], 16) == 0
        assert status["NoNewPrivs"] == "1"
        assert status["Seccomp"] == "2"  # RuntimeDefault: a filter
        root = Path(f"/proc/{pid}/root")
        mounts = Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
        (root_mount,) = [line for line in mounts if line.split()[4] == "/"]
        assert "ro" in root_mount.split()[5].split(",")
        password = root / "etc/een-exporter/credentials/password"
        assert password.read_text() == PASSWORD
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert b"EEN_PASSWORD_FILE=/etc/een-exporter/credentials/password" in environ
        assert not [v for v in environ if v.startswith(b"EEN_PASSWORD=")]
        assert f"POD_NAME={pod['metadata']['name']}".encode() in environ


def test_probes_pass_and_nothing_restarts(deployment: Deployment) -> None:
    for pod in deployment.wait_ready(3):
        (status,) = pod["status"]["containerStatuses"]
        assert status["ready"] is True
        assert status["restartCount"] == 0
        assert "running" in status["state"]
        base = f"http://{pod_ip(pod)}:{PORT}"
        assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
        assert requests.get(f"{base}/readyz", timeout=5).status_code == 200


def test_the_headless_service_lists_every_ready_shard(deployment: Deployment) -> None:
    """What a ServiceMonitor scrapes: the headless Service's EndpointSlice holds each pod's
    address under its own name, ready, on the http port."""
    pods = deployment.wait_ready(3)
    wanted = {(p["metadata"]["name"], pod_ip(p)) for p in pods}

    def endpoints() -> set[tuple[str, str]] | None:
        slices = deployment.api.list(
            "EndpointSlice", deployment.namespace, f"kubernetes.io/service-name={RELEASE}"
        )
        found = set()
        for item in slices:
            assert [(p["name"], p["port"]) for p in item["ports"]] == [("http", PORT)]
            for endpoint in item.get("endpoints") or []:
                if endpoint["conditions"].get("ready"):
                    (address,) = endpoint["addresses"]
                    found.add((endpoint["targetRef"]["name"], address))
        return found if found == wanted else None

    wait_for(endpoints, 60, 0.5, "the EndpointSlice to list the three ready pods")
    service = deployment.api.get("Service", deployment.namespace, RELEASE)
    assert service["spec"]["clusterIP"] == "None"


def test_the_shards_together_monitor_every_account_once(deployment: Deployment) -> None:
    wanted = expected_accounts()
    seen: dict[str, int] = {}
    for index, pod in enumerate(deployment.wait_ready(3)):
        accounts = monitored(pod)
        assert accounts == {a for a in wanted if shard_of(a, 3) == index}, pod["metadata"]["name"]
        streams = labelled(scrape(pod), "een_stream_up", "account_id")
        assert streams == dict.fromkeys(accounts, 1.0)
        for account in accounts:
            assert account not in seen, f"{account} on shards {seen[account]} and {index}"
            seen[account] = index
    assert set(seen) == wanted
    assert len({*seen.values()}) == 3, "every shard has accounts"


def test_a_deleted_pod_comes_back_with_its_shard_and_the_others_keep_their_streams(
    deployment: Deployment,
) -> None:
    pods = deployment.wait_ready(3)
    victim = pods[1]
    others = [pods[0], pods[2]]
    before = {p["metadata"]["name"]: scrape(p) for p in others}
    deployment.api.delete("Pod", deployment.namespace, victim["metadata"]["name"])
    wait_for(
        lambda: (
            (p := deployment.ready_pods(3)) and p[1]["metadata"]["uid"] != victim["metadata"]["uid"]
        ),
        READY_SECONDS,
        0.5,
        "een-exporter-1 replaced and Ready",
    )
    back = deployment.wait_ready(3)
    assert back[1]["metadata"]["name"] == victim["metadata"]["name"]
    assert shard_info(back[1]) == ("1", "3")
    assert monitored(back[1]) == {a for a in expected_accounts() if shard_of(a, 3) == 1}
    for pod in (back[0], back[2]):
        name = pod["metadata"]["name"]
        assert pod["metadata"]["uid"] in {p["metadata"]["uid"] for p in others}, name
        now = scrape(pod)
        for metric in ("een_stream_connects_total", "een_stream_disconnects_total"):
            assert labelled(now, metric, "account_id") == labelled(
                before[name], metric, "account_id"
            )
        assert set(labelled(now, "een_stream_up", "account_id").values()) == {1.0}


def test_helm_upgrade_to_four_shards_moves_only_what_jump_hashing_moves(
    deployment: Deployment,
) -> None:
    before = {
        account: index
        for index, pod in enumerate(deployment.wait_ready(3))
        for account in monitored(pod)
    }
    old_revision = deployment.revision()
    deployment.helm.ok(
        "upgrade",
        RELEASE,
        str(CHART),
        "--namespace",
        deployment.namespace,
        *deployment.install_args(4),
    )
    wait_for(lambda: deployment.revision() != old_revision, 30, 0.2, "a new revision")
    pods = deployment.wait_ready(4, deployment.revision())
    after = {account: index for index, pod in enumerate(pods) for account in monitored(pod)}
    for index, pod in enumerate(pods):
        assert shard_info(pod) == (str(index), "4")
    assert set(after) == set(before) == expected_accounts()
    moved = {account for account in after if after[account] != before[account]}
    assert moved == {a for a in after if shard_of(a, 4) != shard_of(a, 3)}
    # Jump hashing moves accounts only onto the new shard, about a quarter of them.
    assert moved, "the world should have an account that moves"
    assert {after[account] for account in moved} == {3}
    assert len(moved) < len(after) / 2
