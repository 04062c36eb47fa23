"""charts/een-exporter: lint-clean, valid objects for every value set, and what they promise.

Every value set in the chart's ci/ folder is linted and rendered by a real helm; every
object is validated offline against Kubernetes' schemas (kubernetes-validate, strict) and
the Prometheus Operator's CRD schemas. Then the promises: one shard per replica, the rules
straight from rules/*.yml, the password as a file, a hardened pod.
"""

from __future__ import annotations

import copy
import tarfile
from pathlib import Path
from typing import Any

import bcrypt
import jsonschema
import kubernetes_validate
import pytest
import requests
import yaml

from exporter import __version__
from exporter.exposition.render import Exposition
from exporter.state.store import StateStore
from exporter.web.config import WebConfigFile
from exporter.web.endpoints import PATHS, WebServer
from tests.chart.tools import (
    CHART,
    CRD_FILES,
    HELM_VERSION,
    REPO,
    Manifest,
    objects,
    one,
    render,
    run_helm,
    validate,
    validate_custom_resource,
    validate_kubernetes,
)
from tests.pki import Authority
from tests.stack.rule_files import RULE_FILES

VALUE_SETS = sorted((CHART / "ci").glob("*-values.yaml"))
PASSWORD = "not-a-real-password"  # ci/defaults-values.yaml and ci/three-shards-values.yaml


def values_id(path: Path) -> str:
    return path.name.removesuffix("-values.yaml")


def rendered(path: Path, *extra: str) -> tuple[Manifest, ...]:
    return render("--values", str(path), *extra)


