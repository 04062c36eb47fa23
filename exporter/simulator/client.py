"""A thin client of the simulator's control API (/_sim/)."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import requests

TIMEOUT_SECONDS = 30.0


class SimulatorControlError(RuntimeError):
    """The control API refused a call; `status` is its HTTP status."""

    def __init__(self, method: str, path: str, status: int, message: str) -> None:
        super().__init__(f"{method} {path} -> {status}: {message}")
        self.status = status


class SimulatorControl:
    def __init__(self, url: str, timeout: float = TIMEOUT_SECONDS) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._http = requests.Session()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SimulatorControl:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._http.request(
            method, f"{self.url}/_sim/{path}", json=body, timeout=self.timeout
        )
        if response.status_code >= 400:
            try:
                message = str(response.json().get("message", response.text))
            except ValueError:
                message = response.text
            raise SimulatorControlError(method, path, response.status_code, message)
        return response.json() if response.content else None

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "state")
        return result

    def set_churn(self, rate: float, noise: float | None = None) -> None:
        """Random status changes per second; `noise` is the share of those updates that are
        status 0 or invalid-bit words instead (None leaves it as it is)."""
        body: dict[str, float] = {"rate": rate}
        if noise is not None:
            body["noise"] = noise
        self._call("PUT", "churn", body)

    def set_poll(self, **seconds: float) -> None:
        """timeout_seconds (long polling), preview_seconds, thumbnail_seconds (pre, thumb)."""
        self._call("PUT", "poll", seconds)

    def set_event_rates(
        self,
        thumbnail_seconds: float | None = None,
        stream_stats_seconds: float | None = None,
        bridge_boots_per_hour: float | None = None,
    ) -> None:
        """Periodic events from now on (0 stops a kind; None leaves it as it is)."""
        rates = {
            "thumbnail_seconds": thumbnail_seconds,
            "stream_stats_seconds": stream_stats_seconds,
            "bridge_boots_per_hour": bridge_boots_per_hour,
        }
        self._call("PUT", "events", {k: v for k, v in rates.items() if v is not None})

    def set_readings(self, **readings: str | int | float) -> None:
        """Which reading of EEN's ambiguous docs to play from now on: any of snapshot,
        session_loss, foreign_esn, inactive_minutes, activity (docs/simulator.md)."""
        self._call("PUT", "readings", readings)

    def emit_event(self, esn: str, code: str, **fields: Any) -> dict[str, Any]:
        """Push one event (the simulator's fields for the code, updated by `fields`);
        returns {"event": the event object, "streams": how many streams it reached}."""
        result: dict[str, Any] = self._call(
            "POST", f"devices/{esn}/events", {"type": code, **fields}
        )
        return result

    def freeze_previews(self, esn: str, frozen: bool = True) -> None:
        self._call("PUT", f"devices/{esn}/previews", {"frozen": frozen})

    def set_stream_loss(self, esn: str, loss: float) -> None:
        self._call("PUT", f"devices/{esn}/stream", {"loss": loss})

    def set_status(self, esn: str, status: int) -> None:
        self._call("PUT", f"devices/{esn}/status", {"status": status})

    def add_device(
        self,
        account_id: str,
        type: str,  # the control API's field name (shadows the builtin here only)
        name: str,
        bridge_id: str | None = None,
        status: int | None = None,
    ) -> str:
        body: dict[str, Any] = {"account_id": account_id, "type": type, "name": name}
        if bridge_id is not None:
            body["bridge_id"] = bridge_id
        if status is not None:
            body["status"] = status
        return str(self._call("POST", "devices", body)["id"])

    def rename_device(self, esn: str, name: str) -> None:
        self._call("PATCH", f"devices/{esn}", {"name": name})

    def move_device(self, esn: str, account_id: str) -> None:
        """Transfer a camera to another account (detached from its bridge)."""
        self._call("POST", f"devices/{esn}/move", {"account_id": account_id})

    def delete_device(self, esn: str) -> None:
        self._call("DELETE", f"devices/{esn}")

    def add_account(self, name: str) -> str:
        return str(self._call("POST", "accounts", {"name": name})["id"])

    def rename_account(self, account_id: str, name: str) -> None:
        self._call("PATCH", f"accounts/{account_id}", {"name": name})

    def delete_account(self, account_id: str) -> None:
        self._call("DELETE", f"accounts/{account_id}")

    def drop_streams(self, account_id: str | None = None) -> int:
        """Cut the open streams, of one account only when `account_id` is given."""
        return int(self._call("POST", "faults/drop-streams", _scope(account_id))["dropped"])

    def auth_lost(self) -> None:
        self._call("POST", "faults/auth-lost")

    def http_fault(self, status: int, count: int) -> None:
        self._call("POST", "faults/http", {"status": status, "count": count})

    def stall_streams(self, account_id: str | None = None) -> int:
        """Stall the open streams; with `account_id`, that account's later streams too."""
        return int(self._call("POST", "faults/stall-streams", _scope(account_id))["stalled"])

    def reset(self) -> None:
        self._call("POST", "faults/reset")

    def set_latency(self, seconds: float) -> None:
        self._call("POST", "faults/latency", {"seconds": seconds})


def _scope(account_id: str | None) -> dict[str, Any] | None:
    return None if account_id is None else {"account_id": account_id}
