"""Churn: every step is a real, realistic change, and the same seed repeats it."""

from __future__ import annotations

from exporter.simulator.churn import Churn
from exporter.simulator.world import DeviceType, Status, WorldSpec, build_world

SPEC = WorldSpec(accounts=3, bridges=2, cameras=20, seed=8)


def run(steps: int) -> list[tuple[str, int]]:
    world = build_world(SPEC)
    churn = Churn(world, SPEC.seed)
    transitions = []
    for _ in range(steps):
        transition = churn.next_transition()
        assert transition is not None
        esn, status = transition
        assert world.devices[esn].status != status  # a change, not a repeat
        world.set_status(esn, status)
        transitions.append(transition)
    return transitions


def test_churn_is_deterministic() -> None:
    assert run(300) == run(300)


def test_churn_uses_realistic_states_and_stays_mostly_healthy() -> None:
    world = build_world(SPEC)
    churn = Churn(world, 1)
    for _ in range(3000):
        transition = churn.next_transition()
        assert transition is not None
        world.set_status(*transition)
    cameras = [d.status for d in world.devices.values() if d.type is DeviceType.CAMERA]
    bridges = [d.status for d in world.devices.values() if d.type is DeviceType.BRIDGE]
    assert set(bridges) <= {Status.BRIDGE_ONLINE, Status.BRIDGE_OFFLINE}
    assert set(cameras) <= {s.value for s in Status} - {Status.BRIDGE_ONLINE}
    assert cameras.count(Status.RECORDING) / len(cameras) > 0.6


def test_churn_follows_added_and_deleted_devices() -> None:
    world = build_world(WorldSpec(accounts=1, bridges=0, cameras=1))
    churn = Churn(world, 1)
    [esn] = world.devices
    world.delete_device(esn)
    assert churn.next_transition() is None
    account = next(a for a in world.accounts.values() if not a.is_master)
    added = world.add_device(account.id, DeviceType.CAMERA, "Late", status=Status.OFF)
    assert churn.next_transition() == (added.esn, Status.RECORDING)


def test_noise_is_status_0_or_the_invalid_bit_at_the_given_share() -> None:
    world = build_world(SPEC)
    churn = Churn(world, SPEC.seed)
    rolls = [churn.is_noise(0.25) for _ in range(4000)]
    assert 0.2 < sum(rolls) / len(rolls) < 0.3
    assert not any(churn.is_noise(0.0) for _ in range(100))
    words = []
    for _ in range(200):
        noise = churn.next_noise()
        assert noise is not None
        _esn, word = noise
        assert word == 0 or word & 0x010000
        assert not word & 0x1E0000  # health bits cleared: taken at face value, it reads "off"
        words.append(word)
    assert 0 in words
    assert any(words)


def test_noise_leaves_the_sequence_of_real_changes_as_it_was() -> None:
    world = build_world(SPEC)
    churn = Churn(world, SPEC.seed)
    transitions = []
    for _ in range(300):
        churn.is_noise(0.5)
        churn.next_noise()
        transition = churn.next_transition()
        assert transition is not None
        world.set_status(*transition)
        transitions.append(transition)
    assert transitions == run(300)
