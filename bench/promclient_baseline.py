"""The generic path on the same series: prometheus_client's generate_latest.

    python -m bench.promclient_baseline EXPOSITION_FILE [--runs 3]

Parses a captured /metrics body, builds a registry with a Gauge or Counter per family (same
label names and values; the process_/python_ families are left out, since the exporter serves
those from prometheus_client already), then times generate_latest, and gzip.compress of its
output as prometheus_client's HTTP handler does. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.parser import text_fd_to_metric_families

SKIPPED_PREFIXES = ("process_", "python_")


def build_registry(path: Path) -> tuple[CollectorRegistry, int, list[str]]:
    """(registry, series, names of families skipped because of their type)."""
    registry = CollectorRegistry()
    series = 0
    skipped: list[str] = []
    with path.open(encoding="utf-8") as text:
        for family in text_fd_to_metric_families(text):
            if family.name.startswith(SKIPPED_PREFIXES):
                continue
            if family.type not in ("gauge", "counter") or not family.samples:
                skipped.append(family.name)
                continue
            series += _fill(registry, family)
    return registry, series, skipped


def _fill(registry: CollectorRegistry, family: Any) -> int:
    samples = [s for s in family.samples if not s.name.endswith("_created")]
    label_names = list(samples[0].labels)
    kind = Gauge if family.type == "gauge" else Counter
    metric: Any = kind(family.name, family.documentation, label_names, registry=registry)
    for sample in samples:
        child = metric.labels(*sample.labels.values()) if label_names else metric
        if family.type == "gauge":
            child.set(sample.value)
        else:
            child.inc(sample.value)
    return len(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("exposition", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    disable_created_metrics()  # as the exporter does: no _created series

    started = time.perf_counter()
    registry, series, skipped = build_registry(args.exposition)
    build_seconds = time.perf_counter() - started

    render: list[float] = []
    compress: list[float] = []
    body = compressed = b""
    for _ in range(args.runs):
        started = time.perf_counter()
        body = generate_latest(registry)
        render.append(time.perf_counter() - started)
        started = time.perf_counter()
        compressed = gzip.compress(body)
        compress.append(time.perf_counter() - started)
    result = {
        "series": series,
        "skipped_families": skipped,
        "build_seconds": build_seconds,
        "generate_latest_seconds": render,
        "generate_latest_median": statistics.median(render),
        "gzip_seconds": compress,
        "gzip_median": statistics.median(compress),
        "size": len(body),
        "gzip_size": len(compressed),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
