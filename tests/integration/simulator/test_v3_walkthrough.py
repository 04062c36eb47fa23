"""The v3 walkthrough: a plain requests script written from docs/een-api-v3.md alone (no
simulator helpers; the consent form is the simulator's stand-in for EEN's login page),
run against the simulator."""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from exporter.simulator import Simulator

CLIENT_ID, CLIENT_SECRET = "demo-client", "demo-secret"
REDIRECT_URI = "http://127.0.0.1:3333"
STATUS_EVENT = "een.deviceCloudStatusUpdateEvent.v1"


def test_walkthrough(sim: Simulator) -> None:
    auth_host = sim.url  # https://auth.eagleeyenetworks.com on the real cloud
    http = requests.Session()

    # §1.3: the person's consent; the redirect carries ?code=.
    authorize = (
        f"{auth_host}/oauth2/authorize?scope=vms.all&client_id={CLIENT_ID}"
        f"&response_type=code&redirect_uri={REDIRECT_URI}"
    )
    assert http.get(authorize, timeout=10).status_code == 200
    consent = http.post(
        f"{auth_host}/oauth2/authorize",
        data={"scope": "vms.all", "client_id": CLIENT_ID, "response_type": "code",
              "redirect_uri": REDIRECT_URI, "username": "demo@example.com",
              "password": "demo", "decision": "allow"},
        allow_redirects=False,
        timeout=10,
    )  # fmt: skip
    code = parse_qs(urlsplit(consent.headers["Location"]).query)["code"][0]

    # §1.4: exchange it; Basic client auth, form body.
    tokens = http.post(
        f"{auth_host}/oauth2/token",
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={"grant_type": "authorization_code", "scope": "vms.all", "code": code,
              "redirect_uri": REDIRECT_URI},
        headers={"Accept": "application/json"},
        timeout=10,
    ).json()  # fmt: skip
    assert tokens["token_type"] == "Bearer"

    # §2: the account's API host (hostname:port when the port is not 443).
    host = tokens["httpsBaseUrl"]
    api = f"http://{host['hostname']}:{host['port']}/api/v3.0"
    headers = {"Authorization": f"Bearer {tokens['access_token']}", "Accept": "application/json"}
    settings = http.get(f"{api}/clientSettings", headers=headers, timeout=10).json()
    assert settings["httpsBaseUrl"] == host

    # §3: a reseller lists its accounts and gets a token for an end-user account.
    accounts = http.get(f"{api}/accounts", headers=headers, timeout=10).json()["results"]
    end_user = next(a for a in accounts if a["type"] == "endUserAccount")
    switched = http.post(
        f"{auth_host}/api/v3.0/authorizationTokens",
        headers=headers,
        json={"type": "reseller", "targetType": "account", "targetId": end_user["id"],
              "scopes": ["vms.all"]},
        timeout=10,
    )  # fmt: skip
    assert switched.status_code == 201
    account_headers = {**headers, "Authorization": f"Bearer {switched.json()['accessToken']}"}

    # §4: every camera with its connectionStatus, page by page until nextPageToken is "".
    cameras: dict[str, str] = {}
    params: dict[str, Any] = {"include": "status", "pageSize": 4}
    while True:
        page = http.get(f"{api}/cameras", headers=account_headers, params=params, timeout=10)
        body = page.json()
        cameras.update({c["id"]: c["status"]["connectionStatus"] for c in body["results"]})
        if not body["nextPageToken"]:
            break
        params["pageToken"] = body["nextPageToken"]
    assert len(cameras) == body["totalSize"]

    # §5.2: one filter per camera for the status event; §5.4: read the SSE stream.
    created = http.post(
        f"{api}/eventSubscriptions",
        headers=account_headers,
        json={"deliveryConfig": {"type": "serverSentEvents.v1"},
              "filters": [{"actors": [f"camera:{c}"], "types": [{"id": STATUS_EVENT}]}
                          for c in cameras]},
        timeout=10,
    ).json()  # fmt: skip
    stream = requests.get(
        created["deliveryConfig"]["sseUrl"],
        headers={"Authorization": account_headers["Authorization"],
                 "Accept": "text/event-stream"},
        stream=True,
        timeout=(10, 10),
    )  # fmt: skip
    assert stream.status_code == 200
    events: list[dict[str, Any]] = []
    got_two = threading.Event()

    def read() -> None:
        for line in stream.iter_lines():
            if line.startswith(b"data:"):
                events.append(json.loads(line[5:]))
                if len(events) == 2:
                    got_two.set()
                    return

    threading.Thread(target=read, daemon=True).start()

    # The simulator's control API turns a camera off; the change arrives as events.
    camera = next(c for c, status in cameras.items() if status != "off")
    requests.put(
        f"{sim.url}/_sim/v3/devices/{camera}/status", json={"connectionStatus": "off"}, timeout=10
    )
    assert got_two.wait(10)
    current = next(e for e in events if e["endTimestamp"] is None)
    assert current["actorId"] == camera
    assert current["data"][0]["newStatus"]["connectionStatus"] == "off"
    stream.close()

    # §1.5: refresh rotates; the old refresh token is dead at once.
    rotated = http.post(
        f"{auth_host}/oauth2/token",
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={"grant_type": "refresh_token", "scope": "vms.all",
              "refresh_token": tokens["refresh_token"]},
        timeout=10,
    )  # fmt: skip
    assert rotated.status_code == 200
    again = http.post(
        f"{auth_host}/oauth2/token",
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        timeout=10,
    )
    assert again.status_code == 401
