"""JSON from EEN, read as json.loads reads it, except for integers too long to convert.

CPython refuses to convert an integer of more than 4,300 digits (a guard against slow
conversions), and json.loads then fails the whole document. Here such an integer is read as
infinity instead (negative ones as minus infinity): one absurd value is unusable on its own,
and the other values in the message or list are kept.

>>> loads('{"a": 1, "b": -' + "9" * 5000 + "}")
{'a': 1, 'b': -inf}
"""

from __future__ import annotations

import json
import math


def loads(raw: str | bytes) -> object:
    """Raises ValueError for what is not JSON, RecursionError for JSON nested too deeply."""
    try:
        return json.loads(raw)
    except ValueError:
        # Tried again only after a failure: parse_int costs a Python call per integer.
        return json.loads(raw, parse_int=_integer)


def _integer(digits: str) -> int | float:
    try:
        return int(digits)
    except ValueError:  # more digits than int() converts
        return -math.inf if digits.startswith("-") else math.inf
