import calendar
import json

import pytest

from exporter.een.events import CODES, DEFAULT, BadEvent, parse_event, parse_timestamp, select
from exporter.een.messages import RefusedEvent, parse_message
from exporter.state.model import Event, EventSelection


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("19700101000000.000", 0),
        ("20161128063213.516", calendar.timegm((2016, 11, 28, 6, 32, 13)) * 1000 + 516),
        ("20240229235959.999", calendar.timegm((2024, 2, 29, 23, 59, 59)) * 1000 + 999),
    ],
)
def test_timestamps_are_exact_milliseconds(text: str, expected: int) -> None:
    assert parse_timestamp(text) == expected


NOW = calendar.timegm((2025, 1, 1, 12, 0, 0))  # Unix seconds


@pytest.mark.parametrize(
    "text",
    [
        "99991231235959.999",  # issue 19 item 15: was accepted, as 253402300799.999
        "21000101000000.000",
        "20250102120000.001",  # a day and a millisecond ahead
    ],
)
def test_timestamps_more_than_a_day_ahead_are_refused(text: str) -> None:
    with pytest.raises(BadEvent, match=f"timestamp {text} is more than a day ahead"):
        parse_timestamp(text, now=NOW)


def test_a_day_ahead_is_still_taken_and_the_default_clock_is_this_machines() -> None:
    # A bridge's clock may be off, or a time zone mixed up: up to a day ahead is EEN's time.
    assert parse_timestamp("20250102120000.000", now=NOW) == (NOW + 86_400) * 1000
    with pytest.raises(BadEvent, match="more than a day ahead"):
        parse_timestamp("99991231235959.999")
    assert parse_timestamp("20161128063213.516") == 1480314733516


@pytest.mark.parametrize(
    "text",
    [
        None,
        20161128063213.516,
        "",
        "20161128063213",  # no milliseconds
        "20161128063213.5",
        "2016-11-28T06:32:13.516Z",
        "20161128063213,516",
        "2016112806321.3516",
        "20161328063213.516",  # month 13
        "20230229063213.516",  # not a leap year
        "20161128243213.516",  # hour 24
        "20161128066013.516",
        "20161128063260.516",  # no leap seconds
        "19691231235959.999",  # before 1970
        "2016112806321٣.516",  # a non-ASCII digit
        "+0161128063213.516",
    ],
)
def test_malformed_timestamps_are_refused(text: object) -> None:
    with pytest.raises(BadEvent, match="timestamp"):
        parse_timestamp(text)


def cssu(**fields: object) -> dict[str, object]:
    body: dict[str, object] = {
        "timestamp": "20250101120000.250",
        "cameraid": "1000f60d",
        "streamtype": "video",
        "streamformat": "h264",
        "total_expected": 7200,
        "total_rcvd": 7000,
        "delta_expected": 7200,
        "delta_rcvd": 7000,
        "interval": 60,
        "streamid": 17,
    }
    return body | fields


def test_stream_statistics_carry_the_interval_counts() -> None:
    event = parse_event("1000f60d", "CSSU", cssu())
    assert (event.code, event.expected, event.received) == ("CSSU", 7200, 7000)
    assert event.at_ms == calendar.timegm((2025, 1, 1, 12, 0, 0)) * 1000 + 250


@pytest.mark.parametrize(
    "fields",
    [
        {"delta_expected": -1},
        {"delta_rcvd": "7000"},
        {"delta_rcvd": True},
        {"delta_expected": 2**53 + 1},
        {"delta_expected": 1.5},
        {"delta_rcvd": None},
    ],
)
def test_stream_statistics_with_unusable_counts_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(BadEvent, match="delta_"):
        parse_event("1000f60d", "CSSU", cssu(**fields))


def test_cloud_disconnects_carry_their_duration() -> None:
    body = {"timestamp": "20250101120000.000", "cameraid": "1002d096", "reason": "x", "seconds": 42}
    assert parse_event("1002d096", "CCLD", body).seconds == 42.0
    for seconds in (-1, "42", float("nan"), None):
        with pytest.raises(BadEvent, match="seconds"):
            parse_event("1002d096", "CCLD", body | {"seconds": seconds})


