"""Settings: sources and their precedence, validation, and errors that name the setting."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from exporter import __version__
from exporter.config import ConfigError, LogFormat, Settings, load_settings

PASSWORD = "Pa55-w0rd secret"
API_KEY = "apikey-0123456789abcdef"
CREDENTIALS = {"EEN_USERNAME": "ops@example.com", "EEN_PASSWORD": PASSWORD}
ALL_ENV_VARS = (
    "EEN_USERNAME",
    "EEN_PASSWORD",
    "EEN_PASSWORD_FILE",
    "EEN_API_KEY",
    "EEN_URL",
    "EEN_ACCOUNTS",
    "EEN_ACCOUNTS_EXCLUDE",
    "EEN_LISTEN_ADDRESS",
    "EEN_DEVICE_REFRESH_SECONDS",
    "EEN_LOGIN_CONCURRENCY",
    "EEN_STREAM_TIMEOUT_SECONDS",
    "EEN_BACKOFF_MAX_SECONDS",
    "EEN_LOG_LEVEL",
    "EEN_LOG_FORMAT",
    "EEN_DEMO",
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
            "--een.device-refresh=2.5",
            "--een.login-concurrency=16",
            "--een.stream-timeout=5",
            "--een.backoff-max=0.5",
            "--log.level=DEBUG",
            "--log.format=json",
            "--demo",
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
        device_refresh_seconds=2.5,
        login_concurrency=16,
        stream_timeout_seconds=5.0,
        backoff_max_seconds=0.5,
        log_level="debug",
        log_format=LogFormat.JSON,
        demo=True,
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
    ("env", "flag"),
    [
        ("EEN_DEVICE_REFRESH_SECONDS", "--een.device-refresh"),
        ("EEN_STREAM_TIMEOUT_SECONDS", "--een.stream-timeout"),
        ("EEN_BACKOFF_MAX_SECONDS", "--een.backoff-max"),
    ],
)
@pytest.mark.parametrize("value", ["0", "-1", "abc", "nan", "inf"])
def test_bad_seconds(env: str, flag: str, value: str) -> None:
    message = config_error([], {**CREDENTIALS, env: value})
    assert (
        message
        == f"{env} / {flag} must be a positive number of seconds; got {value!r} (from {env})"
    )


@pytest.mark.parametrize("value", ["0", "-2", "1.5", "four"])
def test_bad_login_concurrency(value: str) -> None:
    message = config_error([f"--een.login-concurrency={value}"], CREDENTIALS)
    assert message.startswith("EEN_LOGIN_CONCURRENCY / --een.login-concurrency must be a whole")
    assert message.endswith("(from --een.login-concurrency)")


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
        "--een.url",
        "--een.accounts",
        "--een.accounts-exclude",
        "--web.listen-address",
        "--een.device-refresh",
        "--een.login-concurrency",
        "--een.stream-timeout",
        "--een.backoff-max",
        "--log.level",
        "--log.format",
        "--demo",
        "--version",
    ):
        assert flag in out
    for default in ("https://login.eagleeyenetworks.com", ":9877", "default 300", "default 4"):
        assert default in out


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
