"""A bare EEN v3 client for the simulator tests: requests for REST, a thread reading SSE."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from dataclasses import dataclass
from typing import Any

import requests

from exporter.simulator import Simulator

CLIENT = ("demo-client", "demo-secret")
REDIRECT_URI = "http://127.0.0.1:3333"
TIMEOUT = 10.0
STATUS_EVENT = "een.deviceCloudStatusUpdateEvent.v1"


def code(sim: Simulator, redirect_uri: str | None = REDIRECT_URI) -> str:
    body = {} if redirect_uri is None else {"redirect_uri": redirect_uri}
    response = requests.post(f"{sim.url}/_sim/v3/code", json=body, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return str(response.json()["code"])


def token_request(
    sim: Simulator,
    form: dict[str, str] | None = None,
    *,
    auth: tuple[str, str] = CLIENT,
    **fields: str,
) -> requests.Response:
    data = {**(form or {}), **fields}
    return requests.post(f"{sim.url}/oauth2/token", auth=auth, data=data, timeout=TIMEOUT)


def login(sim: Simulator) -> dict[str, Any]:
    """The token answer for a fresh consent of the configured user."""
    response = token_request(
        sim,
        grant_type="authorization_code",
        scope="vms.all",
        code=code(sim),
        redirect_uri=REDIRECT_URI,
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def refresh(sim: Simulator, refresh_token: str) -> requests.Response:
    return token_request(
        sim, grant_type="refresh_token", scope="vms.all", refresh_token=refresh_token
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


def get(sim: Simulator, token: str, path: str, **params: Any) -> requests.Response:
    return requests.get(
        f"{sim.url}/api/v3.0/{path}", headers=bearer(token), params=params, timeout=TIMEOUT
    )


def end_user_token(sim: Simulator, reseller_token: str, account_id: str) -> str:
    response = requests.post(
        f"{sim.url}/api/v3.0/authorizationTokens",
        headers=bearer(reseller_token),
        json={
            "type": "reseller",
            "targetType": "account",
            "targetId": account_id,
            "scopes": ["vms.all"],
        },
        timeout=TIMEOUT,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["accessToken"])


def sub_account_token(sim: Simulator, index: int = 1) -> tuple[str, str]:
    """(account id, access token) of the world's `index`-th account, entered as a reseller."""
    reseller = login(sim)["access_token"]
    account_id = str(get(sim, reseller, "accounts").json()["results"][index]["id"])
    return account_id, end_user_token(sim, reseller, account_id)


def all_pages(sim: Simulator, token: str, path: str, **params: Any) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    page_token = None
    while True:
        extra: dict[str, str] = {} if page_token is None else {"pageToken": page_token}
        response = get(sim, token, path, **params, **extra)
        assert response.status_code == 200, response.text
        body = response.json()
        results += body["results"]
        page_token = body["nextPageToken"]
        if not page_token:
            return results


def subscribe(
    sim: Simulator, token: str, actors: list[str], types: list[str] | None = None
) -> dict[str, Any]:
    """One filter per actor, as EEN's guide asks (een-api-v3.md §5.2)."""
    wanted = [{"id": t} for t in types or [STATUS_EVENT]]
    filters = [{"actors": [actor], "types": wanted} for actor in actors]
    response = requests.post(
        f"{sim.url}/api/v3.0/eventSubscriptions",
        headers=bearer(token),
        json={"deliveryConfig": {"type": "serverSentEvents.v1"}, "filters": filters},
        timeout=TIMEOUT,
    )
    assert response.status_code == 201, response.text
    subscription: dict[str, Any] = response.json()
    return subscription


def v3_state(sim: Simulator) -> dict[str, Any]:
    state: dict[str, Any] = requests.get(f"{sim.url}/_sim/v3/state", timeout=TIMEOUT).json()
    return state


def control(sim: Simulator, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    response = requests.request(method, f"{sim.url}/_sim/{path}", json=body, timeout=TIMEOUT)
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


@dataclass
class SseFrame:
    comment: str | None = None
    event: dict[str, Any] | None = None


class SseReader:
    """Reads one SSE response on a daemon thread; frames land in `frames`."""

    def __init__(self, url: str, token: str, read_timeout: float = 10.0) -> None:
        self.response = requests.get(
            url,
            headers={"Authorization": f"Bearer {token}", "Accept": "text/event-stream"},
            stream=True,
            timeout=(TIMEOUT, read_timeout),
        )
        self.frames: list[SseFrame] = []
        self.error: BaseException | None = None
        self.finished = threading.Event()
        self._lock = threading.Lock()
        if self.response.status_code == 200:
            thread = threading.Thread(target=self._read, name="test-sse-reader", daemon=True)
            thread.start()
        else:
            self.finished.set()

    def _read(self) -> None:
        data: list[str] = []
        try:
            for raw in self.response.iter_lines():
                line = raw.decode()
                if line.startswith(":"):
                    self._add(SseFrame(comment=line[1:].strip()))
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip())
                elif not line and data:
                    self._add(SseFrame(event=json.loads("\n".join(data))))
                    data = []
        except Exception as exc:  # noqa: BLE001 - kept for the test to inspect
            self.error = exc
        finally:
            self.finished.set()

    def _add(self, frame: SseFrame) -> None:
        with self._lock:
            self.frames.append(frame)

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.event for f in self.frames if f.event is not None]

    def comments(self) -> list[str]:
        with self._lock:
            return [f.comment for f in self.frames if f.comment is not None]

    def close(self) -> None:
        """Hang up; shutting the socket down wakes the reading thread at once."""
        # http.client keeps the socket only in the response's buffered reader here.
        buffered = getattr(getattr(self.response.raw, "_fp", None), "fp", None)
        sock = getattr(getattr(buffered, "raw", None), "_sock", None)
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.response.close()
        self.finished.wait(TIMEOUT)
