"""The few calls of Prometheus' HTTP API (v1) the report needs, with one-line errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

# A range query may return at most 11,000 points per series.
MAX_POINTS = 10_000


class ReportError(Exception):
    """One line for the user: what went wrong and what to do."""


Labels = dict[str, str]
Points = list[tuple[int, float]]


@dataclass
class PrometheusAPI:
    url: str  # no trailing slash
    timeout: float = 30.0

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        try:
            response = requests.get(
                f"{self.url}/api/v1/{path}", params=params, timeout=self.timeout
            )
        except requests.Timeout:
            raise ReportError(
                f"Prometheus at {self.url} did not answer within {self.timeout:g} s"
            ) from None
        except requests.RequestException as exc:
            reason = type(exc).__name__
            raise ReportError(f"cannot reach Prometheus at {self.url} ({reason})") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "status" not in body:
            raise ReportError(
                f"{self.url} does not answer like Prometheus (HTTP {response.status_code} "
                f"on /api/v1/{path})"
            )
        if body["status"] != "success":
            error = " ".join(str(body.get("error", "")).split())[:300]
            raise ReportError(f"Prometheus at {self.url} refused a query: {error}")
        return body["data"]

    def query_range(
        self, expr: str, start: int, end: int, step: int
    ) -> list[tuple[Labels, Points]]:
        """Every series of a range query from start to end (inclusive), in chunks of at most
        MAX_POINTS steps; each series' points in time order."""
        series: dict[tuple[tuple[str, str], ...], Points] = {}
        first = start
        while first <= end:
            last = min(end, first + (MAX_POINTS - 1) * step)
            data = self._get(
                "query_range", {"query": expr, "start": first, "end": last, "step": step}
            )
            for found in data["result"]:
                key = tuple(sorted(found["metric"].items()))
                series.setdefault(key, []).extend(
                    (int(float(stamp)), float(value)) for stamp, value in found["values"]
                )
            first = last + step
        return [(dict(key), points) for key, points in series.items()]

    def series(self, match: str, start: int, end: int) -> list[Labels]:
        """Label sets of the series matching `match` between start and end (no samples read)."""
        found: list[Labels] = self._get("series", {"match[]": match, "start": start, "end": end})
        return found

    def recording_rules(self) -> set[str] | None:
        """Names of the loaded recording rules; None when this server has no rules API."""
        try:
            data = self._get("rules", {"type": "record"})
        except ReportError:
            return None
        return {rule["name"] for group in data["groups"] for rule in group["rules"]}
