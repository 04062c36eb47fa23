"""A month of camera histories with known outages, and what availability they give.

The world is small and fixed (a few accounts, a few cameras, one sample a minute for 30
days) and covers every rule of docs/availability.md: outages that cross hours and midnight,
a camera switched off for a while (not counted), an account whose stream is down (not
counted), an exporter that is down (nothing counted, and an outage going on meanwhile),
cameras added and removed in the month, API v3's statuses on a second exporter, and an
account with its own objective.

`write_openmetrics` writes the samples Prometheus would have scraped, for
`promtool tsdb create-blocks-from openmetrics`; `expected` computes the availability from the
same history minute by minute in Python, without PromQL, for the tests to compare.

Where a live Prometheus writes a staleness marker (a camera removed from the exporter), the
file has a NaN sample: OpenMetrics cannot carry the marker itself, and the rules treat both
alike (a comparison with NaN is false). While the exporter is down the file has only
`up 0`, as a live Prometheus would.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

MINUTE = 60
START = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
END = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp())
MINUTES = (END - START) // MINUTE  # 43,200: the month is the samples at minutes 1..MINUTES
PERIOD = "2026-11"
JOB = "een"
DEFAULT_OBJECTIVE = 0.995

Span = tuple[int, int]  # [first minute, last minute], minutes since START


def day(d: int, hour: int = 0, minute: int = 0) -> int:
    """Minutes since START of 2026-11-<d> hour:minute UTC."""
    return ((d - 1) * 24 + hour) * 60 + minute


@dataclass(frozen=True)
class Camera:
    id: str
    name: str
    down: tuple[Span, ...] = ()  # counted as not available (offline, deviceOffline, ...)
    off: tuple[Span, ...] = ()  # switched off on purpose: not counted
    added: int = 0  # first minute with samples
    removed: int | None = None  # first minute without (a NaN marker there)
    down_status: str = "offline"


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    instance: str
    cameras: tuple[Camera, ...]
    stream_down: tuple[Span, ...] = ()
    objective: float | None = None  # None: the default (no exporter series)


@dataclass(frozen=True)
class Exporter:
    instance: str
    api: str  # "v1" or "v3": which status values its cameras show
    down: tuple[Span, ...] = ()


EXPORTERS = (
    Exporter("exporter-a:9877", "v1", down=((day(20, 3, 0), day(20, 3, 44)),)),
    Exporter("exporter-b:9877", "v3"),
)

ACCOUNTS = (
    Account(
        "11111111",
        "Acme HQ",
        "exporter-a:9877",
        (
            # Across midnight, and a short one.
            Camera(
                "100a0001",
                "Lobby",
                down=((day(3, 23, 30), day(4, 1, 9)), (day(9, 12, 0), day(9, 12, 4))),
            ),
            # Down while the exporter is down (day 20, 03:00-03:44): only 02:50-02:59 and
            # 03:45-04:19 count, two outages.
            Camera("100a0002", "Yard", down=((day(20, 2, 50), day(20, 4, 19)),)),
            # Switched off for two days (not counted), down later.
            Camera(
                "100a0003",
                "Back door",
                off=((day(10), day(11, 23, 59)),),
                down=((day(25, 8, 0), day(25, 8, 59)),),
            ),
            # Added on day 12; the longest outage of the month.
            Camera(
                "100a0004", "Dock", added=day(12, 10, 17), down=((day(14, 6, 1), day(14, 13, 30)),)
            ),
        ),
        # The stream is down for 3 hours: Lobby's status says offline then, not counted.
        stream_down=((day(6, 10, 0), day(6, 12, 59)),),
    ),
    Account(
        "22222222",
        "Beta Shop",
        "exporter-a:9877",
        (
            Camera("100b0001", "Front till", down=((day(1, 0, 1), day(1, 0, 30)),)),
            # Removed on day 18, after an outage.
            Camera(
                "100b0002",
                "Stock room",
                removed=day(18, 9, 0),
                down=((day(17, 22, 0), day(18, 2, 0)),),
            ),
        ),
        objective=0.99,
    ),
    Account(
        "33333333",
        "Cold Store",
        "exporter-b:9877",
        (
            Camera(
                "100c0001",
                "Freezer",
                down_status="deviceOffline",
                down=((day(30, 23, 0), day(30, 23, 59)),),
            ),
            Camera(
                "100c0002",
                "Loading bay",
                down_status="bridgeOffline",
                down=((day(7, 5, 5), day(7, 5, 5)), (day(22, 14, 0), day(22, 16, 29))),
            ),
        ),
    ),
)


def _in(minute: int, spans: tuple[Span, ...]) -> bool:
    return any(first <= minute <= last for first, last in spans)


def exporter_of(account: Account) -> Exporter:
    return next(e for e in EXPORTERS if e.instance == account.instance)


def camera_state(account: Account, camera: Camera, minute: int) -> str | None:
    """The camera's status label at `minute`, None when it has no samples then."""
    if minute < camera.added or (camera.removed is not None and minute >= camera.removed):
        return None
    if _in(minute, camera.off):
        return "off"
    if _in(minute, camera.down):
        return camera.down_status
    return "online"


