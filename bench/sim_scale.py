"""How the simulator copes with a large world: build time, N concurrent streams, memory.

Runs the simulator in-process on an ephemeral loopback port and drives it with a simple
client: one login + switch_account per account (requests, a few threads), then one poll stream
per account (websockets asyncio client) subscribed to all of that account's devices, waiting
for the full snapshot; then one status change per streamed account and the time until every
stream has seen its change.

    .venv/bin/python bench/sim_scale.py                 # 1,000 accounts x 50 cameras
    .venv/bin/python bench/sim_scale.py --accounts 100 --streams 100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from websockets.asyncio.client import ClientConnection, connect

from exporter.simulator import Simulator, WorldSpec
from exporter.simulator.client import SimulatorControl
from exporter.simulator.readings import Readings, Snapshot
from exporter.simulator.world import Status, build_world

LOGIN_THREADS = 8


def report(name: str, value: str) -> None:
    print(f"  {name:<56} {value:>10}", flush=True)


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def login(url: str, account_id: str) -> str:
    """A fresh session switched into `account_id`; returns its auth_key."""
    with requests.Session() as http:
        credentials = {"username": "demo@example.com", "password": "demo"}
        token = http.post(f"{url}/g/aaa/authenticate", json=credentials, timeout=30)
        token.raise_for_status()
        authorized = http.post(f"{url}/g/aaa/authorize", json=token.json(), timeout=30)
        authorized.raise_for_status()
        switched = http.post(
            f"{url}/g/aaa/switch_account", json={"account_id": account_id}, timeout=30
        )
        switched.raise_for_status()
        return str(http.cookies["auth_key"])


async def open_stream(ws_url: str, account_id: str, key: str, esns: list[str]) -> ClientConnection:
    """Open a stream, subscribe every ESN and wait until each one's snapshot arrived."""
    socket = await connect(
        f"{ws_url}/api/v2/Device/{account_id}/Events",
        additional_headers={"Cookie": f"auth_key={key}"},
        max_size=None,
        open_timeout=60,
    )
    await socket.send(json.dumps({"cameras": {esn: {"resource": ["status"]} for esn in esns}}))
    missing = set(esns)
    while missing:
        message = json.loads(await socket.recv())
        missing.difference_update(message["data"])
    return socket


async def await_change(socket: ClientConnection, esn: str, status: int) -> None:
    while True:
        message = json.loads(await socket.recv())
        if message["data"].get(esn, {}).get("status") == status:
            return


def changed_camera(account: dict[str, Any]) -> tuple[str, int]:
    """The account's first camera and a status different from its current one."""
    camera = next(d for d in account["devices"] if d["type"] == "camera")
    status = Status.ONLINE if camera["status"] == Status.RECORDING else Status.RECORDING
    return camera["id"], int(status)


async def run_streams(sim: Simulator, accounts: list[dict[str, Any]], keys: list[str]) -> None:
    started = time.perf_counter()
    sockets = await asyncio.gather(
        *(
            open_stream(sim.ws_url, account["id"], key, [d["id"] for d in account["devices"]])
            for account, key in zip(accounts, keys, strict=True)
        )
    )
    report(
        f"open + subscribe + full snapshot, {len(sockets)} streams",
        f"{time.perf_counter() - started:.2f} s",
    )
    with SimulatorControl(sim.url) as control:
        streams = sum(account["streams"] for account in control.state()["accounts"])
        report("streams open according to /_sim/state", str(streams))
        changes = [changed_camera(account) for account in accounts]
        waiters = [
            asyncio.create_task(await_change(socket, esn, status))
            for socket, (esn, status) in zip(sockets, changes, strict=True)
        ]
        started = time.perf_counter()
        for esn, status in changes:
            await asyncio.to_thread(control.set_status, esn, status)
        await asyncio.gather(*waiters)
    report(
        f"{len(changes)} status changes (one control call each), all seen",
        f"{time.perf_counter() - started:.2f} s",
    )
    report("process RSS with streams open (sim + client)", f"{rss_mib():.0f} MiB")
    await asyncio.gather(*(socket.close() for socket in sockets))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--bridges", type=int, default=2)
    parser.add_argument("--cameras", type=int, default=50)
    parser.add_argument("--streams", type=int, default=1000, help="<= --accounts")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--snapshot",
        choices=[m.value for m in Snapshot],
        default=Snapshot.PER_CAMERA.value,
        help="the snapshot reading (default per-camera; figures before issue 14 were batched)",
    )
    args = parser.parse_args()
    spec = WorldSpec(args.accounts, args.bridges, args.cameras, args.seed)
    print(
        f"simulator scale: {args.accounts} accounts x ({args.bridges} bridges + "
        f"{args.cameras} cameras), {args.streams} streams"
    )
    report("process RSS at start", f"{rss_mib():.0f} MiB")
    started = time.perf_counter()
    build_world(spec)
    report("build_world", f"{time.perf_counter() - started:.2f} s")

    started = time.perf_counter()
    with Simulator(spec, readings=Readings(snapshot=Snapshot(args.snapshot))) as sim:
        report("Simulator.start() (world + listen)", f"{time.perf_counter() - started:.2f} s")
        report("process RSS with the world built", f"{rss_mib():.0f} MiB")
        with SimulatorControl(sim.url) as control:
            started = time.perf_counter()
            accounts = control.state()["accounts"]
            report("GET /_sim/state", f"{time.perf_counter() - started:.2f} s")
        customers = [account for account in accounts if account["devices"]][: args.streams]
        started = time.perf_counter()
        with ThreadPoolExecutor(LOGIN_THREADS, thread_name_prefix="bench-login") as pool:
            keys = list(pool.map(lambda account: login(sim.url, account["id"]), customers))
        report(
            f"{len(keys)} logins (authenticate + authorize + switch)",
            f"{time.perf_counter() - started:.2f} s",
        )
        asyncio.run(run_streams(sim, customers, keys))
        started = time.perf_counter()
    report("Simulator.stop()", f"{time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
