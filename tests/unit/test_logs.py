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
    REDACTED,
    LineFormatter,
    SecretRegistry,
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
