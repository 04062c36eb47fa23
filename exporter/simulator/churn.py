"""Random but realistic status transitions, so demo dashboards move; and now and then the
values the real cloud sends that carry no news, which clients must ignore (een-api.md §5,
EENCloud/api-docs `_api_poll.md` "Overall status": status `0` means "No Change", and with the
invalid bit 16 set "no status change (use whatever status bits were set previously)")."""

from __future__ import annotations

import random

from exporter.simulator.world import Bit, DeviceType, Status, World

_HEALTHY = {DeviceType.CAMERA: Status.RECORDING, DeviceType.BRIDGE: Status.BRIDGE_ONLINE}
_FAILURES = {
    DeviceType.CAMERA: (
        (Status.ONLINE, 3),
        (Status.OFFLINE, 2),
        (Status.INTERNET_OFFLINE, 2),
        (Status.OFF, 1),
        (Status.PASSWORD_NEEDED, 1),
    ),
    DeviceType.BRIDGE: ((Status.BRIDGE_OFFLINE, 1),),
}
# A healthy device picked by chance fails with this probability, otherwise another device is
# picked. Unhealthy devices always recover when picked, so about BREAK / (1 + BREAK) ~ 11 % of
# the devices are unhealthy at equilibrium, whatever the starting mix.
BREAK_PROBABILITY = 0.12
_MAX_PICKS = 200
# Share of churn's updates that are noise (status 0 or the invalid bit) rather than changes.
NOISE_SHARE = 0.02
# What the invalid bit comes with: the device's word with its health bits cleared, so a client
# that took it at face value would show the device off.
_HEALTH = Bit.ON | Bit.REGISTERED | Bit.STREAMING | Bit.RECORDING


class Churn:
    """Picks one status transition at a time from a seeded RNG."""

    def __init__(self, world: World, seed: int) -> None:
        self._world = world
        # Separate stream from the world's RNG, so churn does not shift later generated ids.
        self._rng = random.Random(f"churn-{seed}")
        self._noise_rng = random.Random(f"churn-noise-{seed}")  # leaves the changes' sequence be
        self._esns: list[str] = []
        self._generation = -1

    def next_transition(self) -> tuple[str, int] | None:
        """(esn, new status) for one real change, or None when the world has no devices."""
        esns = self._device_esns()
        if not esns:
            return None
        for _ in range(_MAX_PICKS):
            device = self._world.devices[self._rng.choice(esns)]
            healthy = _HEALTHY[device.type]
            if device.status != healthy:
                return device.esn, int(healthy)
            if self._rng.random() < BREAK_PROBABILITY:
                return device.esn, int(self._failure(device.type))
        return None

    def is_noise(self, share: float) -> bool:
        """Whether the next update is noise, `share` of the time."""
        return share > 0 and self._noise_rng.random() < share

    def next_noise(self) -> tuple[str, int] | None:
        """(esn, a word that says nothing) for a random device: 0, or the invalid bit."""
        esns = self._device_esns()
        if not esns:
            return None
        device = self._world.devices[self._noise_rng.choice(esns)]
        if self._noise_rng.random() < 0.5:
            return device.esn, 0
        return device.esn, int(Bit.INVALID | (device.status & ~_HEALTH))

    def _failure(self, device_type: DeviceType) -> Status:
        choices = _FAILURES[device_type]
        statuses = [status for status, _ in choices]
        weights = [weight for _, weight in choices]
        return self._rng.choices(statuses, weights)[0]

    def _device_esns(self) -> list[str]:
        if self._generation != self._world.generation:
            self._esns = list(self._world.devices)
            self._generation = self._world.generation
        return self._esns
