"""Settings: sources and their precedence, validation, and errors that name the setting."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporter import __version__
from exporter.config import (
    ENVIRONMENT_VARIABLES,
    ApiVersion,
    ConfigError,
    LogFormat,
    Notice,
    Settings,
    load_settings,
)
from tests.support import fuzz

PASSWORD = "Pa55-w0rd secret"
API_KEY = "apikey-0123456789abcdef"
CREDENTIALS = {"EEN_USERNAME": "ops@example.com", "EEN_PASSWORD": PASSWORD}
ALL_ENV_VARS = (
    "EEN_USERNAME",
    "EEN_PASSWORD",
    "EEN_PASSWORD_FILE",
    "EEN_API_KEY",
    "EEN_API_KEY_FILE",
    "EEN_URL",
    "EEN_SIMULATOR_URL",
    "EEN_ACCOUNTS",
    "EEN_ACCOUNTS_EXCLUDE",
    "EEN_LISTEN_ADDRESS",
    "EEN_DEVICE_REFRESH_SECONDS",
    "EEN_LOGIN_CONCURRENCY",
    "EEN_STREAM_TIMEOUT_SECONDS",
    "EEN_BACKOFF_MAX_SECONDS",
    "EEN_EVENTS",
    "EEN_CSSU_EVENT_SERIES",
    "EEN_LOG_LEVEL",
    "EEN_LOG_FORMAT",
    "EEN_DEMO",
    "EEN_SHARD_INDEX",
    "EEN_SHARD_TOTAL",
    "EEN_WEB_CONFIG_FILE",
    "EEN_API",
    "EEN_CLIENT_ID",
    "EEN_CLIENT_SECRET",
    "EEN_CLIENT_SECRET_FILE",
    "EEN_TOKEN_FILE",
    "EEN_AVAILABILITY_OBJECTIVE",
    "EEN_AVAILABILITY_OBJECTIVES",
)


@pytest.fixture(autouse=True)
def _in_empty_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in an empty directory so that no stray ./.env is read."""
    monkeypatch.chdir(tmp_path)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def config_error(argv: list[str], environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(argv, environ)
    message = str(caught.value)
    assert "\n" not in message
    return message


# --- defaults and parsing ---------------------------------------------------------------------


def test_defaults_are_the_settings_defaults() -> None:
    settings = load_settings([], CREDENTIALS)
    assert settings == Settings(username="ops@example.com", password=PASSWORD)
    assert settings.url == "https://login.eagleeyenetworks.com"
    assert (settings.listen_host, settings.listen_port) == ("", 9877)
    assert settings.api_key is None
    assert settings.log_format is LogFormat.LOGFMT


def test_every_flag_is_parsed(tmp_path: Path) -> None:
    password_file = write(tmp_path / "password", "from-file\n")
    settings = load_settings(
        [
            "--een.username=flag@example.com",
            f"--een.password-file={password_file}",
            f"--een.api-key={API_KEY}",
            "--een.url=http://127.0.0.1:8080/",
            "--een.accounts=00001234, 00005678",
            "--een.accounts-exclude",
            "00009999",
            "--web.listen-address=127.0.0.1:0",
            "--een.device-refresh=12.5",
            "--een.login-concurrency=16",
            "--een.stream-timeout=5",
            "--een.backoff-max=1.5",
            "--log.level=DEBUG",
            "--log.format=json",
            "--demo",
            "--web.config.file=web.yml",
        ],
        {},
    )
    assert settings == Settings(
        username="flag@example.com",
        password="from-file",
        api_key=API_KEY,
        url="http://127.0.0.1:8080",
        accounts=frozenset({"00001234", "00005678"}),
        accounts_exclude=frozenset({"00009999"}),
        listen_host="127.0.0.1",
        listen_port=0,
        device_refresh_seconds=12.5,
        login_concurrency=16,
        stream_timeout_seconds=5.0,
        backoff_max_seconds=1.5,
        log_level="debug",
        log_format=LogFormat.JSON,
        demo=True,
        web_config_file=Path("web.yml"),
    )


def test_every_environment_variable_is_read(tmp_path: Path) -> None:
    password_file = write(tmp_path / "password", "from-file")
    environ = {
        "EEN_USERNAME": "env@example.com",
        "EEN_PASSWORD_FILE": str(password_file),
        "EEN_API_KEY": API_KEY,
        "EEN_URL": "https://c001.eagleeyenetworks.com",
        "EEN_ACCOUNTS": "a1",
        "EEN_ACCOUNTS_EXCLUDE": "a2,a3",
        "EEN_LISTEN_ADDRESS": "[::1]:9100",
        "EEN_DEVICE_REFRESH_SECONDS": "60",
        "EEN_LOGIN_CONCURRENCY": "2",
        "EEN_STREAM_TIMEOUT_SECONDS": "30",
        "EEN_BACKOFF_MAX_SECONDS": "120",
        "EEN_LOG_LEVEL": "warning",
        "EEN_LOG_FORMAT": "logfmt",
        "EEN_DEMO": "true",
        "EEN_WEB_CONFIG_FILE": "/etc/een-exporter/web-config.yml",
    }
    assert load_settings([], environ) == Settings(
        username="env@example.com",
        password="from-file",
        api_key=API_KEY,
        url="https://c001.eagleeyenetworks.com",
        accounts=frozenset({"a1"}),
        accounts_exclude=frozenset({"a2", "a3"}),
        listen_host="::1",
        listen_port=9100,
        device_refresh_seconds=60.0,
        login_concurrency=2,
        stream_timeout_seconds=30.0,
        backoff_max_seconds=120.0,
        log_level="warning",
        log_format=LogFormat.LOGFMT,
        demo=True,
        web_config_file=Path("/etc/een-exporter/web-config.yml"),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("00001234", {"00001234"}),
        (" 00001234 , 00005678 ,, ", {"00001234", "00005678"}),
        (",", set()),
    ],
)
def test_account_lists_tolerate_whitespace_and_empty_items(text: str, expected: set[str]) -> None:
    settings = load_settings(
        [], {**CREDENTIALS, "EEN_ACCOUNTS": text, "EEN_ACCOUNTS_EXCLUDE": text}
    )
    assert settings.accounts == expected
    assert settings.accounts_exclude == expected


