"""Imports run one way: each API (exporter.een, exporter.v3) -> the account engine
(exporter.accounts) -> the state side (exporter.state, exporter.exposition, sharding), and
the APIs never import each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.unit.simulator.test_imports import find_cycle, import_graph

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


ENGINE = ("exporter.accounts",)
APIS = {"een": "exporter.v3", "v3": "exporter.een"}  # each API's package, and the other's
# The state side: what the engine and both APIs feed, knowing neither.
STATE_SIDE = STATE_MODULES  # state/ (sharding.py included) and exposition/


def modules_of(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).glob("*.py"))


@pytest.mark.parametrize("path", modules_of("accounts"), ids=lambda path: path.name)
def test_the_engine_imports_neither_api_nor_their_transport(path: Path) -> None:
    """exporter.accounts is written once for both APIs: it imports only the state side."""
    found = {
        name
        for name in imported_modules(path)
        if name.startswith(("exporter.een", "exporter.v3", "exporter.transport", "exporter.web"))
        or name in ("exporter.app", "exporter.cli", "exporter.config")
    }
    assert not found, f"exporter/accounts/{path.name} imports {sorted(found)}"


@pytest.mark.parametrize(
    ("api", "path"),
    [(api, path) for api in APIS for path in modules_of(api)],
    ids=lambda value: value if isinstance(value, str) else value.name,
)
def test_the_apis_never_import_each_other(api: str, path: Path) -> None:
    other = APIS[api]
    found = {name for name in imported_modules(path) if name.startswith(other)}
    assert not found, f"exporter/{api}/{path.name} imports {sorted(found)}"


@pytest.mark.parametrize("module", STATE_SIDE)
def test_the_state_side_imports_no_transport_and_not_the_engine(module: str) -> None:
    banned = ("exporter.een", "exporter.v3", "exporter.transport", *ENGINE)
    found = {name for name in imported_modules(PACKAGE / module) if name.startswith(banned)}
    assert not found, f"exporter/{module} imports {sorted(found)}"


def test_the_exporters_imports_have_no_circle_between_modules_or_packages() -> None:
    """The import graph drawn from the code (the simulator aside, checked on its own) runs one
    way, module by module and package by package (state/ <-> a top-level sharding.py was a
    circle of packages though no module imported itself back)."""
    graph = {
        module: targets
        for module, targets in import_graph(PACKAGE).items()
        if not module.startswith("exporter.simulator")
    }
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])

    def package(module: str) -> str:
        return ".".join(module.split(".")[:2])

    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        here = package(module)
        packages.setdefault(here, set()).update(
            package(t) for t in targets if package(t) not in (here, "exporter")
        )
    assert find_cycle(packages) is None, " -> ".join(find_cycle(packages) or [])


@pytest.mark.parametrize("path", modules_of("report"), ids=lambda path: path.name)
def test_the_report_reads_prometheus_and_imports_nothing_else_of_the_exporter(path: Path) -> None:
    """`een-exporter report` knows Prometheus' HTTP API, not EEN: no transport, engine, state,
    config or web module, so it works wherever Prometheus' data is, exporter or not."""
    found = {
        name
        for name in imported_modules(path)
        if name.startswith("exporter") and not name.startswith("exporter.report")
    }
    assert not found, f"exporter/report/{path.name} imports {sorted(found)}"


def test_nothing_but_the_cli_imports_the_report() -> None:
    users = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "report" not in path.parts
        and any(name.startswith("exporter.report") for name in imported_modules(path))
    }
    assert users == {"cli.py"}