def test_other_codes_need_only_their_timestamp() -> None:
    event = parse_event("1002d096", "BBOO", {"timestamp": "20250101120000.000", "booted": 1})
    assert event == Event("1002d096", "BBOO", calendar.timegm((2025, 1, 1, 12, 0, 0)) * 1000)
    with pytest.raises(BadEvent, match="not an object"):
        parse_event("1002d096", "BBOO", [1, 2])


def test_selection_splits_camera_and_bridge_codes_in_order() -> None:
    # CSSU is counted, but by default without een_camera_events_total series of its own.
    assert select(["CCLD", "PRTH", "BBOO", "CSSU", "PRTH"]) == EventSelection(
        ("PRTH", "CSSU"), ("CCLD", "BBOO"), ("CSSU",)
    )
    assert select(["CSSU"], cssu_series=True) == EventSelection(("CSSU",), ())
    assert set(DEFAULT) <= set(CODES)


def envelope(data: dict[str, object]) -> str:
    return json.dumps({"status_code": 200, "message": "OK", "data": data})


def test_a_message_may_carry_a_status_and_several_events_per_device() -> None:
    message = parse_message(
        envelope(
            {
                "1000f60d": {
                    "status": 0x120025,
                    "event": {
                        "CSDU": {"timestamp": "20250101120000.000", "cameraid": "1000f60d"},
                        "VREE": {"timestamp": "20250101120000.001", "cameraid": "1000f60d"},
                    },
                },
                "1000f60e": {"event": {"PRTH": {"timestamp": "20250101120000.002"}}},
            }
        )
    )
    assert message.statuses == {"1000f60d": 0x120025}
    assert [(e.device_id, e.code, e.at_ms % 1000) for e in message.events] == [
        ("1000f60d", "CSDU", 0),
        ("1000f60d", "VREE", 1),
        ("1000f60e", "PRTH", 2),
    ]
    assert message.bad_events == []


def test_a_malformed_event_is_skipped_alone() -> None:
    message = parse_message(
        envelope(
            {
                "1000f60d": {
                    "status": 0x1E0037,
                    "event": {
                        "PRTH": {"timestamp": "yesterday"},
                        "COBC": {"timestamp": "20250101120000.000"},
                        "ZZZZ": "codes the exporter does not know are passed over",
                    },
                },
                "1000f60e": {"event": ["not", "an", "object"]},
                "1000f60f": {"event": {"CSSU": cssu(delta_rcvd=-5)}},
            }
        )
    )
    assert message.statuses == {"1000f60d": 0x1E0037}
    assert [(e.device_id, e.code) for e in message.events] == [("1000f60d", "COBC")]
    assert message.bad_events == [
        RefusedEvent("1000f60d", "PRTH", "timestamp 'yesterday' is not YYYYMMDDhhmmss.xxx"),
        RefusedEvent("1000f60e", "", "event is not an object"),
        RefusedEvent("1000f60f", "CSSU", "delta_rcvd -5 is not a count from 0 to 2^53"),
    ]


def test_a_future_timestamp_loses_nothing_else_in_its_message() -> None:
    message = parse_message(
        envelope(
            {
                "1000f60d": {
                    "status": 0x1E0037,
                    "event": {
                        "PRTH": {"timestamp": "99991231235959.999"},
                        "COBC": {"timestamp": "20250101120000.000"},
                        "CSSU": cssu(timestamp="99991231235959.999"),
                    },
                },
                "1000f60e": {"status": 0x100025, "event": {"CSSU": cssu()}},
            }
        )
    )
    assert message.statuses == {"1000f60d": 0x1E0037, "1000f60e": 0x100025}
    assert [(e.device_id, e.code) for e in message.events] == [
        ("1000f60d", "COBC"),
        ("1000f60e", "CSSU"),
    ]
    reason = "timestamp 99991231235959.999 is more than a day ahead of this machine's clock"
    assert message.bad_events == [
        RefusedEvent("1000f60d", "PRTH", reason),
        RefusedEvent("1000f60d", "CSSU", reason),
    ]


def test_a_long_bad_value_is_cut_short_in_the_reason() -> None:
    message = parse_message(envelope({"a": {"event": {"PRTH": {"timestamp": "9" * 10_000}}}}))
    [refused] = message.bad_events
    assert len(refused.reason) < 100
