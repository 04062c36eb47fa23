"""helm and the Prometheus Operator's CRD schemas, as .ci/k8s-tools.sh leaves them.

Both come from the tools cache (EEN_TOOLS_CACHE, default ~/.cache/een-exporter): helm from
PATH or the cache's bin/, the CRDs from the cache. Missing, they skip the test with the
command that provides them; with EEN_TEST_REQUIRE_TOOLS=1 (CI) they fail it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.support import REQUIRE_TOOLS

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "een-exporter"
INSTALL_SCRIPT = REPO / ".ci" / "k8s-tools.sh"
HINT = "run `bash .ci/k8s-tools.sh` (builds it with Go, cached)"
RELEASE, NAMESPACE = "een", "monitoring"
# The oldest and the newest Kubernetes whose schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.25", "1.37")
CRD_FILES = {
    "ServiceMonitor": "monitoring.coreos.com_servicemonitors.yaml",
    "PrometheusRule": "monitoring.coreos.com_prometheusrules.yaml",
}

Manifest = dict[str, Any]


def script_setting(script: Path, name: str) -> str:
    """A `NAME=value` line's value in one of .ci's scripts (so the tests pin what CI built)."""
    match = re.search(rf"^{name}=(\S+)$", script.read_text(), re.MULTILINE)
    assert match, f"{name} not found in {script}"
    return match.group(1)


OPERATOR_VERSION = script_setting(INSTALL_SCRIPT, "OPERATOR_VERSION")
HELM_VERSION = script_setting(INSTALL_SCRIPT, "HELM_VERSION")


def tools_cache() -> Path:
    configured = os.environ.get("EEN_TOOLS_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "een-exporter"


def _missing(what: str) -> None:
    message = f"{what} is not available ({HINT})"
    if REQUIRE_TOOLS:
        pytest.fail(f"{message}; EEN_TEST_REQUIRE_TOOLS=1 forbids skipping")
    pytest.skip(message)


def helm() -> str:
    found = shutil.which("helm") or shutil.which("helm", path=str(tools_cache() / "bin"))
    if not found:
        _missing("helm")
    assert found is not None
    return found


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [helm(), *args], capture_output=True, text=True, timeout=60, check=False, cwd=REPO
    )


@cache
def render(*args: str) -> tuple[Manifest, ...]:
    """`helm template` of the chart with these extra arguments; the objects it renders."""
    result = run_helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args)
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def objects(manifests: tuple[Manifest, ...], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: tuple[Manifest, ...], kind: str) -> Manifest:
    found = objects(manifests, kind)
    assert len(found) == 1, f"{len(found)} {kind} objects"
    return found[0]


# --- validation -----------------------------------------------------------------------------


def validate_kubernetes(manifest: Manifest) -> None:
    """Kubernetes' own schemas, strict (unknown fields are errors), for every version."""
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(manifest, version, strict=True)


@cache
def crd_schema(kind: str) -> dict[str, Any]:
    path = tools_cache() / "crds" / f"prometheus-operator-{OPERATOR_VERSION}" / CRD_FILES[kind]
    if not path.is_file():
        _missing(f"the Prometheus Operator {OPERATOR_VERSION} CRD for {kind}")
    crd = yaml.safe_load(path.read_text())
    assert crd["spec"]["names"]["kind"] == kind
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema: dict[str, Any] = _strict(version["schema"]["openAPIV3Schema"])
    return schema


def _strict(schema: Any) -> Any:
    """An OpenAPI v3 CRD schema as JSON Schema that, like `kubectl --validate=strict`,
    rejects unknown fields (the API server would silently drop them) and honours nullable."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: _strict(value) for key, value in schema.items()}
    if (
        "properties" in converted
        and "additionalProperties" not in converted
        and not converted.get("x-kubernetes-preserve-unknown-fields")
    ):
        converted["additionalProperties"] = False
    if converted.pop("nullable", False) and "type" in converted:
        converted["type"] = [converted["type"], "null"]
    return converted


def validate_custom_resource(manifest: Manifest) -> None:
    assert manifest["apiVersion"] == "monitoring.coreos.com/v1"
    jsonschema.Draft4Validator(crd_schema(manifest["kind"])).validate(manifest)


def validate(manifest: Manifest) -> None:
    if manifest["kind"] in CRD_FILES:
        validate_custom_resource(manifest)
    else:
        validate_kubernetes(manifest)
