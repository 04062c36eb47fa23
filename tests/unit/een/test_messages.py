import json

import pytest

from exporter.een.messages import (
    EntityError,
    MalformedMessage,
    parse_message,
    subscription,
    unsubscription,
)


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


def test_the_largest_64_bit_status_is_kept() -> None:
    message = parse_message(json.dumps({"status_code": 200, "data": {"a": {"status": 2**64 - 1}}}))
    assert message.statuses == {"a": 2**64 - 1}
    assert message.malformed == {}
