"""Parsing of poll-stream messages (een-api.md §4.2).

>>> parse_message('{"status_code": 200, "message": "OK", "data": {"100e1e23": {"status": 5}}}')
... # doctest: +NORMALIZE_WHITESPACE
StreamMessage(code=200, text='OK', statuses={'100e1e23': 5}, errors={}, malformed={},
              events=[], bad_events=[])
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from exporter.een.events import CODES, BadEvent, parse_event
from exporter.state.model import Event
from exporter.state.status import valid_bitmask
from exporter.transport import jsontext

OK = 200
MALFORMED_REQUEST = 400
ACCESS_DENIED = 401
NOT_FOUND = 404
DROPPED = 410
AUTH_LOST = 412


class MalformedMessage(ValueError):
    """A frame that is not a JSON object in the documented envelope."""


@dataclass(slots=True)
class EntityError:
    code: int
    text: str


@dataclass(slots=True)
class StreamMessage:
    code: int
    text: str
    statuses: dict[str, int] = field(default_factory=dict)  # ESN -> status bitmask
    errors: dict[str, EntityError] = field(default_factory=dict)  # ESN -> why it was refused
    malformed: dict[str, str] = field(default_factory=dict)  # ESN -> its unusable status, shown
    events: list[Event] = field(default_factory=list)
    bad_events: list[RefusedEvent] = field(default_factory=list)  # each is one log line


@dataclass(slots=True)
class RefusedEvent:
    """An event that was skipped, and why (safe to log: shown values are cut short)."""

    device_id: str
    code: str
    reason: str


def parse_message(raw: str | bytes) -> StreamMessage:
    try:
        envelope = jsontext.loads(raw)
    except ValueError as exc:
        raise MalformedMessage(f"not JSON: {exc}") from None
    except RecursionError:
        raise MalformedMessage("JSON nested too deeply") from None
    if not isinstance(envelope, dict):
        raise MalformedMessage(f"expected a JSON object, got {type(envelope).__name__}")
    code = _integer(envelope.get("status_code"))
    if code is None:
        raise MalformedMessage("no integer status_code")
    text = envelope.get("message")
    message = StreamMessage(code, text if isinstance(text, str) else "")
    data = envelope.get("data")
    if data is None:
        return message
    if not isinstance(data, dict):
        raise MalformedMessage(f"data is {type(data).__name__}, not an object")
    for esn, entity in data.items():
        _read_entity(message, esn, entity)
    return message


def _read_entity(message: StreamMessage, esn: str, entity: object) -> None:
    if not isinstance(entity, dict):
        return
    if "status" in entity:
        status = valid_bitmask(entity["status"])
        if status is None:
            message.malformed[esn] = _shown(entity["status"])
        else:
            message.statuses[esn] = status
    errors = entity.get("error")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        text = first.get("message")
        code = _integer(first.get("status_code")) or 0
        message.errors[esn] = EntityError(code, text if isinstance(text, str) else "")
    events = entity.get("event")
    if events is not None:
        _read_events(message, esn, events)


def _read_events(message: StreamMessage, esn: str, events: object) -> None:
    """Each event of a known code, or why it was skipped; codes the exporter does not know
    are passed over (it never asks for them)."""
    if not isinstance(events, dict):
        message.bad_events.append(RefusedEvent(esn, "", "event is not an object"))
        return
    for code, body in events.items():
        if code not in CODES:
            continue
        try:
            message.events.append(parse_event(esn, code, body))
        except BadEvent as exc:
            message.bad_events.append(RefusedEvent(esn, code, str(exc)))


def _integer(value: object) -> int | None:
    """`value` if it is a JSON integer; JSON's true and false are Python ints too."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _shown(value: object, limit: int = 40) -> str:
    """A value for a log line, cut short: a JSON integer may have thousands of digits."""
    if isinstance(value, list | dict):
        return "an array" if isinstance(value, list) else "an object"
    text = json.dumps(value[:limit] if isinstance(value, str) else value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def subscription(esns: list[str]) -> str:
    """The message that subscribes ESNs to the `status` resource."""
    return json.dumps({"cameras": {esn: {"resource": ["status"]} for esn in esns}})


def subscribe(devices: Mapping[str, Sequence[str]]) -> str:
    """The message that subscribes devices to `status`, and each to its event codes (none:
    `status` only).

    >>> subscribe({"1000f60d": ["PRTH"]})
    '{"cameras": {"1000f60d": {"resource": ["status", "event"], "event": ["PRTH"]}}}'
    """
    return json.dumps(
        {
            "cameras": {
                esn: {"resource": ["status", "event"], "event": list(codes)}
                if codes
                else {"resource": ["status"]}
                for esn, codes in devices.items()
            }
        }
    )


def unsubscription(esns: list[str]) -> str:
    """The message that drops ESNs from the stream."""
    return json.dumps({"drop": {"cameras": esns, "keys": []}})