def counted(account: Account, camera: Camera, minute: int) -> bool:
    """docs/availability.md: exporter up, stream up, status known and not off."""
    state = camera_state(account, camera, minute)
    return (
        state not in (None, "off")
        and not _in(minute, exporter_of(account).down)
        and not _in(minute, account.stream_down)
    )


@dataclass
class Outage:
    account_id: str
    camera_id: str
    camera_name: str
    start: int  # unix seconds of the first minute down
    end: int  # unix seconds of the first minute after it

    @property
    def minutes(self) -> int:
        return (self.end - self.start) // MINUTE


@dataclass
class Expected:
    account: Account
    counted: int = 0
    down: int = 0
    outages: list[Outage] = field(default_factory=list)

    @property
    def objective(self) -> float:
        return self.account.objective or DEFAULT_OBJECTIVE

    @property
    def availability(self) -> float:
        return (self.counted - self.down) / self.counted

    @property
    def budget_left(self) -> float:
        return 1 - self.down / (self.counted * (1 - self.objective))


def expected(first: int = 1, last: int = MINUTES) -> dict[str, Expected]:
    """Per account: camera-minutes counted and down in minutes first..last, and the outages
    (runs of consecutive minutes counted and down; a minute not counted ends a run)."""
    found: dict[str, Expected] = {}
    for account in ACCOUNTS:
        result = found[account.id] = Expected(account)
        for camera in account.cameras:
            run: int | None = None
            for minute in range(first, last + 2):
                is_down = False
                if minute <= last and counted(account, camera, minute):
                    result.counted += 1
                    is_down = camera_state(account, camera, minute) != "online"
                    result.down += is_down
                if is_down and run is None:
                    run = minute
                elif not is_down and run is not None:
                    result.outages.append(
                        Outage(account.id, camera.id, camera.name, at(run), at(minute))
                    )
                    run = None
    return found


def at(minute: int) -> int:
    return START + minute * MINUTE


def _line(name: str, labels: dict[str, str], value: float, minute: int) -> str:
    text = ",".join(f'{key}="{val}"' for key, val in labels.items())
    number = "NaN" if math.isnan(value) else repr(value) if isinstance(value, float) else value
    return f"{name}{{{text}}} {number} {at(minute)}\n"


def _families() -> Iterator[tuple[str, list[tuple[dict[str, str], list[tuple[int, float]]]]]]:
    """Every metric family with its series and their (minute, value) samples."""
    minutes = range(MINUTES + 1)
    ups = []
    for exporter in EXPORTERS:
        labels = {"job": JOB, "instance": exporter.instance}
        ups.append((labels, [(m, 0.0 if _in(m, exporter.down) else 1.0) for m in minutes]))
    yield "up", ups

    def scraped(account: Account) -> list[int]:
        return [m for m in minutes if not _in(m, exporter_of(account).down)]

    def base(account: Account) -> dict[str, str]:
        return {"job": JOB, "instance": account.instance, "account_id": account.id}

    yield (
        "een_stream_up",
        [
            (base(a), [(m, 0.0 if _in(m, a.stream_down) else 1.0) for m in scraped(a)])
            for a in ACCOUNTS
        ],
    )
    yield (
        "een_account_info",
        [({**base(a), "name": a.name}, [(m, 1.0) for m in scraped(a)]) for a in ACCOUNTS],
    )
    yield (
        "een_account_availability_objective",
        [(base(a), [(m, a.objective) for m in scraped(a)]) for a in ACCOUNTS if a.objective],
    )
    infos = []
    statuses = []
    for account in ACCOUNTS:
        for camera in account.cameras:
            labels = {**base(account), "camera_id": camera.id}
            states = {m: camera_state(account, camera, m) for m in scraped(account)}
            present = [m for m, state in states.items() if state is not None]
            infos.append(({**labels, "name": camera.name}, [(m, 1.0) for m in present]))
            values = {"online", camera.down_status} | ({"off"} if camera.off else set())
            for status in sorted(values):
                samples = [(m, float(states[m] == status)) for m in present]
                if camera.removed is not None:
                    samples.append((camera.removed, math.nan))
                statuses.append(({**labels, "status": status}, samples))
    yield "een_camera_info", infos
    yield "een_camera_status", statuses


def write_openmetrics(path: Path) -> Path:
    with path.open("w") as out:
        for name, series in _families():
            out.write(f"# TYPE {name} gauge\n")
            for labels, samples in series:
                out.writelines(_line(name, labels, value, minute) for minute, value in samples)
        out.write("# EOF\n")
    return path
