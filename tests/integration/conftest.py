"""Shared fixtures: a small simulated EEN cloud on an ephemeral loopback port."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from exporter.simulator import Simulator, WorldSpec
from exporter.simulator.client import SimulatorControl

MakeSimulator = Callable[..., Simulator]


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """The default world (a dealer with 3 sub-accounts x 2 bridges x 10 cameras, seed 1)."""
    with Simulator(WorldSpec()) as simulator:
        yield simulator


@pytest.fixture
def sim_control(sim: Simulator) -> Iterator[SimulatorControl]:
    with SimulatorControl(sim.url) as control:
        yield control


@pytest.fixture
def make_sim() -> Iterator[MakeSimulator]:
    """Start simulators with custom options (same arguments as `Simulator`); all are stopped."""
    started: list[Simulator] = []

    def make(spec: WorldSpec | None = None, **options: Any) -> Simulator:
        simulator = Simulator(spec or WorldSpec(), **options)
        started.append(simulator)
        return simulator.start()

    yield make
    for simulator in started:
        simulator.stop()
