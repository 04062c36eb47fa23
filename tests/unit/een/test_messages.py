import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporter.een.messages import (
    EntityError,
    MalformedMessage,
    parse_message,
    subscription,
    unsubscription,
)
from tests.strategies import ABSENT, WIRE, envelopes, to_json
from tests.support import fuzz


def test_status_update_envelope() -> None:
    raw = {"status_code": 200, "message": "OK", "data": {"a1": {"status": 1}, "b2": {"status": 2}}}
    message = parse_message(json.dumps(raw).encode())
    assert (message.code, message.text) == (200, "OK")
    assert message.statuses == {"a1": 1, "b2": 2}
    assert message.errors == {}


def test_per_entity_error() -> None:
    raw = {
        "status_code": 200,
        "message": "OK",
        "data": {"09999999": {"error": [{"status_code": 404, "message": "resolve invalid"}]}},
    }
    message = parse_message(json.dumps(raw))
    assert message.errors == {"09999999": EntityError(404, "resolve invalid")}
    assert message.statuses == {}


def test_request_level_error_without_data() -> None:
    message = parse_message('{"status_code": 412, "message": "auth lost"}')
    assert (message.code, message.text, message.statuses) == (412, "auth lost", {})


def test_other_resources_are_ignored() -> None:
    raw = {"status_code": 200, "data": {"a1": {"event": {"VREE": {}}}, "b2": {"status": True}}}
    assert parse_message(json.dumps(raw)).statuses == {}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"message": "OK"}', "status_code"),
        (b'{"status_code": 200, "data": [1]}', "data is list"),
    ],
)
def test_malformed_messages(raw: bytes, reason: str) -> None:
    with pytest.raises(MalformedMessage, match=reason):
        parse_message(raw)


def test_subscription_messages() -> None:
    assert json.loads(subscription(["a1", "b2"])) == {
        "cameras": {"a1": {"resource": ["status"]}, "b2": {"resource": ["status"]}}
    }
    assert json.loads(unsubscription(["a1"])) == {"drop": {"cameras": ["a1"], "keys": []}}


def test_json_nested_too_deeply_is_malformed() -> None:
    deep = b'{"status_code": 200, "data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(MalformedMessage, match="nested too deeply"):
        parse_message(deep)


@pytest.mark.parametrize(
    "status",
    [2**64 + 0x20024, 2**64, -1, -(2**64), pytest.param(10**1000, id="10^1000")],
)
def test_a_status_outside_64_bits_is_malformed_not_decoded_from_its_low_bits(status: int) -> None:
    raw = {"status_code": 200, "data": {"bad": {"status": status}, "good": {"status": 5}}}
    message = parse_message(json.dumps(raw))
    assert message.statuses == {"good": 5}  # the other camera's value is kept
    assert list(message.malformed) == ["bad"]
    assert len(message.malformed["bad"]) <= 40  # cut short for the log line


def test_a_status_too_long_for_int_leaves_the_rest_of_the_message() -> None:
    # Found by fuzzing: json.loads refused the whole message over one 4,301-digit integer.
    status = "9" * 4301
    message = parse_message(
        '{"status_code": 200, "data": {"good": {"status": 5}, "bad": {"status": ' + status + "}}}"
    )
    assert message.statuses == {"good": 5}
    assert message.malformed == {"bad": "Infinity"}


@pytest.mark.parametrize("code", ["true", "false", "200.0", '"200"', "null"])
def test_a_status_code_that_is_no_integer_is_malformed(code: str) -> None:
    # Found by fuzzing: JSON's true was taken for the integer 1.
    with pytest.raises(MalformedMessage, match="no integer status_code"):
        parse_message('{"status_code": ' + code + ', "data": {"a": {"status": 5}}}')


def test_the_largest_64_bit_status_is_kept() -> None:
    message = parse_message(json.dumps({"status_code": 200, "data": {"a": {"status": 2**64 - 1}}}))
    assert message.statuses == {"a": 2**64 - 1}
    assert message.malformed == {}


# --- fuzzing ------------------------------------------------------------------------------------


@fuzz(examples=100)
@given(envelopes())
def test_any_envelope_is_parsed_or_malformed(envelope: dict[str, object]) -> None:
    try:
        message = parse_message(to_json(envelope).encode())
    except MalformedMessage:
        code = envelope["status_code"]
        assert type(code) is not int or not isinstance(envelope["data"], dict | None)
        return
    assert type(message.code) is int
    data = envelope["data"] or {}
    assert isinstance(data, dict)
    for esn, entity in data.items():
        status = entity.get("status", ABSENT) if isinstance(entity, dict) else ABSENT
        if type(status) is int and 0 <= status < 2**64:
            assert message.statuses.pop(esn) == status
        elif status is not ABSENT:
            assert len(message.malformed.pop(esn)) <= 40
    assert message.statuses == {}
    assert message.malformed == {}


@fuzz(examples=200)
@given(st.binary(max_size=200) | WIRE.map(to_json).map(str.encode))
def test_any_bytes_are_parsed_or_malformed(raw: bytes) -> None:
    with contextlib.suppress(MalformedMessage):
        parse_message(raw)
