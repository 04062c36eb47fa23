"""World generation: deterministic, realistic, consistent."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from exporter.simulator.world import (
    DEALER_NAME,
    Bit,
    DeviceType,
    Status,
    WorldError,
    WorldSpec,
    build_world,
    overall,
)


def test_the_same_seed_gives_the_same_world() -> None:
    spec = WorldSpec(accounts=5, bridges=2, cameras=20, seed=11)
    first, second = build_world(spec), build_world(spec)
    assert first.user == second.user
    assert first.accounts == second.accounts
    assert first.devices == second.devices
    other = build_world(WorldSpec(accounts=5, bridges=2, cameras=20, seed=12))
    assert list(other.devices) != list(build_world(spec).devices)


def test_a_dealer_with_sub_accounts() -> None:
    world = build_world(WorldSpec(accounts=3, bridges=2, cameras=10))
    dealer, *customers = world.accounts.values()
    assert dealer.name == DEALER_NAME
    assert dealer.is_master
    assert world.user.is_master
    assert world.user.owner_account_id == dealer.id
    assert not dealer.device_esns
    assert len(customers) == 3
    for account in customers:
        devices = [world.devices[esn] for esn in account.device_esns]
        types = Counter(device.type for device in devices)
        assert types == {DeviceType.BRIDGE: 2, DeviceType.CAMERA: 10}
        assert len({device.name for device in devices}) == len(devices)


def test_a_plain_customer_owns_the_devices() -> None:
    world = build_world(WorldSpec(accounts=0, bridges=1, cameras=4))
    [account] = world.accounts.values()
    assert not account.is_master
    assert not world.user.is_master
    assert len(account.device_esns) == 5


def test_ids_are_unique_and_well_formed() -> None:
    world = build_world(WorldSpec(accounts=200, bridges=2, cameras=50, seed=3))
    assert all(re.fullmatch(r"[0-9a-f]{8}", esn) for esn in world.devices)
    assert all(re.fullmatch(r"\d{8}", account_id) for account_id in world.accounts)
    assert len({account.name for account in world.accounts.values()}) == 201
    assert len(world.devices) == 200 * 52


def test_cameras_hang_off_their_own_accounts_bridges() -> None:
    world = build_world(WorldSpec(accounts=4, bridges=3, cameras=9))
    for device in world.devices.values():
        if device.type is DeviceType.CAMERA:
            assert device.bridge_id is not None
            bridge = world.devices[device.bridge_id]
            assert bridge.account_id == device.account_id
            assert device.esn in bridge.camera_esns
        else:
            assert len(device.camera_esns) == 3


def test_status_mix_is_realistic() -> None:
    world = build_world(WorldSpec(accounts=50, bridges=2, cameras=50, seed=5))
    cameras = Counter(d.status for d in world.devices.values() if d.type is DeviceType.CAMERA)
    bridges = {d.status for d in world.devices.values() if d.type is DeviceType.BRIDGE}
    assert bridges == {1179649}
    assert cameras.most_common(1)[0][0] == 1966135 == 0x1E0037
    assert cameras[Status.RECORDING] / sum(cameras.values()) > 0.75
    for status in (Status.ONLINE, Status.OFF, Status.INTERNET_OFFLINE, Status.PASSWORD_NEEDED):
        assert cameras[status] > 0


@pytest.mark.parametrize(
    ("status", "label"),
    [
        (Status.RECORDING, "online"),
        (Status.ONLINE, "online"),
        (Status.OFF, "off"),
        (Status.INTERNET_OFFLINE, "internet_offline"),
        (Status.PASSWORD_NEEDED, "password_needed"),
        (Status.OFFLINE, "offline"),
    ],
)
def test_status_words_decode_as_named(status: Status, label: str) -> None:
    assert overall(status) == label
    recording = bool(status & Bit.RECORDING)
    assert recording == (status is Status.RECORDING)


def test_add_and_delete() -> None:
    world = build_world(WorldSpec(accounts=1, bridges=1, cameras=1))
    account = next(a for a in world.accounts.values() if not a.is_master)
    bridge = world.add_device(account.id, DeviceType.BRIDGE, "New Bridge")
    camera = world.add_device(account.id, DeviceType.CAMERA, "New Camera", bridge.esn)
    assert bridge.status == Status.BRIDGE_ONLINE
    assert camera.status == Status.RECORDING
    assert bridge.camera_esns == [camera.esn]
    world.delete_device(bridge.esn)
    assert camera.bridge_id is None
    world.delete_device(camera.esn)
    assert camera.esn not in account.device_esns
    assert world.set_status(next(iter(account.device_esns)), 1) is True
    generation = world.generation
    new = world.add_account("Another")
    assert world.generation > generation
    deleted = world.delete_account(account.id)
    assert len(deleted) == 2
    assert not set(deleted) & world.devices.keys()
    assert new.id in world.accounts


def test_invalid_changes() -> None:
    world = build_world(WorldSpec(accounts=2, bridges=1, cameras=1))
    first, second = (a for a in world.accounts.values() if not a.is_master)
    foreign_bridge = next(
        esn for esn in second.device_esns if world.devices[esn].type is DeviceType.BRIDGE
    )
    with pytest.raises(WorldError):
        world.add_device(first.id, DeviceType.CAMERA, "x", foreign_bridge)
    with pytest.raises(WorldError):
        world.add_device(first.id, DeviceType.BRIDGE, "x", foreign_bridge)
    with pytest.raises(WorldError):
        world.add_device("00000000", DeviceType.CAMERA, "x")
    with pytest.raises(WorldError):
        world.delete_account(world.user.owner_account_id)
    customer = build_world(WorldSpec(accounts=0))
    with pytest.raises(WorldError):
        customer.add_account("x")


def test_negative_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="cameras"):
        WorldSpec(cameras=-1)
