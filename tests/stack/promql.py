"""Just enough PromQL reading to check which metrics an expression uses and how."""

from __future__ import annotations

import re
from dataclasses import dataclass

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_BRACES = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_IDENT = re.compile(r"(?<![\w:$.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])")
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"})
_SELECTOR = re.compile(r"(?<![\w:])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r'\s*([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')
_COUNTER_IN_RATE = (
    r"\b(?:rate|irate|increase)\(\s*{name}\s*(?:\{{[^}}]*\}})?\s*\[\$__rate_interval\]\s*\)"
)
_RATE_WINDOW = re.compile(r"\b(?:rate|irate|increase)\([^\[]*\[([^\]]*)\]")


@dataclass(frozen=True)
class Selector:
    """One `metric{...}` in an expression, with its label matchers."""

    metric: str
    matchers: tuple[tuple[str, str, str], ...]

    def matcher(self, label: str) -> tuple[str, str] | None:
        """The (operator, value) that this selector puts on `label`, if any."""
        for name, op, value in self.matchers:
            if name == label:
                return op, value
        return None


def _without_strings(expr: str) -> str:
    return _STRING.sub('""', expr)


def metric_names(expr: str) -> set[str]:
    """Names of the metrics an expression reads (functions, keywords and labels excluded)."""
    text = _RANGE.sub("", _BRACES.sub("", _LABEL_LIST.sub("", _without_strings(expr))))
    names = set()
    for match in _IDENT.finditer(text):
        rest = text[match.end() :].lstrip()
        if rest.startswith("(") or match.group(1) in _KEYWORDS:
            continue
        names.add(match.group(1))
    return names


def bare_metrics(expr: str) -> set[str]:
    """Metrics referenced without a `{...}` selector (so without any label matcher)."""
    text = _RANGE.sub("", _BRACES.sub("{}", _LABEL_LIST.sub("", _without_strings(expr))))
    bare = set()
    for match in _IDENT.finditer(text):
        rest = text[match.end() :].lstrip()
        if rest.startswith(("(", "{")) or match.group(1) in _KEYWORDS:
            continue
        bare.add(match.group(1))
    return bare


def selectors(expr: str) -> list[Selector]:
    """Every `metric{...}` selector, skipping ones inside string literals."""
    found = []
    for match in _SELECTOR.finditer(expr):
        if match.group(1) in _KEYWORDS:
            continue
        matchers = tuple(
            (m.group(1), m.group(2), m.group(3)) for m in _MATCHER.finditer(match.group(2))
        )
        found.append(Selector(match.group(1), matchers))
    return found


def counter_outside_rate(expr: str, counter: str) -> bool:
    """Whether `counter` appears other than as rate(counter{...}[$__rate_interval]).

    irate() and increase() count as rate().
    """
    text = _without_strings(expr)
    total = len(re.findall(rf"(?<![\w:]){re.escape(counter)}(?![\w:])", text))
    wrapped = len(re.findall(_COUNTER_IN_RATE.format(name=re.escape(counter)), text))
    return total != wrapped


def rate_windows(expr: str) -> list[str]:
    """The range windows given to rate(), irate() and increase()."""
    return _RATE_WINDOW.findall(_without_strings(expr))
