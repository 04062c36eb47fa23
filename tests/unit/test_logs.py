"""Log lines: logfmt and JSON rendering, exception fields, secret redaction, configuration."""

from __future__ import annotations

import calendar
import io
import json
import logging
import secrets
import sys
from collections.abc import Iterator

import pytest

from exporter.config import LogFormat
from exporter.logs import (
    LINE_LIMIT,
    RATE_BURST,
    RATE_WINDOW,
    REDACTED,
    SUPPRESSED,
    VALUE_LIMIT,
    LineFormatter,
    RateLimit,
    SecretRegistry,
    _LineHandler,
    configure_logging,
    redact,
    register_secret,
)

QUIET_LOGGERS = ("urllib3", "websocket", "websockets")
# 2026-11-24T10:00:00.123Z
CREATED = calendar.timegm((2026, 11, 24, 10, 0, 0)) + 0.123


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """Logging configured to a buffer; the root logger and quiet loggers restored afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    saved_quiet = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    buffer = io.StringIO()
    try:
        yield buffer
    finally:
        for handler in list(root.handlers):
            if isinstance(handler.formatter, LineFormatter) and handler not in saved_handlers:
                root.removeHandler(handler)
        root.setLevel(saved_level)
        for name, level in saved_quiet.items():
            logging.getLogger(name).setLevel(level)


def lines(buffer: io.StringIO) -> list[str]:
    return buffer.getvalue().splitlines()


def one_line(buffer: io.StringIO) -> str:
    written = buffer.getvalue()
    assert written.count("\n") == 1, written
    assert written.endswith("\n")
    return written[:-1]


def secret() -> str:
    return f"s3cret-{secrets.token_hex(8)}"


def record(message: str = "stream up", **extra: object) -> logging.LogRecord:
    made = logging.getLogger("exporter.stream").makeRecord(
        "exporter.stream", logging.INFO, __file__, 1, message, (), None, extra=extra
    )
    made.created = CREATED
    return made


# --- logfmt -----------------------------------------------------------------------------------


def test_logfmt_line() -> None:
    line = LineFormatter(LogFormat.LOGFMT).format(
        record(account_id="00001234", reason="connection reset")
    )
    assert line == (
        "ts=2026-11-24T10:00:00.123Z level=info logger=exporter.stream "
        'msg="stream up" account_id=00001234 reason="connection reset"'
    )


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        ("plain", "plain"),
        ("café", "café"),
        ("two words", '"two words"'),
        ("a=b", '"a=b"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("C:\\dir", '"C:\\\\dir"'),
        ("line1\nline2", '"line1\\nline2"'),
        ("tab\there", '"tab\\there"'),
        ("", '""'),
        (42, "42"),
        (1.5, "1.5"),
        (True, "true"),
        (None, "null"),
    ],
)
def test_logfmt_value_quoting(value: object, rendered: str) -> None:
    line = LineFormatter(LogFormat.LOGFMT).format(record(field=value))
    assert line.endswith(f" field={rendered}")


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        (2.3456789012345678, "2.346"),  # a jittered retry_in used to show 16 decimals
        (37.0, "37.0"),
        (1234567.891234, "1234567.891"),
        (0.123456789, "0.123"),
        (0.000123456, "0.000123"),
        (-7.65432, "-7.654"),
        (0.0, "0.0"),
    ],
)
def test_floats_are_rounded_in_both_formats(value: float, rendered: str) -> None:
    logfmt = LineFormatter(LogFormat.LOGFMT).format(record(retry_in=value))
    assert logfmt.endswith(f" retry_in={rendered}")
    assert json.loads(LineFormatter(LogFormat.JSON).format(record(retry_in=value)))[
        "retry_in"
    ] == float(rendered)


def test_logfmt_message_with_newline_stays_on_one_line(stream: io.StringIO) -> None:
    configure_logging("info", LogFormat.LOGFMT, stream)
    logging.getLogger("exporter.test").info('first\nsecond "quoted"')
    assert one_line(stream).endswith('msg="first\\nsecond \\"quoted\\""')


def test_field_keys_cannot_break_the_line() -> None:
    line = LineFormatter(LogFormat.LOGFMT).format(record(**{"bad key=x": "v"}))
    assert line.endswith(" bad_key_x=v")


def test_level_names_are_lower_case(stream: io.StringIO) -> None:
    configure_logging("debug", LogFormat.LOGFMT, stream)
    log = logging.getLogger("exporter.test")
    log.debug("d")
    log.warning("w")
    log.critical("c")
    levels = [line.split(" ")[1] for line in lines(stream)]
    assert levels == ["level=debug", "level=warning", "level=critical"]


# --- JSON -------------------------------------------------------------------------------------


def test_json_line_has_the_same_keys() -> None:
    line = LineFormatter(LogFormat.JSON).format(
        record(account_id="00001234", reason="connection reset", cameras=3, up=False, gone=None)
    )
    assert json.loads(line) == {
        "ts": "2026-11-24T10:00:00.123Z",
        "level": "info",
        "logger": "exporter.stream",
        "msg": "stream up",
        "account_id": "00001234",
        "reason": "connection reset",
        "cameras": 3,
        "up": False,
        "gone": None,
    }
    assert list(json.loads(line)) == [
        "ts",
        "level",
        "logger",
        "msg",
        "account_id",
        "reason",
        "cameras",
        "up",
        "gone",
    ]


def test_json_non_scalar_and_non_finite_values_become_strings() -> None:
    line = LineFormatter(LogFormat.JSON).format(record(ids=["a", "b"], ratio=float("nan")))
    fields = json.loads(line)
    assert (fields["ids"], fields["ratio"]) == ("['a', 'b']", "nan")


def test_json_one_object_per_line(stream: io.StringIO) -> None:
    configure_logging("info", LogFormat.JSON, stream)
    log = logging.getLogger("exporter.test")
    log.info("a\nb", extra={"reason": "x\ny"})
    log.info("second")
    parsed = [json.loads(line) for line in lines(stream)]
    assert [(item["msg"], item.get("reason")) for item in parsed] == [
        ("a\nb", "x\ny"),
        ("second", None),
    ]


# --- exceptions -------------------------------------------------------------------------------


def raise_and_log(log: logging.Logger, **extra: object) -> None:
    try:
        raise ConnectionResetError("peer went away")
    except ConnectionResetError:
        log.exception("stream down", extra=extra)


def test_exception_fields_in_logfmt(stream: io.StringIO) -> None:
    configure_logging("info", LogFormat.LOGFMT, stream)
    raise_and_log(logging.getLogger("exporter.stream"), account_id="00001234")
    line = one_line(stream)
    assert (
        'msg="stream down" account_id=00001234 error="ConnectionResetError: peer went away" '
        in line
    )
    stack = line.split(" stack=", 1)[1]
    assert stack.startswith('"Traceback (most recent call last):\\n')
    assert "in raise_and_log\\n" in stack
    assert stack.endswith('ConnectionResetError: peer went away"')


def test_exception_fields_in_json(stream: io.StringIO) -> None:
    configure_logging("info", LogFormat.JSON, stream)
    raise_and_log(logging.getLogger("exporter.stream"))
    fields = json.loads(one_line(stream))
    assert fields["level"] == "error"
    assert fields["error"] == "ConnectionResetError: peer went away"
    assert fields["stack"].startswith("Traceback (most recent call last):\n")
    assert fields["stack"].endswith("ConnectionResetError: peer went away")


def test_exception_type_outside_builtins_is_qualified() -> None:
    try:
        json.loads("{")
    except json.JSONDecodeError:
        made = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, __file__, 1, "bad", (), sys.exc_info()
        )
    fields = json.loads(LineFormatter(LogFormat.JSON).format(made))
    assert fields["error"].startswith("json.decoder.JSONDecodeError: Expecting")


def test_extra_field_named_like_a_built_in_one_is_kept(stream: io.StringIO) -> None:
    configure_logging("info", LogFormat.JSON, stream)
    raise_and_log(logging.getLogger("exporter.stream"), error="mine", level="also mine")
    fields = json.loads(one_line(stream))
    assert (fields["level"], fields["level_"]) == ("error", "also mine")
    assert (fields["error"], fields["error_"]) == ("mine", "ConnectionResetError: peer went away")


def test_log_exception_without_an_exception_has_no_error_field(stream: io.StringIO) -> None:
    configure_logging("info", LogFormat.JSON, stream)
    logging.getLogger("exporter.test").exception("nothing raised")
    assert "error" not in json.loads(one_line(stream))


def test_mismatched_arguments_log_the_message_without_them() -> None:
    # Built by hand: pytest's own log capture fails a test that logs bad arguments.
    made = logging.makeLogRecord({"msg": "login %s %s", "args": ("only-one",), "created": CREATED})
    line = LineFormatter(LogFormat.LOGFMT).format(made)
    assert 'msg="login %s %s (log arguments did not match the message)"' in line
    assert "only-one" not in line


# --- redaction --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(LogFormat))
def test_secret_redacted_in_message_arguments_fields_and_traceback(
    stream: io.StringIO, fmt: LogFormat
) -> None:
    password, session_key = secret(), secret()
    register_secret(password)
    register_secret(session_key)
    configure_logging("info", fmt, stream)
    log = logging.getLogger("exporter.session")
    log.info(f"password {password}")
    log.info("session %s", session_key)
    log.info("cookie", extra={"cookie": f"auth_key={session_key}; path=/"})
    try:
        raise PermissionError(f"refused {password}")
    except PermissionError:
        log.exception("login failed")
    written = stream.getvalue()
    assert password not in written
    assert session_key not in written
    # message, argument, field, error, and the traceback's last line
    assert written.count(REDACTED) == 5


@pytest.mark.parametrize("fmt", list(LogFormat))
def test_secret_with_characters_that_get_escaped_is_redacted(
    stream: io.StringIO, fmt: LogFormat
) -> None:
    password = f'p"a\\s s\n{secrets.token_hex(4)}'
    register_secret(password)
    configure_logging("info", fmt, stream)
    logging.getLogger("exporter.session").info("login", extra={"password": password})
    written = one_line(stream)
    assert secrets_fragment(password) not in written
    assert REDACTED in written


def secrets_fragment(password: str) -> str:
    """The random tail, which survives any escaping of the special characters before it."""
    return password.rsplit("\n", 1)[1]


def test_short_values_are_not_treated_as_secrets() -> None:
    register_secret("abc")
    assert redact("abc abc") == "abc abc"


def test_redact_for_other_outputs() -> None:
    api_key = secret()
    register_secret(api_key)
    assert redact(f"GET /g/account/list -> 401 for key {api_key}") == (
        f"GET /g/account/list -> 401 for key {REDACTED}"
    )


def test_registry_removes_the_longest_matching_secret() -> None:
    registry = SecretRegistry()
    registry.add("abcd1234")
    registry.add("abcd")
    assert registry.redact("xabcd1234y abcdz") == f"x{REDACTED}y {REDACTED}z"


def test_registry_forgets_the_oldest_beyond_its_limit_but_keeps_the_pinned() -> None:
    registry = SecretRegistry(limit=3, pinned=1)
    for value in ("password", "key-1", "key-2", "key-3", "key-4"):
        registry.add(value)
    assert len(registry) == 4
    assert registry.redact("password key-1 key-2 key-3 key-4") == (
        f"{REDACTED} key-1 {REDACTED} {REDACTED} {REDACTED}"
    )


def test_registry_registering_again_makes_a_secret_new() -> None:
    registry = SecretRegistry(limit=2, pinned=0)
    for value in ("key-1", "key-2", "key-1", "key-3"):
        registry.add(value)
    assert registry.redact("key-1 key-2 key-3") == f"{REDACTED} key-2 {REDACTED}"


def test_registry_holds_many_secrets() -> None:
    registry = SecretRegistry(limit=10_000)
    keys = [secrets.token_hex(16) for _ in range(12_000)]
    for key in keys:
        registry.add(key)
    assert len(registry) == 10_016
    assert registry.redact(f"a {keys[-1]} b {keys[0]} c") == f"a {REDACTED} b {REDACTED} c"
    assert registry.redact(f"{keys[20]}") == keys[20]


# --- length cap (issue 19 item 14: one malformed-status line was 660 KB) -----------------------


@pytest.mark.parametrize("fmt", list(LogFormat))
def test_a_long_value_keeps_its_start_and_says_how_long_it_was(fmt: LogFormat) -> None:
    statuses = ",".join(["9" * 38 + "..."] * 20_000)  # 860,000 characters
    line = LineFormatter(fmt).format(record("malformed", statuses=statuses, devices="a,b"))
    assert len(line) < VALUE_LIMIT + 200
    shown = json.loads(line)["statuses"] if fmt is LogFormat.JSON else line
    assert statuses[:VALUE_LIMIT] in shown
    assert f"…[cut, {len(statuses)} characters]" in shown
    assert "devices" in line  # the other fields stay


@pytest.mark.parametrize("fmt", list(LogFormat))
def test_a_line_is_capped_however_its_values_escape(fmt: LogFormat) -> None:
    # Each value within VALUE_LIMIT, but a control character is 6 once escaped (\u0001).
    fields = {f"field{i}": "\x01" * 5000 for i in range(20)}
    line = LineFormatter(fmt).format(record("hostile", **fields))
    assert len(line) <= LINE_LIMIT
    if fmt is LogFormat.JSON:
        parsed = json.loads(line)  # still one valid object, with every field
        assert all(f"field{i}" in parsed for i in range(20))
        assert parsed["msg"] == "hostile"


def test_a_long_message_and_a_long_error_are_cut(stream: io.StringIO) -> None:
    configure_logging("info", LogFormat.LOGFMT, stream)
    try:
        raise ValueError("x" * 100_000)
    except ValueError:
        logging.getLogger("exporter.test").exception("y" * 100_000)
    written = one_line(stream)
    assert len(written) <= LINE_LIMIT
    assert "…[cut, 100000 characters]" in written
    assert 'error="ValueError: xxx' in written


def test_an_integer_too_long_to_print_is_described(stream: io.StringIO) -> None:
    configure_logging("info", LogFormat.JSON, stream)
    logging.getLogger("exporter.test").warning("odd", extra={"status": int("9" * 4300) ** 2})
    assert json.loads(one_line(stream))["status"] == "an integer of more than 77 digits"


def test_a_cut_leaves_no_part_of_a_secret() -> None:
    password = secret()
    register_secret(password)
    for before in range(VALUE_LIMIT - len(password), VALUE_LIMIT + 1):
        value = "x" * before + password + "y" * VALUE_LIMIT
        line = LineFormatter(LogFormat.LOGFMT).format(record(reason=value))
        kept = line.split("reason=")[1]
        assert password[:4] not in kept, before  # not even its start
        assert ("x" * before)[:VALUE_LIMIT] in kept


def test_redact_with_a_limit_reads_only_what_it_keeps() -> None:
    registry = SecretRegistry()
    registry.add("abcd1234")
    assert registry.redact("xxabcd1234yy", 4) == f"xx{REDACTED}"
    assert registry.redact("xxabcd1234yy", 2) == "xx"
    assert registry.redact("xxabcd1234yy", 100) == f"xx{REDACTED}yy"
    assert SecretRegistry().redact("abcdef", 3) == "abc"


# --- rate limit (issue 19 item 14: five hostile frames made 40,000 lines, 9.2 MB) ----------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def warning(message: str = "malformed event ignored", **extra: object) -> logging.LogRecord:
    made = record(message, **extra)
    made.levelno, made.levelname = logging.WARNING, "WARNING"
    return made


def test_repeated_warnings_of_one_cause_and_account_pass_a_burst_then_are_counted() -> None:
    clock = Clock()
    limit = RateLimit(clock=clock)
    passed = [limit.admit(warning(account_id="a1", device_id=str(i))) for i in range(1000)]
    assert [admitted for admitted, _ in passed] == [True] * RATE_BURST + [False] * (
        1000 - RATE_BURST
    )
    assert all(summaries == [] for _, summaries in passed)
    # Another account, another cause, and lower levels have their own allowance.
    assert limit.admit(warning(account_id="a2"))[0]
    assert limit.admit(warning("device refused by the stream", account_id="a1"))[0]
    assert all(limit.admit(record("devices changed", account_id="a1"))[0] for _ in range(100))
    # The window ends: the next record, of any cause, brings the count first.
    clock.now += RATE_WINDOW
    admitted, [summary] = limit.admit(record("stream up", account_id="a9"))
    assert admitted
    assert summary.levelno == logging.WARNING
    assert summary.name == "exporter.stream"
    assert summary.getMessage() == SUPPRESSED
    fields = {"like": "malformed event ignored", "account_id": "a1",
              "suppressed": 1000 - RATE_BURST, "seconds": RATE_WINDOW}  # fmt: skip
    assert vars(summary) | fields == vars(summary)
    # And the cause starts over.
    assert limit.admit(warning(account_id="a1"))[0]


def test_a_count_is_reported_once_and_only_when_lines_were_suppressed() -> None:
    clock = Clock()
    limit = RateLimit(clock=clock)
    for _ in range(RATE_BURST):
        assert limit.admit(warning(account_id="a1")) == (True, [])
    clock.now += RATE_WINDOW
    assert limit.admit(warning(account_id="a1")) == (True, [])  # none suppressed: no summary
    limit.admit(warning(account_id="a1"))
    for _ in range(RATE_BURST + 5):
        limit.admit(warning(account_id="a1"))
    clock.now += RATE_WINDOW
    _, summaries = limit.admit(warning("other"))
    assert [s.suppressed for s in summaries] == [7]  # type: ignore[attr-defined]
    clock.now += RATE_WINDOW
    assert limit.admit(warning("other")) == (True, [])


def test_the_handler_writes_the_burst_and_later_the_count(stream: io.StringIO) -> None:
    configure_logging("info", LogFormat.LOGFMT, stream)
    clock = Clock()
    [handler] = [h for h in logging.getLogger().handlers if isinstance(h, _LineHandler)]
    handler._rate_limit = RateLimit(clock=clock)
    log = logging.getLogger("exporter.een.stream")
    for i in range(10_000):
        log.warning("malformed event ignored", extra={"account_id": "a1", "device_id": str(i)})
    assert len(lines(stream)) == RATE_BURST
    clock.now += RATE_WINDOW
    log.info("stream up", extra={"account_id": "a1"})
    *_, summary, last = lines(stream)
    assert summary.split(" ", 1)[1] == (
        f'level=warning logger=exporter.een.stream msg="{SUPPRESSED}" '
        f'like="malformed event ignored" account_id=a1 suppressed={10_000 - RATE_BURST} '
        f"seconds={RATE_WINDOW}"
    )
    assert 'msg="stream up"' in last


# --- configure_logging ------------------------------------------------------------------------


def test_reconfiguring_replaces_only_its_own_handler(stream: io.StringIO) -> None:
    other = logging.StreamHandler(io.StringIO())
    logging.getLogger().addHandler(other)
    try:
        configure_logging("info", LogFormat.LOGFMT, io.StringIO())
        configure_logging("info", LogFormat.JSON, stream)
        logging.getLogger("exporter.test").info("once")
        assert json.loads(one_line(stream))["msg"] == "once"
        assert other in logging.getLogger().handlers
    finally:
        logging.getLogger().removeHandler(other)


def test_level_filters_records(stream: io.StringIO) -> None:
    configure_logging("warning", LogFormat.LOGFMT, stream)
    log = logging.getLogger("exporter.test")
    log.info("dropped")
    log.warning("kept")
    assert [line.split("msg=")[1] for line in lines(stream)] == ["kept"]


@pytest.mark.parametrize("name", QUIET_LOGGERS)
def test_noisy_libraries_log_warnings_only(stream: io.StringIO, name: str) -> None:
    configure_logging("debug", LogFormat.LOGFMT, stream)
    log = logging.getLogger(f"{name}.connection")
    log.info("chatter")
    log.warning("problem")
    assert [line.split("msg=")[1] for line in lines(stream)] == ["problem"]


def test_noisy_libraries_follow_a_stricter_level(stream: io.StringIO) -> None:
    configure_logging("error", LogFormat.LOGFMT, stream)
    logging.getLogger("urllib3.connectionpool").warning("retrying")
    assert stream.getvalue() == ""


def test_stderr_by_default(stream: io.StringIO, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", LogFormat.LOGFMT)
    logging.getLogger("exporter.test").info("to stderr")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert 'msg="to stderr"' in captured.err


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level 'loud'"):
        configure_logging("loud", LogFormat.LOGFMT, io.StringIO())
