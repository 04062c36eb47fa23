"""Reading the web config file: YAML as Go's strict decoding reads it, typed fields, and one
error type naming the place in the file (never a value: hashes and keys are secrets)."""

from __future__ import annotations

import os
import stat
from collections.abc import Collection, Hashable
from pathlib import Path
from typing import Any

import yaml

FILE_LIMIT = 1 << 20  # bytes; no web config, certificate or key is this large

# libyaml's parser when PyYAML has it: a 5,000-user file parses in 40 ms instead of 300.
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Invalid(Exception):
    """A problem at a place in the file (a dotted key path)."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}" if where else problem)


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """YAML as Go's strict decoding reads it: a key given twice is an error, not a rewrite,
    and a key is a scalar (Go cannot decode `[a]: x` into a map of strings either)."""


def _no_duplicates(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            kind = "list" if isinstance(key_node, yaml.SequenceNode) else "mapping"
            raise yaml.constructor.ConstructorError(
                None, None, f"a key must be a name, not a {kind}", key_node.start_mark
            )
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, Hashable):  # a scalar always is; kept for custom tags
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be a name", key_node.start_mark
            )
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def parse_yaml(text: str) -> Any:
    """The document, or Invalid naming the line. Nothing the text holds raises anything else."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        place = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise Invalid("", f"not valid YAML{place}: {problem}") from None
    except RecursionError:
        raise Invalid("", "not valid YAML: nested too deeply") from None
    except (ValueError, TypeError) as exc:  # e.g. a date such as 2001-02-30
        raise Invalid("", f"not valid YAML: {exc}") from None


def read_text(path: Path) -> str:
    data = read_file(path, "")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid("", "not UTF-8 text") from None


def read_file(path: Path, where: str) -> bytes:
    """A regular file's bytes; opened without blocking, so a FIFO named by mistake cannot hang."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise Invalid(where, f"cannot read {path}: {exc.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Invalid(where, f"cannot read {path}: not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as file:
            data = file.read(FILE_LIMIT + 1)
    except OSError as exc:
        raise Invalid(where, f"cannot read {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > FILE_LIMIT:
        raise Invalid(where, f"{path} is larger than {FILE_LIMIT} bytes")
    return data


def keys(value: Any, where: str, allowed: Collection[str]) -> dict[str, Any]:
    """A mapping whose keys are all in `allowed`; None (an empty section) is an empty one."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid(where, "must be a mapping")
    for key in value:
        if key not in allowed:
            name = f"{where}.{key}" if where else str(key)
            raise Invalid("", f"unknown key {name}")
    return value


def string(value: Any, where: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Invalid(where, "must be a string")
    return str(value)


def strings(value: Any, where: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise Invalid(where, "must be a list")
    return [string(item, f"{where}[{index}]") for index, item in enumerate(value)]


def boolean(value: Any, where: str, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise Invalid(where, "must be true or false")
    return value
