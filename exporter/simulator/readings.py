"""Where EEN's docs leave a behaviour open, the simulator plays each reading (issue 14).

One `Readings` object is shared by the cloud and its stream hub and changed in place, at
start (een-sim flags) or at run time (PUT /_sim/readings). docs/simulator.md names the doc
source of each reading.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

# The snapshot messages of the batched reading hold up to this many ESNs each.
SNAPSHOT_CHUNK = 100
DEFAULT_INACTIVE_MINUTES = 15.0  # what the user object's inactive_session_timeout says


class Snapshot(enum.StrEnum):
    """How the current values of newly subscribed ESNs arrive."""

    BATCHED = "batched"  # up to SNAPSHOT_CHUNK ESNs per message
    PER_CAMERA = "per-camera"  # one message per ESN ("ws_poll2 can spread the response")


class SessionLoss(enum.StrEnum):
    """What a stream meets when its session is not (or no longer) valid."""

    HTTP = "http"  # handshake refused with HTTP 401; an open stream gets `412` and a close
    MESSAGE = "message"  # upgrade accepted, then a `401` (or `412`) message; the socket stays
    CLOSE = "close"  # upgrade accepted (or stream open), then a bare close frame


class ForeignEsn(enum.StrEnum):
    """The per-entity answer to subscribing a camera of another account."""

    NOT_FOUND = "404"  # "resolve invalid"
    DENIED = "401"  # "permission denied (invalid esn)"


class Activity(enum.StrEnum):
    """What keeps a session from its inactivity timeout."""

    REQUESTS = "requests"  # authenticated HTTP requests (REST, handshakes) only
    STREAMS = "requests+streams"  # those, and any open stream on the session


@dataclass
class Readings:
    snapshot: Snapshot = Snapshot.PER_CAMERA
    session_loss: SessionLoss = SessionLoss.HTTP
    foreign_esn: ForeignEsn = ForeignEsn.NOT_FOUND
    # Minutes without activity that end a session; 0 = never. Fractions are allowed so that
    # tests can use seconds; the user object reports the same number.
    inactive_minutes: float = DEFAULT_INACTIVE_MINUTES
    activity: Activity = Activity.STREAMS

    @property
    def snapshot_chunk(self) -> int:
        return SNAPSHOT_CHUNK if self.snapshot is Snapshot.BATCHED else 1

    @property
    def inactive_seconds(self) -> float:
        return self.inactive_minutes * 60

    def unresolved(self, foreign: bool) -> dict[str, Any]:
        """The per-entity error for an ESN the stream's account cannot subscribe."""
        if foreign and self.foreign_esn is ForeignEsn.DENIED:
            return _entity_error(401, "permission denied (invalid esn)")
        return _entity_error(404, "resolve invalid")

    def as_json(self) -> dict[str, Any]:
        return {
            "snapshot": self.snapshot.value,
            "session_loss": self.session_loss.value,
            "foreign_esn": int(self.foreign_esn.value),
            "inactive_minutes": minutes_json(self.inactive_minutes),
            "activity": self.activity.value,
        }


def minutes_json(minutes: float) -> int | float:
    """Whole minutes as the integer EEN's user object shows (15), fractions as they are."""
    return int(minutes) if minutes == int(minutes) else minutes


def _entity_error(status_code: int, message: str) -> dict[str, Any]:
    return {"error": [{"status_code": status_code, "message": message}]}
