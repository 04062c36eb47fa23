"""What rules/availability.yml costs a real Prometheus at 50,000 cameras.

    python -m bench.availability_rules [--cameras 50000] [--accounts 1000] [--minutes 12]
                                       [--release prometheus3|prometheus2]

A synthetic target on 127.0.0.1 serves, from memory, what the exporter serves for the rules
to read (een_camera_status with v1's five statuses per camera, een_stream_up and
een_account_info per account: 2 % of the cameras offline, 1 % switched off). A real
Prometheus (the release's binary, as the tests find it) scrapes it every 15 s (prometheus.yml)
with the shipped rules loaded, for `--minutes`; the script reads the availability group's
evaluation time after each evaluation from /api/v1/rules (Prometheus' own figure, also
`prometheus_rule_group_last_duration_seconds`), and at the end each rule's, the missed
iterations and Prometheus' CPU and memory. Prometheus runs on an ephemeral loopback port and
is stopped by its PID.

The rolling windows fill as the run goes: after 12 minutes a 1 h window holds 12 of its 60
samples, so the script also prints the per-camera 1 h rule's cost per sample read, and its
cost with a full hour, which grows with the samples it reads (the others read per-account
series: 1,000 of them, not 50,000).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.e2e import daemons
from tests.stack.tools import RELEASES, REPO

RULES = REPO / "rules" / "availability.yml"
GROUP = "een-availability"
STATUSES = ("online", "offline", "internet_offline", "password_needed", "off")


def exposition(cameras: int, accounts: int) -> bytes:
    lines = ["# TYPE een_camera_status gauge\n"]
    for n in range(cameras):
        account = f"{n % accounts:08x}"
        status = "off" if n % 100 == 1 else "offline" if n % 50 == 7 else "online"
        for name in STATUSES:
            lines.append(
                f'een_camera_status{{account_id="{account}",camera_id="{n:08x}",'
                f'status="{name}"}} {int(name == status)}\n'
            )
    lines.append("# TYPE een_stream_up gauge\n")
    lines += [f'een_stream_up{{account_id="{a:08x}"}} 1\n' for a in range(accounts)]
    lines.append("# TYPE een_account_info gauge\n")
    lines += [
        f'een_account_info{{account_id="{a:08x}",name="Account {a}"}} 1\n' for a in range(accounts)
    ]
    return "".join(lines).encode()


def serve(body: bytes) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def group(url: str) -> dict[str, Any]:
    data = requests.get(f"{url}/api/v1/rules", params={"type": "record"}, timeout=30).json()
    (found,) = [g for g in data["data"]["groups"] if g["name"] == GROUP]
    return dict(found)


def metric(url: str, name: str, match: str = "") -> float:
    for line in requests.get(f"{url}/metrics", timeout=30).text.splitlines():
        if line.startswith(name) and match in line:
            return float(line.rsplit(" ", 1)[1])
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=50_000)
    parser.add_argument("--accounts", type=int, default=1_000)
    parser.add_argument("--minutes", type=float, default=12.0)
    parser.add_argument("--release", default="prometheus3", choices=[r.name for r in RELEASES])
    args = parser.parse_args()
    release = next(r for r in RELEASES if r.name == args.release)
    body = exposition(args.cameras, args.accounts)
    server = serve(body)
    home = Path(tempfile.mkdtemp(prefix="bench-availability-"))
    target = f"127.0.0.1:{server.server_address[1]}"
    config = {
        "global": {"scrape_interval": "15s", "scrape_timeout": "10s", "evaluation_interval": "15s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [{"job_name": "een", "static_configs": [{"targets": [target]}]}],
    }
    (home / "prometheus.yml").write_text(yaml.safe_dump(config))
    command = [
        _binary(release),
        f"--config.file={home / 'prometheus.yml'}",
        f"--storage.tsdb.path={home / 'data'}",
        "--web.listen-address=127.0.0.1:0",
    ]
    print(f"{args.cameras} cameras in {args.accounts} accounts, {len(body) / 1e6:.1f} MB a scrape, "
          f"{release.name}, {args.minutes:g} minutes")  # fmt: skip
    prometheus = daemons.start("Prometheus", command, home / "prometheus.log")
    try:
        durations: list[float] = []
        last = ""
        deadline = time.monotonic() + args.minutes * 60
        while time.monotonic() < deadline:
            found = group(prometheus.url)
            if found.get("lastEvaluation") != last and found.get("evaluationTime"):
                last = found["lastEvaluation"]
                durations.append(float(found["evaluationTime"]))
                print(f"  evaluation {len(durations):3d}: {durations[-1]:.3f} s", flush=True)
            time.sleep(5)  # a bench's pace, not a test's synchronisation
        found = group(prometheus.url)
        rules = sorted(found["rules"], key=lambda r: -float(r["evaluationTime"]))
        pid = prometheus.process.pid
        rss = int(Path(f"/proc/{pid}/status").read_text().split("VmRSS:")[1].split()[0]) / 1024
        cpu = metric(prometheus.url, "process_cpu_seconds_total")
        missed = metric(prometheus.url, "prometheus_rule_group_iterations_missed_total", GROUP)
        scrape = requests.get(
            f"{prometheus.url}/api/v1/query",
            params={"query": 'scrape_duration_seconds{job="een"}'},
            timeout=30,
        ).json()["data"]["result"][0]["value"][1]
    finally:
        prometheus.stop()
        server.shutdown()
        shutil.rmtree(home, ignore_errors=True)
    steady = durations[2:] or durations
    print(f"group {GROUP}: {len(durations)} evaluations, median {_median(steady):.3f} s, "
          f"max {max(steady):.3f} s (first two left out); missed {missed:.0f}")  # fmt: skip
    print("slowest rules at the end:")
    for rule in rules[:8]:
        print(f"  {float(rule['evaluationTime']):7.3f} s  {rule['name']}")
    window = next(r for r in rules if r["name"] == "camera:een_camera_status:down_minutes_1h")
    filled = float(min(60, len(durations)))
    full = float(window["evaluationTime"]) * 60 / filled
    print(f"camera:een_camera_status:down_minutes_1h read {filled:.0f} of 60 samples a camera: "
          f"about {full:.3f} s with a full hour")  # fmt: skip
    print(f"Prometheus: {cpu:.1f} s CPU in {args.minutes:g} min, RSS {rss:.0f} MiB, "
          f"scrape {float(scrape):.2f} s; {os.cpu_count()} CPUs")  # fmt: skip


def _binary(release: Any) -> str:
    path = release.prometheus()
    return str(path)


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


if __name__ == "__main__":
    main()
