"""The simulator's import graph, drawn from its code, runs one way: no circle.

Every import counts, wherever it stands: at the top, under `if TYPE_CHECKING:` or inside a
function. A circle hidden behind TYPE_CHECKING is still a circle in the drawn structure.
"""

from __future__ import annotations

import ast
from collections.abc import Collection
from pathlib import Path

import pytest

EXPORTER = Path(__file__).resolve().parents[3] / "exporter"
SIMULATOR = EXPORTER / "simulator"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(EXPORTER.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules_under(root: Path) -> dict[str, Path]:
    return {module_name(path): path for path in sorted(root.rglob("*.py"))}


def imported_names(path: Path, modules: Collection[str]) -> set[str]:
    """What `path` imports, absolute: `from a.b import c` is a.b.c when that is one of
    `modules`, else a.b (c is a name defined in a.b)."""
    is_package = path.name == "__init__.py"
    here = module_name(path).split(".")
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here if is_package else here[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                names.add(full if full in modules else base)
    return names


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules under `root` it imports."""
    modules = modules_under(root)
    return {
        name: {target for target in imported_names(path, modules) if target in modules} - {name}
        for name, path in modules.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of imports (first module repeated at the end), or None."""
    on_path: list[str] = []
    state: dict[str, str] = {}  # "open" while on the path, "done" once fully explored

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        on_path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                return [*on_path[on_path.index(target) :], target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        on_path.pop()
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state:
            found = visit(module)
            if found:
                return found
    return None


def test_the_drawn_graph_is_the_simulators() -> None:
    graph = import_graph(SIMULATOR)
    assert "exporter.simulator.server" in graph["exporter.simulator"]
    assert "exporter.simulator.world" in graph["exporter.simulator.server"]


def test_the_simulators_imports_have_no_circle() -> None:
    cycle = find_cycle(import_graph(SIMULATOR))
    assert cycle is None, "import circle: " + " -> ".join(cycle or ())


@pytest.mark.parametrize(
    ("graph", "cycle"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
        ({"a": {"b", "c"}, "b": {"c"}, "c": {"b"}}, ["b", "c", "b"]),
    ],
)
def test_a_circle_is_found(graph: dict[str, set[str]], cycle: list[str] | None) -> None:
    assert find_cycle(graph) == cycle


def test_the_simulator_imports_nothing_of_the_exporter() -> None:
    """The exporter starts the simulator (demo mode); the simulator, the cloud it talks to,
    never reaches back into the exporter."""
    everything = modules_under(EXPORTER)
    reaching_back = {
        f"{module_name(path)} -> {name}"
        for path in SIMULATOR.rglob("*.py")
        for name in imported_names(path, everything)
        if name.startswith("exporter.") and not name.startswith("exporter.simulator.")
    }
    assert not reaching_back, sorted(reaching_back)