@pytest.mark.parametrize(
    ("address", "host", "port"),
    [
        (":9877", "", 9877),
        ("127.0.0.1:0", "127.0.0.1", 0),
        ("[::1]:9877", "::1", 9877),
        ("0.0.0.0:9877", "0.0.0.0", 9877),  # noqa: S104 - parsing, not binding
        ("localhost:65535", "localhost", 65535),
    ],
)
def test_listen_address_forms(address: str, host: str, port: int) -> None:
    settings = load_settings([f"--web.listen-address={address}"], CREDENTIALS)
    assert (settings.listen_host, settings.listen_port) == (host, port)


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("https://login.eagleeyenetworks.com/", "https://login.eagleeyenetworks.com"),
        ("http://127.0.0.1:41234", "http://127.0.0.1:41234"),
        ("HTTP://proxy.example:8080/een//", "http://proxy.example:8080/een"),
    ],
)
def test_url_is_normalised(url: str, normalised: str) -> None:
    assert load_settings([f"--een.url={url}"], CREDENTIALS).url == normalised


@pytest.mark.parametrize(
    ("text", "level"), [("INFO", "info"), ("warn", "warning"), ("error", "error")]
)
def test_log_level_is_case_insensitive(text: str, level: str) -> None:
    assert load_settings([f"--log.level={text}"], CREDENTIALS).log_level == level


def test_log_format_is_case_insensitive() -> None:
    assert load_settings(["--log.format=JSON"], CREDENTIALS).log_format is LogFormat.JSON


# --- precedence -------------------------------------------------------------------------------


def test_flag_beats_environment_beats_env_file_beats_default(tmp_path: Path) -> None:
    env_file = write(tmp_path / "settings.env", "EEN_DEVICE_REFRESH_SECONDS=10\n")
    flag = ["--een.device-refresh=30"]
    environ = {**CREDENTIALS, "EEN_DEVICE_REFRESH_SECONDS": "20"}
    from_file = ["--env-file", str(env_file)]

    assert load_settings([*flag, *from_file], environ).device_refresh_seconds == 30.0
    assert load_settings(from_file, environ).device_refresh_seconds == 20.0
    assert load_settings(from_file, CREDENTIALS).device_refresh_seconds == 10.0
    assert load_settings([], CREDENTIALS).device_refresh_seconds == 300.0


def test_empty_value_counts_as_unset(tmp_path: Path) -> None:
    write(tmp_path / ".env", "EEN_URL=http://from-env-file:1\n")
    settings = load_settings(["--een.url="], {**CREDENTIALS, "EEN_URL": " "})
    assert settings.url == "http://from-env-file:1"


def test_default_env_file_is_read_when_present(tmp_path: Path) -> None:
    write(tmp_path / ".env", f"EEN_USERNAME=dotenv@example.com\nEEN_PASSWORD='{PASSWORD}'\n")
    settings = load_settings([], {})
    assert (settings.username, settings.password) == ("dotenv@example.com", PASSWORD)


def test_env_file_leaves_process_environment_alone(tmp_path: Path) -> None:
    name = "EEN_TEST_ONLY_IN_ENV_FILE"
    write(tmp_path / ".env", f"{name}=1\n")
    load_settings([], CREDENTIALS)
    assert name not in os.environ


def test_env_file_values_are_literal(tmp_path: Path) -> None:
    """No ${VAR} expansion: a password holding '$' must arrive as written."""
    write(tmp_path / ".env", "EEN_USERNAME=u\nEEN_PASSWORD=pa${HOME}ss$1\n")
    assert load_settings([], {"HOME": "/root"}).password == "pa${HOME}ss$1"


def test_password_file_in_environment_beats_password_in_env_file(tmp_path: Path) -> None:
    write(tmp_path / ".env", "EEN_USERNAME=u\nEEN_PASSWORD=from-dotenv\n")
    password_file = write(tmp_path / "password", "from-file\n")
    assert load_settings([], {"EEN_PASSWORD_FILE": str(password_file)}).password == "from-file"


def test_password_file_flag_beats_password_in_environment(tmp_path: Path) -> None:
    password_file = write(tmp_path / "password", "from-file")
    settings = load_settings([f"--een.password-file={password_file}"], CREDENTIALS)
    assert settings.password == "from-file"


@pytest.mark.parametrize(
    ("content", "password"),
    [("s3cret\n", "s3cret"), ("s3cret\r\n", "s3cret"), (" two words \n", " two words ")],
)
def test_password_file_loses_only_its_trailing_newline(
    tmp_path: Path, content: str, password: str
) -> None:
    password_file = write(tmp_path / "password", content)
    settings = load_settings([], {"EEN_USERNAME": "u", "EEN_PASSWORD_FILE": str(password_file)})
    assert settings.password == password


# --- demo mode --------------------------------------------------------------------------------


def test_demo_flag_needs_no_credentials() -> None:
    settings = load_settings(["--demo"], {})
    assert settings.demo
    assert (settings.username, settings.password) == ("", "")


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "on"])
def test_demo_from_environment(value: str) -> None:
    assert load_settings([], {"EEN_DEMO": value}).demo


def test_demo_off_in_environment_still_needs_credentials() -> None:
    message = config_error([], {"EEN_DEMO": "0"})
    assert "EEN_USERNAME / --een.username is required" in message


# --- errors -----------------------------------------------------------------------------------


def test_missing_username() -> None:
    message = config_error([], {"EEN_PASSWORD": PASSWORD})
    assert message == "EEN_USERNAME / --een.username is required (or run with --demo)"


def test_missing_password() -> None:
    message = config_error([], {"EEN_USERNAME": "u"})
    assert "EEN_PASSWORD" in message
    assert "EEN_PASSWORD_FILE / --een.password-file" in message


def test_password_and_password_file_in_the_same_place(tmp_path: Path) -> None:
    password_file = write(tmp_path / "password", "x")
    message = config_error([], {**CREDENTIALS, "EEN_PASSWORD_FILE": str(password_file)})
    assert "EEN_PASSWORD and EEN_PASSWORD_FILE are both set in the environment" in message


