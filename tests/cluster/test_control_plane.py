"""The chart on a real control plane: etcd, kube-apiserver, kube-controller-manager and
kube-scheduler (Kubernetes v1.34), installed by the real helm into namespaces that enforce
the `restricted` Pod Security level.

What schemas cannot see, the API server and the StatefulSet controller decide here: every
object of every value set is admitted, the pods the controller creates from the template pass
Pod Security admission, and they carry the names --shard.index=auto reads, the environment,
the mounts and the security context the chart renders.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.test_chart import VALUE_SETS, values_id
from tests.chart.tools import CHART
from tests.cluster.api import Api, ApiError, Manifest
from tests.cluster.conftest import Helm, create_namespace, delete_namespace
from tests.support import wait_for

pytestmark = pytest.mark.timeout(600)

RELEASE = "een-exporter"  # so the objects and pods are named een-exporter, een-exporter-0...
# Pods of these tests never reach an EEN cloud: nothing listens on this address.
NOWHERE = "config.url=http://127.0.0.1:9"
POD_SECONDS = 60.0


def template(helm: Helm, namespace: str, *args: str) -> list[Manifest]:
    out = helm.ok("template", RELEASE, str(CHART), "--namespace", namespace, *args)
    return [doc for doc in yaml.safe_load_all(out) if doc]


def the(manifests: list[Manifest], kind: str) -> Manifest:
    (found,) = [m for m in manifests if m["kind"] == kind]
    return found


def statefulset_pods(api: Api, namespace: str, statefulset: Manifest) -> list[Manifest]:
    labels = statefulset["spec"]["selector"]["matchLabels"]
    selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return sorted(api.list("Pod", namespace, selector), key=lambda p: p["metadata"]["name"])


def refused_pods(api: Api, namespace: str) -> list[str]:
    """The StatefulSet controller's events for pods that Pod Security admission refused."""
    return [
        e["message"]
        for e in api.list("Event", namespace)
        if e.get("reason") == "FailedCreate" and "PodSecurity" in e.get("message", "")
    ]


def prerequisites(api: Api, namespace: str) -> None:
    """What the value sets expect to exist already, as their users would have made it: the
    login Secret (both key spellings), the web-config and scrape Secrets, the ServiceAccount."""
    secrets = {
        "een-login": {
            "username": "monitoring@example.com",
            "password": "not-a-real-password",
            "user": "monitoring@example.com",
            "pass": "not-a-real-password",
        },
        "een-web": {"web-config.yml": "{}\n", "tls.crt": "", "tls.key": ""},
        "een-scrape": {"username": "prometheus", "password": "scrape-secret"},
    }
    for name, data in secrets.items():
        api.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name, "namespace": namespace},
                "stringData": data,
            }
        )
    api.create(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "monitoring", "namespace": namespace},
            "automountServiceAccountToken": False,
        }
    )


@pytest.fixture
def namespace(api: Api) -> Iterator[str]:
    name = f"een-{uuid.uuid4().hex[:8]}"
    create_namespace(api, name)
    try:
        yield name
    finally:
        delete_namespace(api, name)


def test_the_control_plane_is_the_pinned_kubernetes(api: Api) -> None:
    version = api.request("GET", "/version")
    assert version["gitVersion"] == "v1.34.4"
    assert api.raw("/readyz").text == "ok"
    # RBAC: a token of no identity is refused, the node's identity cannot read Secrets.
    anonymous = Api(api.server, "not-a-token", api.ca)
    try:
        with pytest.raises(ApiError) as refused:
            anonymous.list("Namespace")
        assert refused.value.status == 401
    finally:
        anonymous.close()


def test_restricted_pod_security_is_enforced(api: Api, namespace: str) -> None:
    """Guards the admission tests: this namespace rejects a pod the restricted level forbids."""
    pod: Manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "root", "namespace": namespace},
        "spec": {"containers": [{"name": "c", "image": "een-exporter:0.1.0"}]},
    }
    with pytest.raises(ApiError) as refused:
        api.create(pod, dry_run=True)
    assert refused.value.status == 403
    assert 'violates PodSecurity "restricted:latest"' in refused.value.message
    assert "runAsNonRoot" in refused.value.message
    # The same pod in a namespace without the label is admitted (dry run: nothing is stored).
    unlabelled = f"{namespace}-plain"
    create_namespace(api, unlabelled, labels={})
    try:
        api.create({**pod, "metadata": {"name": "root", "namespace": unlabelled}}, dry_run=True)
    finally:
        delete_namespace(api, unlabelled)


@pytest.mark.parametrize("path", VALUE_SETS, ids=values_id)
def test_every_object_of_every_value_set_is_admitted(
    api: Api, cluster_helm: Helm, crds: list[str], namespace: str, path: Path
) -> None:
    """`helm install` of the value set succeeds; every rendered object is stored as sent,
    and the StatefulSet controller's pods pass Pod Security admission at `restricted`."""
    args = ("--values", str(path), "--set", NOWHERE)
    prerequisites(api, namespace)
    rendered = template(cluster_helm, namespace, *args)
    cluster_helm.ok("install", RELEASE, str(CHART), "--namespace", namespace, *args)
    try:
        for manifest in rendered:
            name = manifest["metadata"]["name"]
            stored = api.get(manifest["kind"], namespace, name)
            assert stored["metadata"]["labels"] == manifest["metadata"]["labels"]
            if "spec" in manifest:
                assert_contains(stored["spec"], manifest["spec"], f"{manifest['kind']} {name}")
        statefulset = the(rendered, "StatefulSet")
        replicas = statefulset["spec"]["replicas"]
        pods = wait_for(
            lambda: (
                len(statefulset_pods(api, namespace, statefulset)) == replicas
                or refused_pods(api, namespace)
            ),
            POD_SECONDS,
            0.2,
            f"{replicas} pods",
        )
        assert pods is True, f"the StatefulSet controller could not create pods: {pods}"
        names = [p["metadata"]["name"] for p in statefulset_pods(api, namespace, statefulset)]
        assert names == [f"{RELEASE}-{i}" for i in range(replicas)]
    finally:
        cluster_helm.ok("uninstall", RELEASE, "--namespace", namespace, "--wait=false")


