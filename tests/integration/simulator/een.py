"""A bare EEN v1 client for the simulator tests: requests for REST, websocket-client for streams."""

from __future__ import annotations

import json
from typing import Any

import requests
import websocket

from exporter.simulator import Simulator

USERNAME, PASSWORD = "demo@example.com", "demo"
TIMEOUT = 10.0
CAMERA, BRIDGE = "camera", "bridge"


def authenticate(sim: Simulator, http: requests.Session | None = None) -> str:
    client = http or requests.Session()
    credentials = {"username": USERNAME, "password": PASSWORD}
    response = client.post(f"{sim.url}/g/aaa/authenticate", json=credentials, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def login(sim: Simulator, account_id: str | None = None) -> requests.Session:
    """A requests session holding a fresh auth_key cookie, switched into `account_id`."""
    http = requests.Session()
    token = authenticate(sim, http)
    response = http.post(f"{sim.url}/g/aaa/authorize", json={"token": token}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    if account_id is not None:
        switched = http.post(
            f"{sim.url}/g/aaa/switch_account", json={"account_id": account_id}, timeout=TIMEOUT
        )
        assert switched.status_code == 200, switched.text
    return http


def auth_key(http: requests.Session) -> str:
    return str(http.cookies["auth_key"])


def get(sim: Simulator, http: requests.Session, path: str, **params: str) -> requests.Response:
    return http.get(f"{sim.url}{path}", params=params, timeout=TIMEOUT)


def sub_accounts(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The accounts that hold devices (the dealer holds none)."""
    return [account for account in state["accounts"] if account["devices"]]


def esns(account: dict[str, Any], device_type: str | None = None) -> list[str]:
    return [d["id"] for d in account["devices"] if device_type in (None, d["type"])]


def open_stream(sim: Simulator, http: requests.Session, account_id: str) -> websocket.WebSocket:
    return websocket.create_connection(
        f"{sim.ws_url}/api/v2/Device/{account_id}/Events",
        cookie=f"auth_key={auth_key(http)}",
        timeout=TIMEOUT,
    )


def subscribe(ws: websocket.WebSocket, esns: list[str]) -> None:
    ws.send(json.dumps({"cameras": {esn: {"resource": ["status"]} for esn in esns}}))


def receive(ws: websocket.WebSocket) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(ws.recv())
    return message


def snapshot(ws: websocket.WebSocket, esns: list[str]) -> dict[str, Any]:
    """Read messages until each of `esns` had its entry; return the merged data."""
    data: dict[str, Any] = {}
    while not set(esns) <= data.keys():
        message = receive(ws)
        assert message["status_code"] == 200, message
        data.update(message["data"])
    return data


def subscribed_stream(
    sim: Simulator, account: dict[str, Any]
) -> tuple[requests.Session, websocket.WebSocket]:
    """Log in, switch into `account`, open its stream and consume the full snapshot."""
    http = login(sim, account["id"])
    ws = open_stream(sim, http, account["id"])
    subscribe(ws, esns(account))
    snapshot(ws, esns(account))
    return http, ws