def test_password_and_password_file_in_the_same_env_file(tmp_path: Path) -> None:
    password_file = write(tmp_path / "password", "x")
    write(tmp_path / ".env", f"EEN_USERNAME=u\nEEN_PASSWORD=p\nEEN_PASSWORD_FILE={password_file}\n")
    message = config_error([], {})
    assert message == (
        "EEN_PASSWORD in .env and EEN_PASSWORD_FILE in .env are both set; set only one"
    )


def test_missing_password_file(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-file"
    message = config_error([f"--een.password-file={missing}"], {"EEN_USERNAME": "u"})
    assert str(missing) in message
    assert "No such file or directory" in message
    assert "(from --een.password-file)" in message


def test_unreadable_password_file(tmp_path: Path) -> None:
    """A directory cannot be read even by root (CI runs as root, so no chmod 000)."""
    message = config_error([], {"EEN_USERNAME": "u", "EEN_PASSWORD_FILE": str(tmp_path)})
    assert f"cannot read {tmp_path}" in message
    assert "(from EEN_PASSWORD_FILE)" in message


@pytest.mark.parametrize("content", [b"", b"\n", b"\r\n"])
def test_empty_password_file(tmp_path: Path, content: bytes) -> None:
    password_file = tmp_path / "password"
    password_file.write_bytes(content)
    message = config_error([f"--een.password-file={password_file}"], {"EEN_USERNAME": "u"})
    assert message.startswith("EEN_PASSWORD_FILE / --een.password-file:")
    assert f"{password_file} is empty" in message


def test_password_file_not_text(tmp_path: Path) -> None:
    password_file = tmp_path / "password"
    password_file.write_bytes(b"\xff\xfe\x00secret")
    message = config_error([f"--een.password-file={password_file}"], {"EEN_USERNAME": "u"})
    assert "not UTF-8 text" in message
    assert "secret" not in message


@pytest.mark.parametrize(
    "url",
    [
        "login.eagleeyenetworks.com",
        "ftp://login.eagleeyenetworks.com",
        "wss://login.eagleeyenetworks.com",
        "https://",
        "https://host:99999",
        "https://host?x=1",
        "http://[::1",
    ],
)
def test_bad_url(url: str) -> None:
    message = config_error([], {**CREDENTIALS, "EEN_URL": url})
    assert message.startswith("EEN_URL / --een.url must ")
    assert message.endswith("(from EEN_URL)")


def test_url_with_credentials_is_refused_without_repeating_them() -> None:
    message = config_error([f"--een.url=https://ops:{PASSWORD}@host"], CREDENTIALS)
    assert "must not contain a user name or password" in message
    assert PASSWORD not in message


@pytest.mark.parametrize(
    "address", ["9877", ":99999", ":", ":abc", "host:-1", "::1:9877", "[]:9877", "my host:80"]
)
def test_bad_listen_address(address: str) -> None:
    message = config_error([f"--web.listen-address={address}"], CREDENTIALS)
    assert message.startswith("EEN_LISTEN_ADDRESS / --web.listen-address must be HOST:PORT")
    assert f"got {address.strip()!r}" in message


@pytest.mark.parametrize(
    "value",
    [
        "--web.listen-address=:" + "9" * 5000,
        "--een.login-concurrency=" + "9" * 5000,
        "--een.backoff-max=" + "9" * 5000,
        "--shard.total=" + "9" * 4000,
    ],
)
def test_a_number_of_thousands_of_digits_gets_the_usual_error_shown_short(value: str) -> None:
    # Issue 19 item 15: int() of more than 4,300 digits raised Python's own message
    # ("Exceeds the limit (4300 digits) ... use sys.set_int_max_str_digits()"), and every
    # error repeated the value whole.
    message = config_error([value], CREDENTIALS)
    assert "must be" in message
    assert "4300" not in message
    assert "set_int_max_str_digits" not in message
    assert len(message) < 300
    assert f" characters) (from {value.split('=')[0]})" in message


DURATIONS = [
    # env, flag, lowest, highest
    ("EEN_DEVICE_REFRESH_SECONDS", "--een.device-refresh", "10", "86400"),
    ("EEN_STREAM_TIMEOUT_SECONDS", "--een.stream-timeout", "5", "3600"),
    ("EEN_BACKOFF_MAX_SECONDS", "--een.backoff-max", "1", "3600"),
]


@pytest.mark.parametrize(("env", "flag", "low", "high"), DURATIONS)
@pytest.mark.parametrize(
    "value", ["0", "-1", "abc", "nan", "inf", "1e-9", "1e10", "0.999", "86401"]
)
def test_durations_out_of_bounds(env: str, flag: str, low: str, high: str, value: str) -> None:
    """1e-9 s made thousands of reconnects a second, 1e10 s an OverflowError in discovery."""
    message = config_error([], {**CREDENTIALS, env: value})
    assert message == (
        f"{env} / {flag} must be a number of seconds from {low} to {high}; "
        f"got {value!r} (from {env})"
    )


@pytest.mark.parametrize(("env", "flag", "low", "high"), DURATIONS)
def test_durations_at_their_bounds_are_accepted(env: str, flag: str, low: str, high: str) -> None:
    field = {
        "EEN_DEVICE_REFRESH_SECONDS": "device_refresh_seconds",
        "EEN_STREAM_TIMEOUT_SECONDS": "stream_timeout_seconds",
        "EEN_BACKOFF_MAX_SECONDS": "backoff_max_seconds",
    }[env]
    for value in (low, high):
        settings = load_settings([f"{flag}={value}"], CREDENTIALS)
        assert getattr(settings, field) == float(value)


def test_duration_error_names_the_env_file_it_came_from(tmp_path: Path) -> None:
    write(tmp_path / ".env", "EEN_BACKOFF_MAX_SECONDS=1e-9\n")
    message = config_error([], CREDENTIALS)
    assert message.endswith("from 1 to 3600; got '1e-9' (from EEN_BACKOFF_MAX_SECONDS in .env)")


@pytest.mark.parametrize("value", ["0", "-2", "1.5", "four", "65", "1000000"])
def test_bad_login_concurrency(value: str) -> None:
    message = config_error([f"--een.login-concurrency={value}"], CREDENTIALS)
    assert message == (
        "EEN_LOGIN_CONCURRENCY / --een.login-concurrency must be a whole number from 1 to 64; "
        f"got {value!r} (from --een.login-concurrency)"
    )


@pytest.mark.parametrize("value", ["1", "64"])
def test_login_concurrency_at_its_bounds(value: str) -> None:
    assert load_settings([], {**CREDENTIALS, "EEN_LOGIN_CONCURRENCY": value}).login_concurrency == (
        int(value)
    )


def test_bad_log_level() -> None:
    message = config_error(["--log.level=verbose"], CREDENTIALS)
    assert message == (
        "EEN_LOG_LEVEL / --log.level must be one of debug, info, warning, error; "
        "got 'verbose' (from --log.level)"
    )


def test_bad_log_format() -> None:
    message = config_error([], {**CREDENTIALS, "EEN_LOG_FORMAT": "xml"})
    assert (
        message
        == "EEN_LOG_FORMAT / --log.format must be logfmt or json; got 'xml' (from EEN_LOG_FORMAT)"
    )


def test_bad_demo_value() -> None:
    message = config_error([], {"EEN_DEMO": "maybe"})
    assert message.startswith("EEN_DEMO / --demo must be 1, true")


def test_account_ids_separated_by_spaces() -> None:
    message = config_error(["--een.accounts=00001234 00005678"], CREDENTIALS)
    assert message.startswith(
        "EEN_ACCOUNTS / --een.accounts must be account ids separated by commas"
    )


def test_error_names_the_env_file_a_bad_value_came_from(tmp_path: Path) -> None:
    env_file = write(tmp_path / ".env", "EEN_LOG_FORMAT=yaml\n")
    message = config_error([], CREDENTIALS)
    assert message.endswith(f"(from EEN_LOG_FORMAT in {env_file.name})")


def test_missing_explicit_env_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.env"
    assert config_error(["--env-file", str(missing)], CREDENTIALS) == (
        f"--env-file {missing}: no such file"
    )


def test_unreadable_env_file(tmp_path: Path) -> None:
    message = config_error([f"--env-file={tmp_path}"], CREDENTIALS)
    assert message.startswith(f"--env-file {tmp_path}: cannot read it")


def test_malformed_env_file_line_is_an_error_that_does_not_quote_it(tmp_path: Path) -> None:
    env_file = write(tmp_path / "bad.env", f"EEN_USERNAME=u\nEEN_PASSWORD='{PASSWORD}\n")
    message = config_error(["--env-file", str(env_file)], {})
    assert message == f"{env_file} line 2: not a KEY=VALUE line"


# --- argparse's own errors, --help, --version ---------------------------------------------------


def exit_code_and_output(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as caught:
        load_settings(argv, CREDENTIALS)
    captured = capsys.readouterr()
    assert isinstance(caught.value.code, int)
    return caught.value.code, captured.out, captured.err


def test_unknown_flag_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = exit_code_and_output(["--een.nope=1"], capsys)
    assert code == 2
    assert out == ""
    assert err == "een-exporter: error: unknown flag --een.nope (see --help)\n"


def test_missing_flag_value_exits_2_naming_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = exit_code_and_output(["--een.url"], capsys)
    assert code == 2
    assert err.count("\n") == 1
    assert "--een.url" in err
    assert err.startswith("een-exporter: error: ")


def test_abbreviated_flag_is_not_guessed(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = exit_code_and_output(["--een.user=u"], capsys)
    assert code == 2
    assert "unknown flag --een.user " in err


def test_password_flag_attempt_is_not_echoed(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--een.password", PASSWORD], [f"--een.password={PASSWORD}"]):
        code, out, err = exit_code_and_output(argv, capsys)
        assert code == 2
        assert PASSWORD not in out + err
        assert err.count("\n") == 1
        assert "unknown flag --een.password; there is no password flag" in err


def test_stray_argument_is_not_echoed(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = exit_code_and_output(["hunter2-password"], capsys)
    assert code == 2
    assert "hunter2" not in err
    assert err.count("\n") == 1


def test_help_lists_every_setting(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = exit_code_and_output(["--help"], capsys)
    assert code == 0
    out = " ".join(out.split())  # argparse wraps to the terminal width
    for env in ALL_ENV_VARS:
        assert env in out
    for flag in (
        "--env-file",
        "--een.username",
        "--een.password-file",
        "--een.api-key",
        "--een.api-key-file",
        "--een.url",
        "--een.simulator-url",
        "--een.accounts",
        "--een.accounts-exclude",
        "--web.listen-address",
        "--een.device-refresh",
        "--een.login-concurrency",
        "--een.stream-timeout",
        "--een.backoff-max",
        "--een.events",
        "--availability.objective",
        "--availability.objectives",
        "--log.level",
        "--log.format",
        "--demo",
        "--version",
    ):
        assert flag in out
    for default in ("https://login.eagleeyenetworks.com", ":9877", "default 300", "default 4"):
        assert default in out
    for bounds in ("10 to 86400 seconds", "5 to 3600 seconds", "1 to 3600 seconds", "1 to 64"):
        assert bounds in out


def test_events_default_to_the_measured_set() -> None:
    settings = load_settings([], CREDENTIALS)
    assert settings.events == ("CSSU", "BBOO", "ABRT", "CCLD")
    assert not settings.cssu_event_series


def test_cssu_event_series_setting() -> None:
    assert load_settings(["--een.cssu-event-series", "true"], CREDENTIALS).cssu_event_series
    assert load_settings([], {**CREDENTIALS, "EEN_CSSU_EVENT_SERIES": "true"}).cssu_event_series


@pytest.mark.parametrize(
    ("value", "codes"),
    [
        ("PRTH", ("PRTH",)),
        (" cssu , prth,CSSU ", ("CSSU", "PRTH")),  # any case, spaces, repeats once
        ("none", ()),
        ("NONE", ()),
    ],
)
def test_events_setting(value: str, codes: tuple[str, ...]) -> None:
    assert load_settings(["--een.events", value], CREDENTIALS).events == codes
    assert load_settings([], {**CREDENTIALS, "EEN_EVENTS": value}).events == codes


@pytest.mark.parametrize("value", ["PRTH,XYZW", "PRT", "AEDC", "PRTH;CSSU"])
def test_unknown_event_codes_are_refused_naming_them(value: str) -> None:
    with pytest.raises(ConfigError, match=r"--een\.events has unknown event code") as caught:
        load_settings(["--een.events", value], CREDENTIALS)
    assert "known: ABRT, BBOO" in str(caught.value)


def test_the_documented_variables_are_every_variable_read() -> None:
    assert set(ENVIRONMENT_VARIABLES) == set(ALL_ENV_VARS)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = exit_code_and_output(["--version"], capsys)
    assert code == 0
    assert out == f"een-exporter {__version__}\n"


# --- secrets ----------------------------------------------------------------------------------


def test_repr_hides_password_and_api_key() -> None:
    settings = load_settings([], {**CREDENTIALS, "EEN_API_KEY": API_KEY})
    assert settings.api_key == API_KEY
    for text in (repr(settings), str(settings)):
        assert PASSWORD not in text
        assert API_KEY not in text
        assert "ops@example.com" in text


@pytest.mark.parametrize(
    "bad",
    [
        {"EEN_USERNAME": ""},
        {"EEN_URL": "nonsense"},
        {"EEN_LOG_LEVEL": "loud"},
        {"EEN_LISTEN_ADDRESS": "nowhere"},
        {"EEN_API_KEY": f"{API_KEY}\nInjected: header"},
        {"EEN_PASSWORD": "", "EEN_PASSWORD_FILE": "/no/such/file"},
        {"EEN_PASSWORD_FILE": "/no/such/file"},
    ],
)
def test_errors_never_contain_password_or_api_key(bad: dict[str, str]) -> None:
    message = config_error([], {**CREDENTIALS, "EEN_API_KEY": API_KEY, **bad})
    assert PASSWORD not in message
    assert API_KEY not in message


# --- secret files: regular, small, UTF-8 --------------------------------------------------------


def load_within(seconds: float, argv: list[str], environ: dict[str, str]) -> Settings:
    """load_settings in a thread that must finish in time (reading a FIFO used to hang)."""
    outcome: list[Settings | BaseException] = []

    def load() -> None:
        try:
            outcome.append(load_settings(argv, environ))
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    thread = threading.Thread(target=load, name="load-settings", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        for name in [*argv, *environ.values()]:  # release a reader blocked on a FIFO
            path = Path(name.split("=", 1)[-1])
            if path.is_fifo():
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(5)
        pytest.fail(f"load_settings did not return within {seconds} s")
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


@pytest.mark.parametrize(("env", "flag"), [("EEN_PASSWORD_FILE", "--een.password-file"),
                                           ("EEN_API_KEY_FILE", "--een.api-key-file")])  # fmt: skip
def test_secret_file_that_is_a_fifo_is_refused_at_once(tmp_path: Path, env: str, flag: str) -> None:
    fifo = tmp_path / "secret"
    os.mkfifo(fifo)
    # EEN_PASSWORD beside EEN_PASSWORD_FILE would be refused first: this test is about the FIFO.
    password = {} if env == "EEN_PASSWORD_FILE" else {"EEN_PASSWORD": PASSWORD}
    with pytest.raises(ConfigError) as caught:
        load_within(5, [], {"EEN_USERNAME": "u", **password, env: str(fifo)})
    assert str(caught.value) == (
        f"{env} / {flag}: cannot read {fifo}: not a regular file (from {env})"
    )


# Found by fuzzing: an env file was read whole, however large and whatever it was.
def test_env_file_that_is_a_fifo_or_a_device_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "settings.env"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):  # open() waited for a writer; read() never ended
        with pytest.raises(ConfigError) as caught:
            load_within(5, ["--env-file", str(path)], CREDENTIALS)
        assert str(caught.value) == f"--env-file {path}: cannot read it: not a regular file"


def test_env_file_size_is_bounded(tmp_path: Path) -> None:
    env_file = write(tmp_path / "big.env", "# padding\n" * 110_000)
    assert config_error(["--env-file", str(env_file)], CREDENTIALS) == (
        f"--env-file {env_file}: larger than 1048576 bytes"
    )


def test_env_file_line_endings_are_read_as_before(tmp_path: Path) -> None:
    env_file = tmp_path / "crlf.env"
    env_file.write_bytes(b"EEN_LOG_LEVEL=debug\r\nEEN_LOG_FORMAT=json\rEEN_USERNAME=u\n")
    settings = load_settings(["--env-file", str(env_file)], {"EEN_PASSWORD": PASSWORD})
    assert (settings.log_level, settings.log_format, settings.username) == (
        "debug",
        LogFormat.JSON,
        "u",
    )


# Found by fuzzing: os.open raised ValueError for a NUL, which only a .env file can carry.
@pytest.mark.parametrize("env", ["EEN_PASSWORD_FILE", "EEN_API_KEY_FILE"])
def test_a_file_name_with_a_nul_is_refused(tmp_path: Path, env: str) -> None:
    environ = {"EEN_USERNAME": "u", env: "secret\x00.txt"}
    if env == "EEN_API_KEY_FILE":
        environ["EEN_PASSWORD"] = PASSWORD
    assert config_error([], environ).endswith(
        "cannot read secret\x00.txt: a file name cannot hold a NUL character (from " + env + ")"
    )


def test_password_file_that_is_a_device_is_refused() -> None:
    message = config_error(["--een.password-file=/dev/zero"], {"EEN_USERNAME": "u"})
    assert message == (
        "EEN_PASSWORD_FILE / --een.password-file: cannot read /dev/zero: not a regular file "
        "(from --een.password-file)"
    )


def test_password_file_size_is_bounded(tmp_path: Path) -> None:
    password_file = tmp_path / "password"
    password_file.write_bytes(b"p" * 4096)
    environ = {"EEN_USERNAME": "u", "EEN_PASSWORD_FILE": str(password_file)}
    assert load_settings([], environ).password == "p" * 4096
    password_file.write_bytes(b"p" * 4097)
    message = config_error([], environ)
    assert message == (
        f"EEN_PASSWORD_FILE / --een.password-file: {password_file} is larger than 4096 bytes "
        "(from EEN_PASSWORD_FILE)"
    )


# --- the API key: printable ASCII, from a file, its flag deprecated ------------------------------


@pytest.mark.parametrize("key", ["clé-0123456789", "ключ-0123456789", "key\u20280123456789",
                                 "key-🙂-0123456789", "key\x7f0123456789"])  # fmt: skip
def test_api_key_must_be_printable_ascii(key: str) -> None:
    """A non-latin-1 key used to kill discovery with a UnicodeEncodeError in the header."""
    message = config_error([], {**CREDENTIALS, "EEN_API_KEY": key})
    assert message == (
        "EEN_API_KEY / --een.api-key must be printable ASCII (no control or non-ASCII "
        "characters) (from EEN_API_KEY)"
    )
    assert key.strip() not in message


def test_api_key_file_is_read_without_its_trailing_newline(tmp_path: Path) -> None:
    key_file = write(tmp_path / "api-key", f"{API_KEY}\n")
    settings = load_settings([], {**CREDENTIALS, "EEN_API_KEY_FILE": str(key_file)})
    assert settings.api_key == API_KEY
    assert settings.notices == ()


def test_api_key_file_flag_beats_api_key_in_environment(tmp_path: Path) -> None:
    key_file = write(tmp_path / "api-key", "from-file-0123")
    settings = load_settings(
        [f"--een.api-key-file={key_file}"], {**CREDENTIALS, "EEN_API_KEY": API_KEY}
    )
    assert settings.api_key == "from-file-0123"


def test_api_key_and_api_key_file_are_exclusive(tmp_path: Path) -> None:
    key_file = write(tmp_path / "api-key", API_KEY)
    message = config_error(
        [f"--een.api-key={API_KEY}", f"--een.api-key-file={key_file}"], CREDENTIALS
    )
    assert message == "--een.api-key and --een.api-key-file are both set; set only one"


def test_api_key_file_with_a_bad_key_is_not_echoed(tmp_path: Path) -> None:
    key = "clé-secrète-0123456789"
    key_file = write(tmp_path / "api-key", f"{key}\n")
    message = config_error([f"--een.api-key-file={key_file}"], CREDENTIALS)
    assert message == (
        "EEN_API_KEY_FILE / --een.api-key-file: the key in the file must be printable ASCII "
        "(no control or non-ASCII characters) (from --een.api-key-file)"
    )
    assert key not in message


def test_empty_api_key_file(tmp_path: Path) -> None:
    key_file = write(tmp_path / "api-key", "\n")
    message = config_error([], {**CREDENTIALS, "EEN_API_KEY_FILE": str(key_file)})
    assert message == (
        f"EEN_API_KEY_FILE / --een.api-key-file: {key_file} is empty (from EEN_API_KEY_FILE)"
    )


def test_api_key_flag_still_works_with_a_deprecation_notice() -> None:
    settings = load_settings([f"--een.api-key={API_KEY}"], CREDENTIALS)
    assert settings.api_key == API_KEY
    [notice] = settings.notices
    assert notice.level == logging.WARNING
    assert notice.message == (
        "--een.api-key is deprecated: it shows the key in the process list; "
        "use EEN_API_KEY or --een.api-key-file"
    )


def test_api_key_from_environment_has_no_notice() -> None:
    assert load_settings([], {**CREDENTIALS, "EEN_API_KEY": API_KEY}).notices == ()


# --- demo mode and ./.env -----------------------------------------------------------------------


def test_demo_ignores_the_default_env_file_and_says_so(tmp_path: Path) -> None:
    """./.env is the Compose users' file: its account filter showed the demo 0 accounts."""
    write(tmp_path / ".env", "EEN_ACCOUNTS=00001234\nEEN_USERNAME=real@example.com\n")
    settings = load_settings(["--demo"], {})
    assert settings.demo
    assert settings.accounts == frozenset()
    assert settings.notices == (
        Notice(logging.INFO, "demo mode ignores .env (pass --env-file .env to use it)"),
    )


def test_demo_reads_an_env_file_given_explicitly(tmp_path: Path) -> None:
    write(tmp_path / ".env", "EEN_ACCOUNTS=00001234\n")
    settings = load_settings(["--demo", "--env-file", ".env"], {})
    assert settings.accounts == {"00001234"}
    assert settings.notices == ()


def test_demo_asked_for_in_the_env_file_reads_it(tmp_path: Path) -> None:
    write(tmp_path / ".env", "EEN_DEMO=true\nEEN_ACCOUNTS=00001234\n")
    settings = load_settings([], {})
    assert settings.demo
    assert settings.accounts == {"00001234"}


def test_demo_without_an_env_file_says_nothing() -> None:
    assert load_settings(["--demo"], {}).notices == ()


# --- the simulator URL: the demo login, and never a real one ------------------------------------

SIMULATOR = {"EEN_SIMULATOR_URL": "http://simulator:9878"}


def test_without_a_username_the_simulator_is_watched_with_the_demo_login() -> None:
    settings = load_settings([], SIMULATOR)
    assert (settings.url, settings.username, settings.password) == (
        "http://simulator:9878",
        "demo@example.com",
        "demo",
    )
    assert settings.api_key is None
    assert settings.notices == (
        Notice(logging.INFO, "no EEN_USERNAME: watching the simulator with its demo login"),
    )


def test_with_a_username_the_simulator_url_is_not_used() -> None:
    settings = load_settings([], {**SIMULATOR, **CREDENTIALS})
    assert settings.url == "https://login.eagleeyenetworks.com"
    assert settings.username == "ops@example.com"


def test_a_real_login_is_never_sent_to_the_simulator() -> None:
    message = config_error([], {**SIMULATOR, **CREDENTIALS, "EEN_URL": "http://Simulator:9878/"})
    assert message == (
        "EEN_URL / --een.url is the simulator's (EEN_SIMULATOR_URL), which gets no login but its "
        "demo one, demo@example.com; leave EEN_URL unset to watch the EEN cloud (from EEN_URL)"
    )
    assert PASSWORD not in message


def test_the_demo_login_may_name_the_simulator_url_itself() -> None:
    environ = {**SIMULATOR, "EEN_URL": SIMULATOR["EEN_SIMULATOR_URL"],
               "EEN_USERNAME": "Demo@Example.com", "EEN_PASSWORD": "demo"}  # fmt: skip
    assert load_settings([], environ).url == "http://simulator:9878"


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("EEN_PASSWORD", PASSWORD),
        ("EEN_PASSWORD_FILE", "/run/secrets/een_password"),
        ("EEN_API_KEY", API_KEY),
        ("EEN_API_KEY_FILE", "/run/secrets/een_api_key"),
        ("EEN_URL", "https://login.eagleeyenetworks.com"),
    ],
)
def test_credentials_without_a_username_are_refused(env: str, value: str) -> None:
    """They are meant for EEN: without a username they would go to the simulator."""
    message = config_error([], {**SIMULATOR, env: value})
    assert message == (
        f"EEN_USERNAME / --een.username is required when {env} is set (from {env}); without a "
        "username the exporter watches the simulator at http://simulator:9878 "
        "(EEN_SIMULATOR_URL) with its demo login"
    )
    assert PASSWORD not in message
    assert API_KEY not in message


def test_bad_simulator_url() -> None:
    message = config_error(["--een.simulator-url=simulator:9878"], CREDENTIALS)
    assert message.startswith("EEN_SIMULATOR_URL / --een.simulator-url must be an http")


# --- fuzzing ------------------------------------------------------------------------------------

FLAGS = sorted(
    {"--een.username", "--een.password-file", "--een.api-key", "--een.api-key-file", "--een.url",
     "--een.simulator-url", "--een.accounts", "--een.accounts-exclude", "--web.listen-address",
     "--een.device-refresh", "--een.login-concurrency", "--een.stream-timeout",
     "--een.backoff-max", "--log.level", "--log.format", "--demo", "--env-file",
     "--een.password", "--help", "--version"}
)  # fmt: skip
# Secrets are told apart from anything else an error may say by their prefix.
SECRET = st.text(min_size=1, max_size=12).map(lambda text: "S3cr3t-" + text)
PATHS = st.sampled_from(["", ".", "/dev/null", "/dev/zero", "/etc/hostname", "missing", "a\x00b"])
VALUES = (
    st.text(max_size=12)
    | st.sampled_from(["0", "-1", "1e400", "nan", "9877", ":0", "[::1]:1", "http://[", "true"])
    | st.sampled_from(["http://u:p@h", "https://h:99999", "ops@example.com", "debug"])
    | PATHS
)


@st.composite
def command_lines(draw: st.DrawFn) -> tuple[list[str], dict[str, str], list[str]]:
    """(argv, environment, the secrets in them)."""
    password, api_key = draw(SECRET), draw(SECRET)
    names = draw(st.sets(st.sampled_from(ENVIRONMENT_VARIABLES), max_size=4))
    environ = {name: draw(PATHS if name.endswith("_FILE") else VALUES) for name in names}
    if draw(st.sampled_from([True, True, True, False])):  # most checks follow the username
        environ["EEN_USERNAME"] = "ops@example.com"
    for name, secret in (("EEN_PASSWORD", password), ("EEN_API_KEY", api_key)):
        where = draw(st.sampled_from(["environment", "file", "neither"]))
        if where == "environment":
            environ[name] = secret
        elif where == "file":
            environ[name + "_FILE"] = draw(PATHS)
    argv: list[str] = []
    for _ in range(draw(st.integers(0, 3))):
        flag = draw(st.sampled_from(FLAGS))
        if flag == "--een.api-key":
            # Only right after its flag: a bare key can become another flag's value (a file
            # name, an account list), which an error rightly shows, being no key there.
            argv += draw(st.sampled_from([[flag, api_key], [f"{flag}={api_key}"]]))
            continue
        value = draw(VALUES)
        forms = [[flag, value], [f"{flag}={value}"], [flag, value], [flag], [value]]
        argv += draw(st.sampled_from(forms))
    return argv, environ, [password, api_key]


@fuzz(examples=200)
@given(command_lines())
def test_any_command_line_gives_settings_or_one_clear_error(
    command_line: tuple[list[str], dict[str, str], list[str]],
) -> None:
    argv, environ, secrets = command_line
    output = io.StringIO()
    exit_code: object = None
    try:
        with contextlib.redirect_stderr(output), contextlib.redirect_stdout(io.StringIO()):
            load_settings(argv, environ)
    except ConfigError as exc:
        output.write(str(exc))
    except SystemExit as exc:  # argparse: its own one-line errors (2), --help and --version (0)
        exit_code = exc.code
    assert exit_code in (None, 0, 2)
    said = output.getvalue()
    for secret in secrets:
        assert secret not in said
        assert repr(secret)[1:-1] not in said


@fuzz(examples=100)
@given(st.sampled_from(["EEN_PASSWORD_FILE", "EEN_API_KEY_FILE", "--env-file"]), VALUES)
def test_any_file_name_is_read_or_refused(setting: str, name: str) -> None:
    environ = {"EEN_USERNAME": "ops@example.com", "EEN_PASSWORD": PASSWORD}
    argv = [f"{setting}={name}"] if setting.startswith("--") else []
    if setting == "EEN_PASSWORD_FILE":
        del environ["EEN_PASSWORD"]
    environ.update({} if argv else {setting: name})
    with contextlib.suppress(ConfigError):
        load_settings(argv, environ)


# --- API v3 -------------------------------------------------------------------------------------

CLIENT_SECRET = "v3-client-s3cret"
V3 = {
    "EEN_API": "v3",
    "EEN_CLIENT_ID": "een-app-123",
    "EEN_CLIENT_SECRET": CLIENT_SECRET,
    "EEN_TOKEN_FILE": "/var/lib/een-exporter/token.json",
}


def test_api_defaults_to_v1() -> None:
    settings = load_settings([], CREDENTIALS)
    assert settings.api is ApiVersion.V1
    assert (settings.client_id, settings.client_secret, settings.token_file) == ("", "", None)


def test_api_v3_settings_from_env_and_flags() -> None:
    settings = load_settings([], V3)
    assert settings.api is ApiVersion.V3
    assert settings.client_id == "een-app-123"
    assert settings.client_secret == CLIENT_SECRET
    assert settings.token_file == Path("/var/lib/een-exporter/token.json")
    assert (settings.username, settings.password, settings.api_key) == ("", "", None)
    flags = load_settings(
        ["--een.api=V3", "--een.client-id=other", "--een.token-file=/tmp/t.json"],
        {"EEN_CLIENT_SECRET": CLIENT_SECRET},
    )
    assert (flags.api, flags.client_id, flags.token_file) == (
        ApiVersion.V3,
        "other",
        Path("/tmp/t.json"),
    )
    assert CLIENT_SECRET not in repr(settings)


def test_the_client_secret_from_a_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(CLIENT_SECRET + "\n")
    env = {**V3, "EEN_CLIENT_SECRET_FILE": str(secret_file)}
    del env["EEN_CLIENT_SECRET"]
    assert load_settings([], env).client_secret == CLIENT_SECRET
    with pytest.raises(ConfigError, match="are both set in the environment; set only one"):
        load_settings([], {**env, "EEN_CLIENT_SECRET": CLIENT_SECRET})


def test_a_bad_api_value_names_the_setting() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(["--een.api", "v2"], CREDENTIALS)
    assert str(caught.value) == "EEN_API / --een.api must be v1 or v3; got 'v2' (from --een.api)"


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("EEN_CLIENT_ID", "EEN_CLIENT_ID / --een.client-id is required with EEN_API=v3"),
        ("EEN_CLIENT_SECRET", "a client secret is required with EEN_API=v3"),
        ("EEN_TOKEN_FILE", "EEN_TOKEN_FILE / --een.token-file is required with EEN_API=v3"),
    ],
)
def test_api_v3_needs_its_three_settings(missing: str, message: str) -> None:
    env = {name: value for name, value in V3.items() if name != missing}
    with pytest.raises(ConfigError, match=message) as caught:
        load_settings([], env)
    assert CLIENT_SECRET not in str(caught.value)


def test_a_client_secret_that_is_not_ascii_is_refused_without_echo() -> None:
    with pytest.raises(ConfigError, match="printable ASCII") as caught:
        load_settings([], {**V3, "EEN_CLIENT_SECRET": "sécret\x01"})
    assert "sécret" not in str(caught.value)


def test_demo_with_api_v3_needs_no_v3_settings() -> None:
    settings = load_settings(["--demo", "--een.api=v3"], {})
    assert (settings.demo, settings.api) == (True, ApiVersion.V3)


def test_the_other_apis_settings_are_named_in_one_warning_without_values() -> None:
    v3 = load_settings([], {**V3, **CREDENTIALS})
    warnings = [n.message for n in v3.notices if n.level == logging.WARNING]
    assert warnings == ["EEN_USERNAME, EEN_PASSWORD are not used with EEN_API=v3"]
    assert (v3.username, v3.password) == ("", "")
    v1 = load_settings([], {**CREDENTIALS, "EEN_CLIENT_ID": "een-app-123"})
    warnings = [n.message for n in v1.notices if n.level == logging.WARNING]
    assert warnings == ["EEN_CLIENT_ID is not used with EEN_API=v1"]
    assert v1.client_id == ""
    assert all(CLIENT_SECRET not in n.message and PASSWORD not in n.message
               for n in (*v1.notices, *v3.notices))  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        ([], {"EEN_EVENTS": "PRTH"}),
        (["--een.events=PRTH"], {}),
        # Not read in v3, so a value v1 would refuse does not stop a v3 exporter either.
        ([], {"EEN_EVENTS": "NOPE"}),
    ],
)
def test_events_with_api_v3_are_named_in_the_warning_like_the_other_v1_settings(
    argv: list[str], env: dict[str, str]
) -> None:
    v3 = load_settings(argv, {**V3, **CREDENTIALS, **env})
    warnings = [n.message for n in v3.notices if n.level == logging.WARNING]
    assert warnings == ["EEN_USERNAME, EEN_PASSWORD, EEN_EVENTS are not used with EEN_API=v3"]
    assert v3.events == ()  # v3 subscribes to no poll-stream events
    alone = load_settings(argv, {**V3, **env})
    warnings = [n.message for n in alone.notices if n.level == logging.WARNING]
    assert warnings == ["EEN_EVENTS is not used with EEN_API=v3"]
    v1 = load_settings(["--een.events=PRTH"], CREDENTIALS)
    assert not [n for n in v1.notices if n.level == logging.WARNING]
    assert v1.events == ("PRTH",)