def assert_contains(stored: Any, sent: Any, where: str) -> None:
    """`sent` is in `stored`: the server kept every field the chart set, with its value
    (it may add defaults; quantities and int-or-strings may be normalised)."""
    if isinstance(sent, dict):
        assert isinstance(stored, dict), f"{where}: {stored!r}"
        for key, value in sent.items():
            assert key in stored, f"{where}.{key} was dropped"
            assert_contains(stored[key], value, f"{where}.{key}")
    elif isinstance(sent, list):
        assert isinstance(stored, list), f"{where}: {stored!r}"
        assert len(stored) == len(sent), f"{where}: {stored!r}"
        for index, (s, v) in enumerate(zip(stored, sent, strict=True)):
            assert_contains(s, v, f"{where}[{index}]")
    else:
        assert stored == sent or str(stored) == str(sent), f"{where}: {stored!r} != {sent!r}"


def test_three_shards_pods_carry_their_names_env_mounts_and_security_context(
    api: Api, cluster_helm: Helm, namespace: str
) -> None:
    """The StatefulSet controller creates een-exporter-0, -1, -2 (the names the exporters'
    --shard.index=auto reads), each with the template's arguments, environment (POD_NAME
    from the pod's own name, the password as a file, the API key from the Secret), mounts
    (the Secret read-only, a scratch /tmp) and hardened security context, as admitted."""
    values = CHART / "ci" / "three-shards-values.yaml"
    args = ("--values", str(values), "--set", NOWHERE)
    rendered = template(cluster_helm, namespace, *args)
    cluster_helm.ok("install", RELEASE, str(CHART), "--namespace", namespace, *args)
    try:
        statefulset = the(rendered, "StatefulSet")
        assert statefulset["spec"]["replicas"] == 3
        wait_for(
            lambda: len(statefulset_pods(api, namespace, statefulset)) == 3,
            POD_SECONDS,
            0.2,
            "3 pods",
        )
        pods = statefulset_pods(api, namespace, statefulset)
        wanted = statefulset["spec"]["template"]["spec"]
        (exporter,) = wanted["containers"]
        for index, pod in enumerate(pods):
            meta, spec = pod["metadata"], pod["spec"]
            assert meta["name"] == f"{RELEASE}-{index}"
            assert meta["labels"]["apps.kubernetes.io/pod-index"] == str(index)
            assert meta["labels"]["statefulset.kubernetes.io/pod-name"] == meta["name"]
            (owner,) = meta["ownerReferences"]
            assert (owner["kind"], owner["name"]) == ("StatefulSet", RELEASE)
            assert spec["hostname"] == meta["name"]
            assert spec["subdomain"] == RELEASE  # the headless Service
            (container,) = spec["containers"]
            assert container["args"] == [
                "--shard.index=auto",
                "--shard.total=3",
                "--web.listen-address=:9877",
            ]
            # As rendered; the server only adds defaults (fieldRef's apiVersion).
            assert_contains(container["env"], exporter["env"], "env")
            env = {item["name"]: item for item in container["env"]}
            assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
            assert env["EEN_PASSWORD_FILE"]["value"] == "/etc/een-exporter/credentials/password"
            assert "EEN_PASSWORD" not in env
            mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
            assert mounts["/etc/een-exporter/credentials"]["readOnly"] is True
            assert "/tmp" in mounts
            # No service-account token is mounted (automountServiceAccountToken: false).
            assert not [p for p in mounts if "serviceaccount" in p]
            assert_contains(container["securityContext"], exporter["securityContext"], "context")
            assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert_contains(spec["securityContext"], wanted["securityContext"], "pod context")
            assert spec["securityContext"]["runAsUser"] == 10001
            volumes = {v["name"]: v for v in spec["volumes"]}
            assert volumes["credentials"]["secret"]["secretName"] == RELEASE
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert not refused_pods(api, namespace)
    finally:
        cluster_helm.ok("uninstall", RELEASE, "--namespace", namespace, "--wait=false")


def test_a_pod_that_drops_the_hardening_is_refused_in_the_charts_namespace(
    api: Api, cluster_helm: Helm, namespace: str
) -> None:
    """The chart's own pod template with its container's capabilities no longer dropped is
    refused: admission did look at what the chart renders."""
    rendered = template(
        cluster_helm, namespace, "--values", str(CHART / "ci" / "defaults-values.yaml")
    )
    spec = copy.deepcopy(the(rendered, "StatefulSet")["spec"]["template"]["spec"])
    spec["serviceAccountName"] = "default"  # the chart's own is not installed here
    pod: Manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "hardened", "namespace": namespace},
        "spec": spec,
    }
    api.create(pod, dry_run=True)  # as rendered: admitted
    del spec["containers"][0]["securityContext"]["capabilities"]
    with pytest.raises(ApiError) as refused:
        api.create(pod, dry_run=True)
    assert refused.value.status == 403
    assert "unrestricted capabilities" in refused.value.message
