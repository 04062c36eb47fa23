from collections import Counter

from exporter.simulator.events import TICK, EventSource, _Schedule
from exporter.simulator.stream import StreamHub
from exporter.simulator.world import DeviceType, WorldSpec, build_world

SPEC = WorldSpec(accounts=4, bridges=2, cameras=25, seed=9)


def test_each_camera_is_due_once_per_period_at_its_own_phase() -> None:
    world = build_world(SPEC)
    cameras = [e for e, d in world.devices.items() if d.type is DeviceType.CAMERA]
    schedule = _Schedule()
    period, start = 2.0, 1_700_000_000.05
    schedule.due(world, period, start)  # the first round starts the count
    rounds = [schedule.due(world, period, start + TICK * n) for n in range(1, 21)]
    due = Counter(esn for found in rounds for esn in found)
    assert due == Counter(cameras), "every camera once in one period"
    assert max(len(found) for found in rounds) < len(cameras) / 5, "spread over the period"


def test_a_late_round_catches_up_at_most_one_period() -> None:
    world = build_world(SPEC)
    schedule = _Schedule()
    schedule.due(world, 1.0, 100.0)
    late = schedule.due(world, 1.0, 160.0)  # the loop stalled for a minute
    assert len(late) <= len(set(late)) <= 100


def test_lossy_cameras_are_seeded() -> None:
    def losses(seed: int) -> dict[str, float]:
        world = build_world(WorldSpec(accounts=4, bridges=2, cameras=25, seed=seed))
        EventSource(world, StreamHub(world), seed).make_lossy(0.2)
        return {e: d.loss for e, d in world.devices.items() if d.loss}

    first = losses(9)
    assert first == losses(9)
    assert first != losses(10)
    assert 5 <= len(first) <= 40  # about a fifth of 100 cameras
    assert all(0.02 <= loss <= 0.3 for loss in first.values())
