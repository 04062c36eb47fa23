"""A small Kubernetes API client over requests: enough for the cluster tests, no more."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

Manifest = dict[str, Any]

# kind -> (API prefix, resource, namespaced) for every kind the chart and the tests send.
RESOURCES: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("/api/v1", "namespaces", False),
    "Pod": ("/api/v1", "pods", True),
    "Secret": ("/api/v1", "secrets", True),
    "Service": ("/api/v1", "services", True),
    "ServiceAccount": ("/api/v1", "serviceaccounts", True),
    "Endpoints": ("/api/v1", "endpoints", True),
    "Node": ("/api/v1", "nodes", False),
    "Event": ("/api/v1", "events", True),
    "StatefulSet": ("/apis/apps/v1", "statefulsets", True),
    "NetworkPolicy": ("/apis/networking.k8s.io/v1", "networkpolicies", True),
    "EndpointSlice": ("/apis/discovery.k8s.io/v1", "endpointslices", True),
    "CustomResourceDefinition": (
        "/apis/apiextensions.k8s.io/v1",
        "customresourcedefinitions",
        False,
    ),
    "ServiceMonitor": ("/apis/monitoring.coreos.com/v1", "servicemonitors", True),
    "PrometheusRule": ("/apis/monitoring.coreos.com/v1", "prometheusrules", True),
}


class ApiError(AssertionError):
    def __init__(self, response: requests.Response) -> None:
        self.status = response.status_code
        try:
            self.body: Manifest = response.json()
        except ValueError:
            self.body = {"message": response.text}
        super().__init__(f"{response.request.method} {response.url}: {self.status} {self.message}")

    @property
    def message(self) -> str:
        return str(self.body.get("message", ""))


@dataclass
class Api:
    server: str
    token: str
    ca: Path

    def __post_init__(self) -> None:
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"Bearer {self.token}"
        # Passed with each request: a session's `verify` loses to REQUESTS_CA_BUNDLE.
        self._verify = str(self.ca)

    def close(self) -> None:
        self._session.close()

    def path(self, kind: str, namespace: str | None = None, name: str | None = None) -> str:
        prefix, resource, namespaced = RESOURCES[kind]
        path = prefix
        if namespaced and namespace:
            path += f"/namespaces/{namespace}"
        path += f"/{resource}"
        return f"{path}/{name}" if name else path

    def request(self, method: str, path: str, **kwargs: Any) -> Manifest:
        response = self._session.request(
            method, self.server + path, timeout=30, verify=self._verify, **kwargs
        )
        if not response.ok:
            raise ApiError(response)
        body: Manifest = response.json() if response.content else {}
        return body

    def raw(self, path: str) -> requests.Response:
        return self._session.get(self.server + path, timeout=30, verify=self._verify)

    def get(self, kind: str, namespace: str | None, name: str) -> Manifest:
        return self.request("GET", self.path(kind, namespace, name))

    def list(self, kind: str, namespace: str | None = None, selector: str = "") -> list[Manifest]:
        params = {"labelSelector": selector} if selector else {}
        items: list[Manifest] = self.request("GET", self.path(kind, namespace), params=params)[
            "items"
        ]
        return items

    def create(self, manifest: Manifest, *, dry_run: bool = False) -> Manifest:
        namespace = manifest.get("metadata", {}).get("namespace")
        params = {"dryRun": "All"} if dry_run else {}
        return self.request(
            "POST", self.path(manifest["kind"], namespace), json=manifest, params=params
        )

    def delete(self, kind: str, namespace: str | None, name: str, grace: int | None = None) -> None:
        body = {} if grace is None else {"gracePeriodSeconds": grace}
        self.request("DELETE", self.path(kind, namespace, name), data=json.dumps(body))

    def exists(self, kind: str, namespace: str | None, name: str) -> bool:
        try:
            self.get(kind, namespace, name)
        except ApiError as error:
            if error.status == 404:
                return False
            raise
        return True
