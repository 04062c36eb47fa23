"""Every metric family of /metrics holds its own samples, and only those, whatever the order
of the family table (exposition.FAMILIES): the renderer finds a family by its name."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from types import ModuleType

import pytest

from exporter.exposition import render as exposition
from exporter.state.eventcodes import BRIDGE_CODES, STREAM_STATS
from exporter.state.model import (
    AccountInfo,
    DeviceInfo,
    DeviceKind,
    Event,
    EventSelection,
    StreamUpdate,
)
from exporter.state.store import StateStore
from tests.unit.test_exposition import gunzip_one_member

CAM, BRIDGE = DeviceKind.CAMERA, DeviceKind.BRIDGE
RECORDING, BRIDGE_UP = 0x1E0037, 0x120001  # v1 statuses that show every status family
T0 = 1_700_000_000_123  # Unix ms
# v3 has no on, streaming or recording flag: these families have no samples in v3 mode.
V1_ONLY = {"een_camera_on", "een_camera_streaming", "een_camera_recording"}


def one_of_everything(v3: bool) -> StateStore:
    """Two accounts, each with a camera and a bridge, every code subscribed and counted."""
    store = StateStore(EventSelection((STREAM_STATS, "PRTH"), tuple(BRIDGE_CODES)))
    store.sync_accounts([AccountInfo("00000001", "Acme"), AccountInfo("00000002", "Beta")])
    for account in ("00000001", "00000002"):
        camera, bridge = f"c{account[-1]}", f"b{account[-1]}"
        devices = [
            DeviceInfo(camera, CAM, "Lobby", bridge, "online" if v3 else RECORDING),
            DeviceInfo(bridge, BRIDGE, "Main", "", "online" if v3 else BRIDGE_UP),
        ]
        store.set_devices(account, devices, seed_status=True, now=1.5)
        store.stream_connected(account)
        happened = [Event(camera, STREAM_STATS, T0, 10, 9), Event(camera, "PRTH", T0)]
        happened += [Event(bridge, code, T0, seconds=2.5) for code in BRIDGE_CODES]
        store.apply(account, StreamUpdate({}, (), happened), now=2.0)
    return store


def families(body: str) -> dict[str, list[str]]:
    """Each family's sample lines, by the name in its HELP line; checks that every sample
    line is named after the HELP/TYPE block it is in, and that no family comes twice."""
    found: dict[str, list[str]] = {}
    current = ""
    for line in body.splitlines():
        if line.startswith("# HELP "):
            current = line.split(" ")[2]
            assert current not in found, f"{current} is described twice"
            found[current] = []
        elif line.startswith("# TYPE "):
            assert line.split(" ")[2] == current, f"{line!r} is not in its own block"
        else:
            name = line.partition("{")[0].partition(" ")[0]
            assert name == current, f"{line!r} is in the block of {current}"
            found[current].append(line)
    return found


def render(module: ModuleType, store: StateStore) -> str:
    # The gzip body too: its pieces are cached per family as well.
    rendered = module.Exposition(store, lambda: b"")
    plain = b"".join(rendered.render(gzip=False))
    assert gunzip_one_member(b"".join(rendered.render(gzip=True))) == plain
    return plain.decode()


def reordered(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A copy of exporter.exposition.render whose family table is in reverse order."""
    path = Path(exposition.__file__)
    tree = ast.parse(path.read_text(), str(path))
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "FAMILIES"
        ):
            reverse = ast.Name("reversed", ast.Load())
            node.value = ast.Call(
                ast.Name("tuple", ast.Load()), [ast.Call(reverse, [node.value], [])], []
            )
            break
    else:
        raise AssertionError("exporter/exposition/render.py has no FAMILIES table")
    module = ModuleType("exporter._reordered_exposition")
    module.__file__ = str(path)
    monkeypatch.setitem(sys.modules, module.__name__, module)  # dataclasses look it up
    exec(compile(ast.fix_missing_locations(tree), str(path), "exec"), module.__dict__)  # noqa: S102
    return module


@pytest.mark.parametrize("v3", [False, True], ids=["v1", "v3"])
def test_each_family_holds_its_own_samples(v3: bool) -> None:
    found = families(render(exposition, one_of_everything(v3)))
    assert list(found) == [family.name for family in exposition.FAMILIES]
    empty = {name for name, lines in found.items() if not lines}
    assert empty == (V1_ONLY if v3 else set()), "families the renderer does not fill"


@pytest.mark.parametrize("v3", [False, True], ids=["v1", "v3"])
def test_the_families_follow_the_table_order(v3: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reordered table reorders the families, each with the same samples as before."""
    copy = reordered(monkeypatch)
    names = [family.name for family in exposition.FAMILIES]
    assert [family.name for family in copy.FAMILIES] == names[::-1]
    store = one_of_everything(v3)
    found = families(render(copy, store))
    assert list(found) == names[::-1]
    assert found == families(render(exposition, store))