def values_of(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def container(manifests: tuple[Manifest, ...]) -> dict[str, Any]:
    (only,) = one(manifests, "StatefulSet")["spec"]["template"]["spec"]["containers"]
    return dict(only)


def env(manifests: tuple[Manifest, ...]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container(manifests)["env"]}


# --- helm itself ----------------------------------------------------------------------------


def test_the_pinned_helm_runs() -> None:
    result = run_helm("version", "--template", "{{.Version}}")
    assert result.returncode == 0, result.stderr
    # `go install` builds carry no version ldflags; the module version is major.minor.
    assert HELM_VERSION.startswith(result.stdout.strip()), result.stdout


@pytest.mark.parametrize("path", VALUE_SETS, ids=values_id)
def test_helm_lint_is_clean(path: Path) -> None:
    result = run_helm("lint", "--strict", str(CHART), "--values", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout
    assert "[ERROR]" not in result.stdout
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


def test_the_value_sets_cover_what_the_chart_offers() -> None:
    sets = {values_id(path): values_of(path) for path in VALUE_SETS}
    wanted = {
        "defaults",
        "three-shards",
        "existing-secret",
        "operator",
        "network-policy",
        "web-config",
    }
    assert set(sets) >= wanted
    assert set(sets["defaults"]) == {"credentials"}
    assert sets["three-shards"]["shards"] == 3
    assert sets["existing-secret"]["credentials"]["existingSecret"]
    assert sets["operator"]["serviceMonitor"]["enabled"]
    assert sets["operator"]["prometheusRule"]["enabled"]
    assert sets["network-policy"]["networkPolicy"]["enabled"]
    assert sets["web-config"]["webConfig"]["existingSecret"]


def test_rendering_without_credentials_fails_naming_them() -> None:
    result = run_helm("template", "een", str(CHART))
    assert result.returncode != 0
    assert "credentials.username is required (or set credentials.existingSecret)" in result.stderr


@pytest.mark.parametrize(
    ("override", "complaint"),
    [("shard=3", "shard"), ("shards=0", "shards"), ("config.logFormat=xml", "logFormat")],
)
def test_values_schema_rejects_typos_and_nonsense(override: str, complaint: str) -> None:
    defaults = str(CHART / "ci" / "defaults-values.yaml")
    result = run_helm("template", "een", str(CHART), "--values", defaults, "--set", override)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert complaint in result.stderr


# --- every object is valid ------------------------------------------------------------------


@pytest.mark.parametrize("path", VALUE_SETS, ids=values_id)
def test_every_rendered_object_is_valid(path: Path) -> None:
    manifests = rendered(path)
    kinds = {m["kind"] for m in manifests}
    assert {"StatefulSet", "Service"} <= kinds
    for manifest in manifests:
        try:
            validate(manifest)
        except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as exc:
            where = ".".join(str(part) for part in exc.absolute_path)
            name = f"{manifest['kind']} {manifest['metadata']['name']}"
            pytest.fail(f"{name}: {where}: {exc.message}")


def test_the_operator_value_set_renders_both_custom_resources() -> None:
    manifests = rendered(CHART / "ci" / "operator-values.yaml")
    assert {m["kind"] for m in manifests} >= set(CRD_FILES)


def test_validation_rejects_a_broken_object() -> None:
    # Guards the test above: the validators do reject what a cluster would reject.
    manifests = rendered(CHART / "ci" / "operator-values.yaml")
    statefulset = copy.deepcopy(one(manifests, "StatefulSet"))
    statefulset["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_kubernetes(statefulset)
    service = copy.deepcopy(one(manifests, "Service"))
    service["spec"]["portz"] = service["spec"].pop("ports")
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_kubernetes(service)
    monitor = copy.deepcopy(one(manifests, "ServiceMonitor"))
    monitor["spec"]["endpoints"][0]["scrapeIntervall"] = "30s"
    with pytest.raises(jsonschema.ValidationError, match="scrapeIntervall"):
        validate_custom_resource(monitor)
    rule = copy.deepcopy(one(manifests, "PrometheusRule"))
    rule["spec"]["groups"][0]["rules"][0]["for"] = "two minutes"
    with pytest.raises(jsonschema.ValidationError, match="two minutes"):
        validate_custom_resource(rule)


# --- shards ---------------------------------------------------------------------------------


@pytest.mark.parametrize("shards", [1, 3, 7])
def test_replicas_and_every_pods_shard_total_are_the_shards(shards: int) -> None:
    manifests = rendered(CHART / "ci" / "defaults-values.yaml", "--set", f"shards={shards}")
    statefulset = one(manifests, "StatefulSet")
    assert statefulset["spec"]["replicas"] == shards
    args = container(manifests)["args"]
    assert [a for a in args if a.startswith("--shard.")] == [
        "--shard.index=auto",
        f"--shard.total={shards}",
    ]
    # --shard.index=auto reads the StatefulSet pod's own name.
    assert env(manifests)["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert statefulset["spec"]["podManagementPolicy"] == "Parallel"


def test_one_headless_service_lists_every_shard_and_the_servicemonitor_scrapes_it() -> None:
    manifests = rendered(CHART / "ci" / "operator-values.yaml")
    statefulset, service = one(manifests, "StatefulSet"), one(manifests, "Service")
    monitor = one(manifests, "ServiceMonitor")
    pod_labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["clusterIP"] == "None"
    assert statefulset["spec"]["serviceName"] == service["metadata"]["name"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    service_labels = service["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service_labels.items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["monitoring"]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    # The shipped rules select job="een"; the operator would name the job after the Service.
    assert {"action": "replace", "targetLabel": "job", "replacement": "een"} in endpoint[
        "relabelings"
    ]
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_plain_prometheus_scrapes_by_pod_annotations() -> None:
    manifests = rendered(CHART / "ci" / "defaults-values.yaml")
    annotations = one(manifests, "StatefulSet")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    (port,) = container(manifests)["ports"]
    assert annotations["prometheus.io/port"] == str(port["containerPort"])
    assert annotations["prometheus.io/path"] == "/metrics"
    assert not objects(manifests, "ServiceMonitor")
    assert not objects(manifests, "PrometheusRule")


# --- the rules: one source of truth ---------------------------------------------------------


def test_prometheus_rule_groups_are_exactly_the_rule_files() -> None:
    manifests = rendered(CHART / "ci" / "operator-values.yaml")
    groups = one(manifests, "PrometheusRule")["spec"]["groups"]
    expected = [g for path in RULE_FILES for g in yaml.safe_load(path.read_text())["groups"]]
    assert groups == expected
    assert {rule.get("alert") for group in groups for rule in group["rules"]} >= {
        "EenExporterDown",
        "EenAccountsUnmonitored",
        "EenShardTotalMismatch",
    }


def test_the_chart_reads_the_rules_through_a_link_not_a_copy() -> None:
    link = CHART / "rules"
    assert link.is_symlink()
    assert link.resolve() == (REPO / "rules").resolve()


def test_a_packaged_chart_carries_the_rules_and_not_the_test_values(tmp_path: Path) -> None:
    result = run_helm("package", str(CHART), "--destination", str(tmp_path))
    assert result.returncode == 0, result.stderr
    (package,) = tmp_path.glob("een-exporter-*.tgz")
    with tarfile.open(package) as archive:
        names = set(archive.getnames())
        for path in RULE_FILES:
            member = archive.extractfile(f"een-exporter/rules/{path.name}")
            assert member is not None
            assert member.read() == path.read_bytes()
    assert not [name for name in names if name.startswith("een-exporter/ci/")]


# --- credentials ----------------------------------------------------------------------------


def test_the_password_is_a_mounted_file_never_an_environment_variable() -> None:
    manifests = rendered(CHART / "ci" / "three-shards-values.yaml")
    secret = one(manifests, "Secret")
    assert secret["stringData"]["password"] == PASSWORD
    variables = env(manifests)
    assert "EEN_PASSWORD" not in variables
    assert PASSWORD not in yaml.safe_dump(one(manifests, "StatefulSet"))
    password_file = Path(variables["EEN_PASSWORD_FILE"]["value"])
    (mount,) = [
        m
        for m in container(manifests)["volumeMounts"]
        if password_file.parent == Path(m["mountPath"])
    ]
    assert mount["readOnly"] is True
    pod = one(manifests, "StatefulSet")["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["secret"]["secretName"] == secret["metadata"]["name"]
    assert volume["secret"]["items"] == [{"key": "password", "path": password_file.name}]
    # Readable by the exporter's group only (fsGroup), not by everyone.
    assert volume["secret"]["defaultMode"] == 0o440
    assert pod["securityContext"]["fsGroup"] == 10001
    key = variables["EEN_API_KEY"]["valueFrom"]["secretKeyRef"]
    assert secret["stringData"][key["key"]] == "not-a-real-api-key"


def test_an_existing_secret_is_used_with_its_own_keys() -> None:
    manifests = rendered(CHART / "ci" / "existing-secret-values.yaml")
    assert not objects(manifests, "Secret")
    variables = env(manifests)
    assert variables["EEN_USERNAME"]["valueFrom"]["secretKeyRef"] == {
        "name": "een-login",
        "key": "user",
    }
    assert variables["EEN_API_KEY"]["valueFrom"]["secretKeyRef"]["optional"] is True
    pod = one(manifests, "StatefulSet")["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if "secret" in v]
    assert volume["secret"]["secretName"] == "een-login"
    assert volume["secret"]["items"] == [{"key": "pass", "path": "password"}]
    assert pod["serviceAccountName"] == "monitoring"
    assert not objects(manifests, "ServiceAccount")


# --- the pod --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", VALUE_SETS, ids=values_id)
def test_the_pod_is_hardened(path: Path) -> None:
    manifests = rendered(path)
    pod = one(manifests, "StatefulSet")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the Dockerfile's user
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    context = container(manifests)["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["runAsNonRoot"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "privileged" not in context


def test_the_dockerfile_runs_as_the_user_the_chart_expects() -> None:
    assert "USER 10001:10001" in (REPO / "Dockerfile").read_text()


def test_probes_ask_healthz_and_readyz_on_the_exporters_port() -> None:
    manifests = rendered(CHART / "ci" / "defaults-values.yaml")
    exporter = container(manifests)
    (port,) = exporter["ports"]
    assert exporter["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert exporter["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
    assert f"--web.listen-address=:{port['containerPort']}" in exporter["args"]


def test_a_web_config_secret_secures_the_port_and_what_calls_it(tmp_path: Path) -> None:
    """The Secret as ci/web-config-values.yaml describes it, mounted where the chart says,
    served by the exporter: the chart's probes pass without a password, and the
    ServiceMonitor's scheme and basic auth are what /metrics asks for."""
    manifests = rendered(CHART / "ci" / "web-config-values.yaml")
    pod = one(manifests, "StatefulSet")["spec"]["template"]
    exporter = container(manifests)
    (mount,) = [m for m in exporter["volumeMounts"] if m["name"] == "web-config"]
    (volume,) = [v for v in pod["spec"]["volumes"] if v["name"] == "web-config"]
    assert volume["secret"]["secretName"] == "een-web"
    assert "subPath" not in mount  # a subPath mount never sees the Secret's updates
    config_file = Path(env(manifests)["EEN_WEB_CONFIG_FILE"]["value"])
    assert config_file.parent == Path(mount["mountPath"])
    assert pod["metadata"]["annotations"]["prometheus.io/scheme"] == "https"
    (endpoint,) = one(manifests, "ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["scheme"] == "https"
    assert endpoint["basicAuth"]["password"] == {"name": "een-scrape", "key": "password"}

    secret = tmp_path / "secret"  # what the kubelet writes into the mount
    authority = Authority(tmp_path / "ca")
    issued = authority.server()
    secret.mkdir()
    (secret / "tls.crt").write_bytes(issued.cert.read_bytes())
    (secret / "tls.key").write_bytes(issued.key.read_bytes())
    hashed = bcrypt.hashpw(b"scrape-secret", bcrypt.gensalt(4)).decode()
    (secret / config_file.name).write_text(
        "tls_server_config: {cert_file: tls.crt, key_file: tls.key}\n"
        f"basic_auth_users: {{prometheus: '{hashed}'}}\n"
        "auth_excluded_paths: [/healthz, /readyz]\n"
    )
    store = StateStore()
    server = WebServer(
        "127.0.0.1",
        0,
        store,
        Exposition(store, lambda: b""),
        WebConfigFile(secret / config_file.name, PATHS),
    )
    server.start()
    try:
        base = f"https://localhost:{server.address[1]}"
        ca = str(authority.cert)
        for probe in (exporter["livenessProbe"], exporter["readinessProbe"]):
            get = probe["httpGet"]
            assert get["scheme"] == "HTTPS"
            # The kubelet sends no credentials.
            answer = requests.get(base + get["path"], verify=ca, timeout=5)
            assert answer.status_code in (200, 503), get["path"]  # not 401
        metrics = base + "/metrics"
        assert requests.get(metrics, verify=ca, timeout=5).status_code == 401
        login = ("prometheus", "scrape-secret")
        assert requests.get(metrics, auth=login, verify=ca, timeout=5).ok
    finally:
        server.stop()


def test_resources_request_memory_and_leave_cpu_unthrottled() -> None:
    resources = container(rendered(CHART / "ci" / "defaults-values.yaml"))["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert set(resources["limits"]) == {"memory"}


def test_settings_become_the_exporters_environment_variables() -> None:
    variables = env(rendered(CHART / "ci" / "three-shards-values.yaml"))
    assert variables["EEN_ACCOUNTS_EXCLUDE"]["value"] == "00001234"
    assert variables["EEN_LOG_FORMAT"]["value"] == "json"
    assert variables["EEN_URL"]["value"] == "https://login.eagleeyenetworks.com"
    assert "EEN_ACCOUNTS" not in variables  # empty = the exporter's default


def test_network_policy_admits_scrapes_and_lets_out_only_dns_and_https() -> None:
    manifests = rendered(CHART / "ci" / "network-policy-values.yaml")
    policy = one(manifests, "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert ingress["from"][0]["namespaceSelector"]
    ports = sorted((p["port"], p["protocol"]) for rule in policy["egress"] for p in rule["ports"])
    assert ports == [(53, "TCP"), (53, "UDP"), (443, "TCP")]
    assert not objects(rendered(CHART / "ci" / "defaults-values.yaml"), "NetworkPolicy")


def test_chart_app_version_is_the_exporters_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == __version__
    manifests = rendered(CHART / "ci" / "defaults-values.yaml")
    assert container(manifests)["image"] == f"een-exporter:{__version__}"
