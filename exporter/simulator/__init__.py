"""A simulated Eagle Eye Networks cloud: the v1 REST API, the WebSocket poll stream, and a
control API with fault injection, for tests, demos and benchmarks."""

from exporter.simulator.server import Simulator
from exporter.simulator.world import WorldSpec

__all__ = ["Simulator", "WorldSpec"]