def test_availability_objectives_default_to_99_5_percent() -> None:
    settings = load_settings([], CREDENTIALS)
    assert (settings.availability_objective, settings.availability_objectives) == (0.995, ())


def test_availability_objectives_from_env_and_flags() -> None:
    settings = load_settings(
        ["--availability.objectives= 22222222=99% ,11111111=0.999,"],
        {**CREDENTIALS, "EEN_AVAILABILITY_OBJECTIVE": "99.9%"},
    )
    assert settings.availability_objective == pytest.approx(0.999)
    assert settings.availability_objectives == (("11111111", 0.999), ("22222222", 0.99))


@pytest.mark.parametrize(
    ("env", "value", "says"),
    [
        ("EEN_AVAILABILITY_OBJECTIVE", "1", "between 0 and 1"),
        ("EEN_AVAILABILITY_OBJECTIVE", "100%", "between 0 and 1"),
        ("EEN_AVAILABILITY_OBJECTIVE", "0", "between 0 and 1"),
        ("EEN_AVAILABILITY_OBJECTIVE", "nines", "between 0 and 1"),
        ("EEN_AVAILABILITY_OBJECTIVES", "11111111", "ACCOUNT_ID=OBJECTIVE"),
        ("EEN_AVAILABILITY_OBJECTIVES", "11111111=1.5", "11111111: must be a ratio"),
    ],
)
def test_a_bad_availability_objective_is_refused_naming_the_setting(
    env: str, value: str, says: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings([], {**CREDENTIALS, env: value})
    assert env in str(raised.value)
    assert says in str(raised.value)
