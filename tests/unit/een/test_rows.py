import logging
from collections.abc import Callable
from typing import TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporter.een.rows import ProtocolError, parse_accounts, parse_devices
from exporter.state.model import AccountInfo, DeviceInfo, DeviceKind
from tests.strategies import JSON, LEAF
from tests.support import fuzz

T = TypeVar("T")

# The documentation's own example rows (een-api.md §2.2 and §3.1).
ACCOUNT_ROW = [
    "00004206", "Greater God", 0, 0, 1, 0, 0, 1, None, 0, 0, 0, 0, 0, 0,
    "20180228234555.722", 0, "Greater ID", 0,
    {"is_sso_enabled": 0, "timezone": "US/Central", "feature_flags": []},
    "A@GFIMLNQSUTYZcedgfhmqpsutvz",
]  # fmt: skip
CAMERA_ROW = [
    "00014750", "1000f60d", "Kitchen Camera", "camera", [["1002d096", "ATTD"]], "ATTD",
    "A@FIMLNSUTZcgfhmpsruwz", [], "c6d11f36-…", "20180224143453844", 1441847, "US/Central",
    -18000, 0, "*10.143.55.140", 0, "Panucci's Account", False, None, None,
    [None, None, None, None, "", None, ""], None, None, 0, [], 0, {},
]  # fmt: skip
BRIDGE_ROW = ["00014750", "1002d096", "Kitchen Bridge", "bridge", [["1000f60d", "ATTD"]], "ATTD"]


def test_account_rows_by_index() -> None:
    assert parse_accounts([ACCOUNT_ROW, ["00004207"]]) == [
        AccountInfo("00004206", "Greater God"),
        AccountInfo("00004207", "00004207"),  # no name: the id stands in
    ]


def test_device_rows_by_index() -> None:
    assert parse_devices([CAMERA_ROW, BRIDGE_ROW + [None] * 4 + [1179649]]) == [
        DeviceInfo("1000f60d", DeviceKind.CAMERA, "Kitchen Camera", "1002d096", 1441847),
        DeviceInfo("1002d096", DeviceKind.BRIDGE, "Kitchen Bridge", "", 1179649),
    ]


def test_short_bridge_row_has_unknown_status() -> None:
    assert parse_devices([BRIDGE_ROW]) == [
        DeviceInfo("1002d096", DeviceKind.BRIDGE, "Kitchen Bridge", "", 0)
    ]


def test_longer_rows_are_tolerated() -> None:
    [device] = parse_devices([[*CAMERA_ROW, {"flag": True}, "more", 42]])
    assert device.id == "1000f60d"


@pytest.mark.parametrize(
    ("index", "value"),
    [
        (5, "IGND"),  # not attached: available, not monitored
        (15, 1),  # shared into this account: monitored where it belongs
        (3, "speaker"),  # not a device type we monitor
        (1, None),  # no ESN
    ],
)
def test_rows_that_are_not_monitored(index: int, value: object) -> None:
    row = list(CAMERA_ROW)
    row[index] = value
    assert parse_devices([row]) == []


def test_camera_prefers_the_attached_bridge() -> None:
    row = list(CAMERA_ROW)
    row[4] = [["10000001", "IGND"], ["10000002", "ATTD"]]
    assert parse_devices([row])[0].bridge_id == "10000002"


def test_non_integer_status_is_unknown() -> None:
    row = list(CAMERA_ROW)
    row[10] = "1441847"
    assert parse_devices([row])[0].status == 0


def test_non_array_answer_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="expected a JSON array"):
        parse_devices({"error": "nope"})


@pytest.mark.parametrize("status", [2**64 + 0x120024, -0x120024])
def test_a_device_list_status_outside_64_bits_is_unknown(status: int) -> None:
    row = list(CAMERA_ROW)
    row[10] = status
    [device] = parse_devices([row])
    assert device.status == 0  # unknown, not decoded from the low bits


def test_rows_whose_ids_would_reach_metrics_altered_are_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # "c\x00" and "c\x01" would both be shown as "c\ufffd": two series of one name and labels.
    cameras = [[CAMERA_ROW[0], esn, *CAMERA_ROW[2:]] for esn in ("c\x00", "c\x01", "c" * 257)]
    assert parse_devices([*cameras, CAMERA_ROW])[0].id == "1000f60d"
    assert len(parse_devices(cameras)) == 0
    assert parse_accounts([["a\u2028", "A"], ["a" * 256, "B"]]) == [AccountInfo("a" * 256, "B")]
    assert caplog.text.count("row skipped, its id is not printable text") == 7


# --- fuzzing ------------------------------------------------------------------------------------

LIKELY = st.sampled_from(
    ["camera", "bridge", "multiview_camera", "ATTD", "IGND", "1000f60d", 1, True, 0x1E0037]
)
LINKS = st.lists(st.lists(st.sampled_from(["1002d096", "ATTD", ""]) | JSON, max_size=3), max_size=3)
CELL = LEAF | LIKELY | LINKS | st.dictionaries(st.text(max_size=2), LEAF, max_size=2)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def parsed(parse: Callable[[object], list[T]], payload: object) -> tuple[list[T], int]:
    """What `parse` made of `payload` ([] after a ProtocolError), and the lines it logged."""
    logger = logging.getLogger("exporter.een.rows")
    records = Records()
    logger.addHandler(records)
    try:
        return parse(payload), len(records.records)
    except ProtocolError:
        assert not isinstance(payload, list)
        return [], len(records.records)
    finally:
        logger.removeHandler(records)


PLAUSIBLE = {  # index: what EEN puts there, often enough for fuzzed rows to get far
    1: st.sampled_from(["1000f60d", "1002d096", "c\x00", "x" * 257]),
    3: st.sampled_from(["camera", "bridge", "multiview_camera", "speaker"]),
    4: LINKS,
    5: st.sampled_from(["ATTD", "IGND"]),
    10: st.integers(0, 2**64 - 1),
    15: st.sampled_from([0, 1, True, False]),
}


@st.composite
def device_rows(draw: st.DrawFn) -> list[object]:
    """A row of any length holding anything; where the parser looks, often a plausible value."""
    length = draw(st.integers(0, 17))
    row = draw(st.lists(CELL, min_size=length, max_size=length))
    for index, plausible in PLAUSIBLE.items():
        if index < len(row) and draw(st.booleans()):
            row[index] = draw(plausible)
    return row


@fuzz(examples=150)
@given(st.lists(device_rows() | JSON, max_size=5) | JSON)
def test_any_device_list_gives_devices_or_a_protocol_error(payload: object) -> None:
    devices, lines = parsed(parse_devices, payload)
    assert lines <= (len(payload) if isinstance(payload, list) else 0)  # one line a row at most
    for device in devices:
        assert device.id.isprintable()
        assert 0 < len(device.id) <= 256
        assert isinstance(device.kind, DeviceKind)
        assert isinstance(device.name, str)
        assert device.name
        assert isinstance(device.bridge_id, str)
        assert type(device.status) is int
        assert 0 <= device.status < 2**64


@fuzz(examples=100)
@given(st.lists(st.lists(CELL, max_size=3) | JSON, max_size=5) | JSON)
def test_any_account_list_gives_accounts_or_a_protocol_error(payload: object) -> None:
    accounts, lines = parsed(parse_accounts, payload)
    assert lines <= (len(payload) if isinstance(payload, list) else 0)
    for account in accounts:
        assert account.id.isprintable()
        assert 0 < len(account.id) <= 256
        assert isinstance(account.name, str)
        assert account.name
