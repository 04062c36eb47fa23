"""Thin readers of the Prometheus (v1) and Alertmanager (v2) HTTP APIs."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

TIMEOUT = 10.0

Labels = Mapping[str, str]


def has_labels(labels: Labels, wanted: Labels) -> bool:
    return all(labels.get(name) == value for name, value in wanted.items())


def finite_values(series: list[dict[str, Any]]) -> list[float]:
    """Every finite sample value of an instant vector or a range matrix."""
    values = [float(s["value"][1]) for s in series if "value" in s]
    values += [float(v) for s in series for _, v in s.get("values", [])]
    return [v for v in values if math.isfinite(v)]


@dataclass
class Prometheus:
    url: str
    config_file: Path

    def _get(self, path: str, **params: Any) -> Any:
        response = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=TIMEOUT)
        body = response.json()
        assert body["status"] == "success", f"{path} {params}: {body}"
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query; its vector's series (`metric`, `value`)."""
        data = self._get("query", query=expr)
        assert data["resultType"] == "vector", f"{expr} gives a {data['resultType']}"
        result: list[dict[str, Any]] = data["result"]
        return result

    def query_range(self, expr: str, seconds: float, step: float) -> list[dict[str, Any]]:
        """A range query over the last `seconds`; its matrix's series (`metric`, `values`)."""
        end = time.time()
        data = self._get("query_range", query=expr, start=end - seconds, end=end, step=step)
        result: list[dict[str, Any]] = data["result"]
        return result

    def label_values(self, label: str, match: str, seconds: float) -> list[str]:
        end = time.time()
        values: list[str] = self._get(
            f"label/{label}/values", **{"match[]": match}, start=end - seconds, end=end
        )
        return values

    def alerts(self, alertname: str, **labels: str) -> list[dict[str, Any]]:
        """Pending and firing alerts of that name whose labels include `labels`."""
        wanted = {"alertname": alertname, **labels}
        return [a for a in self._get("alerts")["alerts"] if has_labels(a["labels"], wanted)]

    def rules(self) -> list[dict[str, Any]]:
        return [rule for group in self._get("rules")["groups"] for rule in group["rules"]]

    def reload(self) -> None:
        response = requests.post(f"{self.url}/-/reload", timeout=TIMEOUT)
        assert response.status_code == 200, response.text


@dataclass
class Alertmanager:
    url: str
    config_file: Path

    def alerts(self, alertname: str, **labels: str) -> list[dict[str, Any]]:
        """Every alert it holds (active, inhibited, silenced) of that name with those labels."""
        response = requests.get(f"{self.url}/api/v2/alerts", timeout=TIMEOUT)
        response.raise_for_status()
        wanted = {"alertname": alertname, **labels}
        return [a for a in response.json() if has_labels(a["labels"], wanted)]
