"""EEN's published thumbnail listener against the simulator.

The listener is `Listen_for_thumbnails.py` in EEN's examples: mcotton/EE-API-examples
(commit 219aaef1b26d9ba940871eb77ca19a1444290cfc) and its copy in EENCloud/API-Documentation
(`EE-API-examples/Listen_for_thumbnails.py`, commit 88ca7021d4508060e3d8d8be160c2d28c8d430ea).
That repository carries no licence, so it is not copied here. Instead:

- `test_the_listeners_requests` makes the listener's calls one by one, as it makes them (the
  same libraries, headers, bodies and the same way of reading each answer), with the host
  being the simulator's;
- `test_the_published_listener_runs_unmodified` runs the published file itself when
  EEN_THUMBNAIL_LISTENER names a local copy: only its host is changed (and, for the copy
  without local_settings.py, the three empty credential lines are filled in).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import websocket

from exporter.simulator import Simulator, WorldSpec
from exporter.simulator.world import Status
from tests.integration.conftest import MakeSimulator
from tests.support import wait_for

USERNAME, PASSWORD, API_KEY = "demo@example.com", "demo", "thumbnail-listener-key"
THUMBNAIL_LINE = re.compile(
    r"(?P<esn>10[0-9a-f]{6}) has a new thumbna(?:i)?l at (?P<at>\d{14}\.\d{3})"
)
LINES = 12


@pytest.fixture
def customer(make_sim: MakeSimulator) -> Simulator:
    """A plain customer (the listener lists the devices of the user's own account) whose
    cameras send a thumbnail every 0.2 s."""
    return make_sim(
        WorldSpec(accounts=0, bridges=1, cameras=4, seed=5),
        username=USERNAME,
        password=PASSWORD,
        thumbnail_seconds=0.2,
    )


def streaming_cameras(sim: Simulator) -> set[str]:
    state = requests.get(f"{sim.url}/_sim/state", timeout=10).json()
    return {
        d["id"]
        for a in state["accounts"]
        for d in a["devices"]
        if d["type"] == "camera" and d["status"] in (Status.RECORDING, Status.ONLINE)
    }


def test_the_listeners_requests(customer: Simulator) -> None:
    printed: list[str] = []
    session = requests.Session()  # cookies carried between requests, as the listener does
    # Step 1: authenticate, a JSON body in a string, the API key as a lowercase header.
    response = session.request(
        "POST",
        f"{customer.url}/g/aaa/authenticate",
        data=json.dumps({"username": USERNAME, "password": PASSWORD}),
        headers={"content-type": "application/json", "authorization": API_KEY},
        timeout=10,
    )
    assert response.status_code == 200
    token = response.json()["token"]
    # Step 2: authorize; the user object is kept.
    response = session.request(
        "POST",
        f"{customer.url}/g/aaa/authorize",
        data=json.dumps({"token": token}),
        headers={"content-type": "application/json", "authorization": API_KEY},
        timeout=10,
    )
    assert response.status_code == 200
    current_user = response.json()
    # Step 3: the device list, with an empty body; cameras with an account.
    response = session.request(
        "GET",
        f"{customer.url}/g/device/list",
        data="",
        headers={"authorization": API_KEY},
        timeout=10,
    )
    assert response.status_code == 200
    device_list = response.json()
    camera_id_list = [i[1] for i in device_list if (i[3] == "camera" and i[0] is not None)]
    # Step 4: the stream of the user's own account, the key as a cookie, every camera
    # subscribed to the event resource alone with PRTH; then every message is read as
    # data[device]["event"]["PRTH"]["timestamp"], whatever it is.
    auth_key = session.cookies.get_dict()["auth_key"]
    account_id = current_user["owner_account_id"]
    ws = websocket.WebSocket()
    ws.connect(
        f"{customer.ws_url}/api/v2/Device/{account_id}/Events", cookie=f"auth_key={auth_key}"
    )
    register_msg: dict[str, dict[str, object]] = {"cameras": {}}
    for d in camera_id_list:
        register_msg["cameras"][d] = {"resource": ["event"], "event": ["PRTH"]}
    ws.send(json.dumps(register_msg))
    ws.settimeout(10)
    while len(printed) < LINES:
        jdata = json.loads(ws.recv())
        for device_id in jdata["data"]:
            timestamp = jdata["data"][device_id]["event"]["PRTH"]["timestamp"]
            printed.append(f"{device_id} has a new thumbnail at {timestamp}")
    ws.close()

    matches = [THUMBNAIL_LINE.fullmatch(line) for line in printed]
    assert all(matches), printed
    assert {m["esn"] for m in matches if m} == streaming_cameras(customer)


class Listener:
    """The published script in a subprocess; its stdout collected line by line."""

    def __init__(self, script: Path) -> None:
        self.lines: list[str] = []
        self.popen = subprocess.Popen(
            [sys.executable, "-u", script.name],
            cwd=script.parent,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line.rstrip("\n"))

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait()
        self._reader.join(2)


@pytest.fixture
def listeners() -> Iterator[list[Listener]]:
    started: list[Listener] = []
    yield started
    for listener in started:
        listener.stop()


def for_the_simulator(source: str, sim: Simulator) -> str:
    """The script with the simulator as its host (and its empty credentials filled in)."""
    brand = r"\{current_user\['active_brand_subdomain'\]\}\.eagleeyenetworks\.com"
    for scheme, url in (("https", sim.url), ("wss", sim.ws_url)):
        source = re.sub(rf"{scheme}://(?:login\.eagleeyenetworks\.com|{brand})", url, source)
    for name, value in (("username", USERNAME), ("password", PASSWORD), ("api_key", API_KEY)):
        source = source.replace(f'\n{name} = ""\n', f'\n{name} = "{value}"\n', 1)
    return source


@pytest.mark.skipif(
    not os.environ.get("EEN_THUMBNAIL_LISTENER"),
    reason="set EEN_THUMBNAIL_LISTENER to a local copy of EEN's Listen_for_thumbnails.py",
)
def test_the_published_listener_runs_unmodified(
    customer: Simulator, tmp_path: Path, listeners: list[Listener]
) -> None:
    source = Path(os.environ["EEN_THUMBNAIL_LISTENER"]).read_text()
    script = tmp_path / "Listen_for_thumbnails.py"
    script.write_text(for_the_simulator(source, customer))
    (tmp_path / "local_settings.py").write_text(
        f'username = "{USERNAME}"\npassword = "{PASSWORD}"\napi_key = "{API_KEY}"\n'
    )
    listener = Listener(script)
    listeners.append(listener)

    def thumbnails() -> list[re.Match[str]] | None:
        found = [m for line in listener.lines if (m := THUMBNAIL_LINE.fullmatch(line))]
        if listener.popen.poll() is not None:
            raise AssertionError("the listener exited:\n" + "\n".join(listener.lines))
        return found if len(found) >= LINES else None

    found = wait_for(thumbnails, timeout=20, message=f"{LINES} thumbnail lines")
    print("\n".join(listener.lines[: 4 + LINES]))  # shown with pytest -s
    assert listener.lines[:3] == ["Step 1: OK", "Step 2: OK", "Step 3: OK"]
    assert listener.lines[3].startswith("Registering for status events {")
    assert {m["esn"] for m in found} == streaming_cameras(customer)
