"""The status family and the media clock of the poll resources, as pure functions."""

from __future__ import annotations

from exporter.simulator.resources import Media, status64, status_values
from exporter.simulator.world import DeviceType, Status, WorldSpec, build_world

WORLD_SPEC = WorldSpec(accounts=1, bridges=1, cameras=2, seed=3)


def test_status64_says_nothing_for_noise_and_clears_valid_for_the_invalid_bit() -> None:
    world = build_world(WORLD_SPEC)
    camera = next(d for d in world.devices.values() if d.type is DeviceType.CAMERA)
    assert status64(world, camera, 0) == 0
    invalid = 0x010000 | Status.RECORDING
    assert status64(world, camera, invalid) >> 32 & 0x1 == 0
    assert status64(world, camera, invalid) & 0xFFFFFFFF == invalid


def test_the_hex_forms_are_zero_padded_lower_case() -> None:
    world = build_world(WORLD_SPEC)
    camera = next(d for d in world.devices.values() if d.type is DeviceType.CAMERA)
    values = status_values(world, camera, 0x160037, frozenset({"status_hex", "status_hex64"}))
    assert values == {"status_hex": "00160037", "status_hex64": "0000001700160037"}


def test_media_starts_with_the_stream_and_freezes_when_it_stops() -> None:
    world = build_world(WORLD_SPEC)
    camera = next(d for d in world.devices.values() if d.type is DeviceType.CAMERA)
    camera.status = Status.RECORDING
    media = Media(world, start=1000.0)
    wanted = frozenset({"pre", "video"})
    at_start = media.values(camera, wanted, 1000.0)
    later = media.values(camera, wanted, 1010.0)
    assert later["pre"] > at_start["pre"]
    assert later["video"][0] == at_start["video"][0]
    camera.status = Status.OFFLINE
    media.observe(camera, 1011.0)
    assert media.values(camera, wanted, 1100.0) == media.values(camera, wanted, 1200.0)
    camera.status = 0  # noise: no change
    media.observe(camera, 1300.0)
    camera.status = Status.OFFLINE
    assert media.values(camera, wanted, 1400.0) == media.values(camera, wanted, 1200.0)
