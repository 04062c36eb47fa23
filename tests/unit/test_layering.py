"""Imports run one way: transport (exporter.een, exporter.v3) -> model <- state store and
renderer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "exporter"
# The state and what renders it know only the model, never the transport that feeds them.
STATE_MODULES = (
    *sorted(str(p.relative_to(PACKAGE)) for p in (PACKAGE / "state").glob("*.py")),
    *sorted(str(p.relative_to(PACKAGE)) for p in (PACKAGE / "exposition").glob("*.py")),
)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", STATE_MODULES)
def test_state_modules_do_not_import_the_transport(module: str) -> None:
    transports = ("exporter.een", "exporter.v3")
    transport = {name for name in imported_modules(PACKAGE / module) if name.startswith(transports)}
    assert not transport, f"exporter/{module} imports {sorted(transport)}"


@pytest.mark.parametrize(
    "path", sorted((PACKAGE / "transport").glob("*.py")), ids=lambda path: path.name
)
def test_what_the_transports_share_imports_neither(path: Path) -> None:
    """exporter.transport serves both APIs: it knows neither (nor do they import each other
    for what it holds)."""
    apis = ("exporter.een", "exporter.v3")
    found = {name for name in imported_modules(path) if name.startswith(apis)}
    assert not found, f"exporter/transport/{path.name} imports {sorted(found)}"
