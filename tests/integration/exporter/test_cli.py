"""`een-exporter` as a user runs it: a process, its log lines, its exit."""

from __future__ import annotations

import ctypes
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from exporter.simulator import Simulator
from exporter.simulator.client import SimulatorControl
from exporter.simulator.v3.tokens import V3Settings
from exporter.v3.tokenfile import TokenFile
from tests.integration.exporter.conftest import PASSWORD, USERNAME
from tests.support import parse_exposition, wait_for

ROOT = Path(__file__).resolve().parents[3]
API_KEY = "key-0123456789abcdef"
SESSION_KEY = re.compile(r"c\d+~[0-9a-f]{8,}")


class Process:
    """The exporter as a subprocess, its stderr collected line by line."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> None:
        self.lines: list[str] = []
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "exporter", *args],
            cwd=cwd,
            env={"PATH": os.environ["PATH"], **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line.rstrip("\n"))

    def log(self) -> str:
        return "\n".join(self.lines)

    def url(self) -> str:
        found = wait_for(
            lambda: re.search(r"msg=listening address=\S+ url=(http://\S+)", self.log()),
            message="the 'listening' log line",
        )
        return found.group(1)

    def wait(self, timeout: float) -> int:
        """The exit code, once every line it wrote has been read."""
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            # Where it hung is in its log: a failure should say so, not only "timed out".
            pytest.fail(f"still running {timeout:g} s after the signal; its log:\n{self.log()}")
        self._reader.join(2)
        return code

    def terminate(self, timeout: float) -> int:
        self.popen.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        process.kill()


def test_demo_mode_serves_the_simulated_cloud_and_stops_on_sigterm(
    processes: list[Process],
) -> None:
    exporter = Process("--demo", "--web.listen-address=127.0.0.1:0")
    processes.append(exporter)
    url = exporter.url()
    assert re.search(r"demo mode: using the simulated EEN cloud.* url=http://127\.0\.0\.1:\d+",
                     exporter.log())  # fmt: skip
    wait_for(
        lambda: requests.get(url + "/readyz", timeout=5).status_code == 200,
        message="the demo exporter ready",
    )
    assert "een_camera_online{" in requests.get(url + "/metrics", timeout=5).text
    started = time.monotonic()
    assert exporter.terminate(timeout=10) == 0
    assert time.monotonic() - started < 5
    assert "msg=stopped" in exporter.log()
    assert "did not stop" not in exporter.log()


def test_secrets_never_reach_logs_metrics_or_pages(processes: list[Process]) -> None:
    with Simulator(username=USERNAME, password=PASSWORD) as sim:
        control = SimulatorControl(sim.url)
        env = {
            "EEN_URL": sim.url,
            "EEN_USERNAME": USERNAME,
            "EEN_PASSWORD": PASSWORD,
            "EEN_API_KEY": API_KEY,
            "EEN_LOG_LEVEL": "debug",
            "EEN_STREAM_TIMEOUT_SECONDS": "5",
        }
        exporter = Process("--web.listen-address=127.0.0.1:0", env=env)
        processes.append(exporter)
        url = exporter.url()
        wait_for(lambda: requests.get(url + "/readyz", timeout=5).status_code == 200,
                 message="ready")  # fmt: skip
        # Every path that logs: lost sessions, dropped and stalled streams, HTTP errors.
        control.auth_lost()
        control.http_fault(401, 2)
        control.drop_streams()
        wait_for(lambda: "stream down" in exporter.log(), message="a stream-down line")
        wait_for(lambda: requests.get(url + "/readyz", timeout=5).status_code == 200,
                 message="ready again")  # fmt: skip
        pages = "".join(requests.get(url + p, timeout=5).text for p in ("/", "/metrics", "/readyz"))
        assert exporter.terminate(timeout=10) == 0
    seen = exporter.log() + pages
    retry_in = re.findall(r" retry_in=(\S+)", exporter.log())
    assert retry_in, "no retry_in field logged"
    # At most 3 decimals, or 3 significant digits below 1 (e.g. 0.0185), never 16 of them.
    rounded = re.compile(r"\d+(\.\d{1,3})?|0\.0*[1-9]\d{0,2}")
    assert all(rounded.fullmatch(value) for value in retry_in), retry_in
    assert "logged in" in seen  # the log did record the events...
    assert PASSWORD not in seen  # ...without a secret in them
    assert API_KEY not in seen
    assert not SESSION_KEY.findall(seen), SESSION_KEY.findall(seen)[:3]


def test_a_bad_setting_exits_2_with_one_line(processes: list[Process]) -> None:
    exporter = Process("--een.url=ftp://example.com", env={"EEN_PASSWORD": PASSWORD})
    processes.append(exporter)
    assert exporter.wait(10) == 2
    assert len(exporter.lines) == 1, exporter.lines
    assert exporter.lines[0].startswith("een-exporter: error:")
    assert PASSWORD not in exporter.log()


def test_a_port_in_use_exits_1_with_one_line(processes: list[Process]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        exporter = Process("--demo", f"--web.listen-address=127.0.0.1:{port}")
        processes.append(exporter)
        assert exporter.wait(10) == 1
    [line] = [line for line in exporter.lines if "level=error" in line]
    assert 'msg="cannot listen"' in line
    assert f"address=127.0.0.1:{port}" in line


def test_the_listening_line_says_what_it_listens_on(processes: list[Process]) -> None:
    """It said address=http://127.0.0.1:PORT when it listened on every interface."""
    exporter = Process("--demo", "--web.listen-address=:0")
    processes.append(exporter)
    line = wait_for(
        lambda: re.search(r"msg=listening address=(\S+) url=(\S+)", exporter.log()),
        message="the 'listening' log line",
    )
    port = line.group(1).rpartition(":")[2]
    assert line.group(1) == f"0.0.0.0:{port}"
    assert line.group(2) == f"http://127.0.0.1:{port}"
    assert requests.get(line.group(2) + "/healthz", timeout=5).status_code == 200
    assert exporter.terminate(timeout=10) == 0


@pytest.mark.parametrize(
    ("args", "env", "error"),
    [
        ([], {"EEN_BACKOFF_MAX_SECONDS": "1e-9"},
         "EEN_BACKOFF_MAX_SECONDS / --een.backoff-max must be a number of seconds from 1 to 3600;"
         " got '1e-9' (from EEN_BACKOFF_MAX_SECONDS)"),
        (["--een.device-refresh=1e10"], {},
         "EEN_DEVICE_REFRESH_SECONDS / --een.device-refresh must be a number of seconds from 10 "
         "to 86400; got '1e10' (from --een.device-refresh)"),
        (["--een.login-concurrency=100000"], {},
         "EEN_LOGIN_CONCURRENCY / --een.login-concurrency must be a whole number from 1 to 64; "
         "got '100000' (from --een.login-concurrency)"),
    ],
)  # fmt: skip
def test_a_duration_out_of_bounds_exits_2_naming_it(
    processes: list[Process], args: list[str], env: dict[str, str], error: str
) -> None:
    exporter = Process("--demo", "--web.listen-address=127.0.0.1:0", *args, env=env)
    processes.append(exporter)
    assert exporter.wait(10) == 2
    assert exporter.lines == [f"een-exporter: error: {error}"]


def test_unknown_event_codes_exit_2_naming_them(processes: list[Process]) -> None:
    exporter = Process(
        "--demo", "--web.listen-address=127.0.0.1:0", env={"EEN_EVENTS": "PRTH,PRTX"}
    )
    processes.append(exporter)
    assert exporter.wait(10) == 2
    [line] = exporter.lines
    assert line.startswith(
        "een-exporter: error: EEN_EVENTS / --een.events has unknown event code PRTX (known: ABRT,"
    )
    assert line.endswith("or none); got 'PRTH,PRTX' (from EEN_EVENTS)")


def test_an_api_key_that_is_not_ascii_exits_2_without_echoing_it(
    processes: list[Process],
) -> None:
    """Such a key used to kill discovery (UnicodeEncodeError) once the exporter was running."""
    key = "clé-ключ-0123456789"
    env = {"EEN_USERNAME": USERNAME, "EEN_PASSWORD": PASSWORD, "EEN_API_KEY": key}
    exporter = Process("--web.listen-address=127.0.0.1:0", env=env)
    processes.append(exporter)
    assert exporter.wait(10) == 2
    assert exporter.lines == [
        "een-exporter: error: EEN_API_KEY / --een.api-key must be printable ASCII (no control or "
        "non-ASCII characters) (from EEN_API_KEY)"
    ]


def test_a_password_file_that_is_a_fifo_exits_2_at_once(
    processes: list[Process], tmp_path: Path
) -> None:
    """It used to hang, silently, waiting for a writer."""
    fifo = tmp_path / "password"
    os.mkfifo(fifo)
    env = {"EEN_USERNAME": USERNAME, "EEN_PASSWORD_FILE": str(fifo)}
    exporter = Process("--web.listen-address=127.0.0.1:0", env=env)
    processes.append(exporter)
    assert exporter.wait(10) == 2
    assert exporter.lines == [
        f"een-exporter: error: EEN_PASSWORD_FILE / --een.password-file: cannot read {fifo}: "
        "not a regular file (from EEN_PASSWORD_FILE)"
    ]


def test_demo_ignores_dot_env_and_says_so(processes: list[Process], tmp_path: Path) -> None:
    """A Compose user's ./.env filtered the demo down to 0 accounts."""
    (tmp_path / ".env").write_text("EEN_USERNAME=ops@example.com\nEEN_ACCOUNTS=00009999\n")
    exporter = Process("--demo", "--web.listen-address=127.0.0.1:0", cwd=tmp_path)
    processes.append(exporter)
    url = exporter.url()
    wait_for(
        lambda: requests.get(url + "/readyz", timeout=5).text.startswith("ready:"),
        message="the demo exporter ready",
    )
    assert requests.get(url + "/readyz", timeout=5).text.startswith("ready: 3 accounts")
    assert 'msg="demo mode ignores .env (pass --env-file .env to use it)"' in exporter.log()
    assert exporter.terminate(timeout=10) == 0


def _signal_thread(pid: int, tid: int, signum: int) -> None:
    """tgkill(2): a signal to one thread of another process, as the kernel may pick one."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.tgkill(pid, tid, signum) != 0:
        raise OSError(ctypes.get_errno(), "tgkill failed")


@pytest.mark.parametrize("api", ["v1", "v3"])
def test_sigterm_delivered_to_a_worker_thread_stops_the_exporter(
    processes: list[Process], api: str
) -> None:
    # The kernel hands a process's signal to any thread that does not block it; CPython runs
    # the handler in the main thread only, so the main thread must wake to see it.
    exporter = Process("--demo", f"--een.api={api}", "--web.listen-address=127.0.0.1:0")
    processes.append(exporter)
    url = exporter.url()
    wait_for(lambda: requests.get(url + "/readyz", timeout=5).status_code == 200,
             message="ready")  # fmt: skip
    pid = exporter.popen.pid
    workers = sorted(int(task) for task in os.listdir(f"/proc/{pid}/task") if int(task) != pid)
    assert workers, "the exporter runs worker threads"
    _signal_thread(pid, workers[-1], signal.SIGTERM)
    assert exporter.wait(10) == 0
    assert 'msg="signal received" signal=SIGTERM' in exporter.log()


def test_the_api_key_flag_still_works_and_is_deprecated(processes: list[Process]) -> None:
    exporter = Process("--demo", "--web.listen-address=127.0.0.1:0", f"--een.api-key={API_KEY}")
    processes.append(exporter)
    exporter.url()
    [line] = [line for line in exporter.lines if "level=warning" in line]
    assert 'msg="--een.api-key is deprecated: it shows the key in the process list;' in line
    assert exporter.terminate(timeout=10) == 0
    assert API_KEY not in exporter.log()


def test_without_a_username_the_simulator_url_is_watched_with_the_demo_login(
    processes: list[Process],
) -> None:
    with Simulator() as sim:  # the simulator's own demo login
        exporter = Process("--web.listen-address=127.0.0.1:0", env={"EEN_SIMULATOR_URL": sim.url})
        processes.append(exporter)
        url = exporter.url()
        wait_for(lambda: requests.get(url + "/readyz", timeout=5).status_code == 200,
                 message="ready")  # fmt: skip
        assert "no EEN_USERNAME: watching the simulator with its demo login" in exporter.log()
        assert exporter.terminate(timeout=10) == 0


def test_a_real_login_is_refused_for_the_simulator_url(processes: list[Process]) -> None:
    with Simulator(username=USERNAME, password=PASSWORD) as sim:
        control = SimulatorControl(sim.url)
        env = {"EEN_SIMULATOR_URL": sim.url, "EEN_URL": sim.url,
               "EEN_USERNAME": USERNAME, "EEN_PASSWORD": PASSWORD}  # fmt: skip
        exporter = Process("--web.listen-address=127.0.0.1:0", env=env)
        processes.append(exporter)
        assert exporter.wait(10) == 2
        assert control.state()["peak_concurrent_logins"] == 0  # nothing was sent
    [line] = exporter.lines
    assert line.startswith("een-exporter: error: EEN_URL / --een.url is the simulator's")
    assert PASSWORD not in line


# --- API v3 ------------------------------------------------------------------------------------


def test_demo_mode_with_api_v3_needs_no_browser(processes: list[Process]) -> None:
    exporter = Process("--demo", "--een.api=v3", "--web.listen-address=127.0.0.1:0")
    processes.append(exporter)
    url = exporter.url()
    assert "demo mode: logged in to API v3" in exporter.log()
    wait_for(
        lambda: requests.get(url + "/readyz", timeout=5).status_code == 200,
        message="the v3 demo exporter ready",
    )
    text = requests.get(url + "/metrics", timeout=5).text
    assert 'een_camera_status{account_id="' in text
    assert 'status="bridgeOffline"' in text  # v3's values, not v1's
    assert "een_camera_streaming{" not in text  # v3 cannot tell: absent
    assert "<li>deviceOffline: " in requests.get(url + "/", timeout=5).text  # landing page
    started = time.monotonic()
    assert exporter.terminate(timeout=10) == 0
    assert time.monotonic() - started < 5
    assert "did not stop" not in exporter.log()


V3_SECRET = "client-s3cret-0123456789"


def reconnected(url: str) -> bool:
    """Every stream up again, after a second connection."""
    samples = parse_exposition(requests.get(url + "/metrics", timeout=5).text)
    up = [v for (name, _), v in samples.items() if name == "een_stream_up"]
    connects = [v for (name, _), v in samples.items() if name == "een_stream_connects_total"]
    return bool(up) and all(up) and all(count >= 2 for count in connects)


def post(url: str, path: str, body: dict[str, object]) -> None:
    requests.post(url + path, json=body, timeout=10).raise_for_status()


def test_v3_secrets_never_reach_logs_metrics_or_pages(
    processes: list[Process], tmp_path: Path
) -> None:
    """The client secret, and every access and refresh token the simulator issued."""
    settings = V3Settings(client_secret=V3_SECRET, sse_keepalive_seconds=0.2)
    with Simulator(v3=settings) as sim:
        token_file = tmp_path / "token.json"
        code = requests.post(f"{sim.url}/_sim/v3/code", json={}, timeout=10).json()["code"]
        env = {
            "EEN_API": "v3",
            "EEN_URL": sim.url,
            "EEN_CLIENT_ID": settings.client_id,
            "EEN_CLIENT_SECRET": V3_SECRET,
            "EEN_TOKEN_FILE": str(token_file),
            "EEN_LOG_LEVEL": "debug",
            "EEN_STREAM_TIMEOUT_SECONDS": "5",
            "EEN_BACKOFF_MAX_SECONDS": "1",
        }
        login = subprocess.run(
            [sys.executable, "-m", "exporter", "login", "--code", code],
            cwd=ROOT,
            env={"PATH": os.environ["PATH"], **env},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert login.returncode == 0, login.stderr
        refresh_tokens = {TokenFile(token_file).load().refresh_token}
        exporter = Process("--web.listen-address=127.0.0.1:0", env=env)
        processes.append(exporter)
        url = exporter.url()
        wait_for(lambda: requests.get(url + "/readyz", timeout=5).status_code == 200,
                 message="ready")  # fmt: skip
        access_tokens = set(sim._v3.tokens._access)  # type: ignore[union-attr]
        # Every path that logs: 401s, cut streams, a 429, then a grant EEN refuses.
        post(sim.url, "/_sim/faults/v3/expire-tokens", {})
        wait_for(lambda: "stream down" in exporter.log(), message="a stream-down line")
        post(sim.url, "/_sim/faults/v3/http", {"status": 429, "count": 2, "retry_after": 1})
        post(sim.url, "/_sim/faults/v3/drop-sse", {})
        wait_for(lambda: reconnected(url), timeout=15, message="every stream back")
        access_tokens |= set(sim._v3.tokens._access)  # type: ignore[union-attr]
        refresh_tokens.add(TokenFile(token_file).load().refresh_token)
        post(sim.url, "/_sim/faults/v3/expire-tokens", {"refresh_tokens": True})
        wait_for(lambda: "EEN refuses the grant" in exporter.log(), timeout=20,
                 message="the refusal")  # fmt: skip
        pages = "".join(requests.get(url + p, timeout=5).text for p in ("/", "/metrics", "/readyz"))
        assert exporter.terminate(timeout=10) == 0
    seen = exporter.log() + pages + login.stdout + login.stderr
    assert "een-exporter login" in pages  # /readyz says what to do...
    assert len(access_tokens) >= 8
    assert len(refresh_tokens) == 2
    for secret in (V3_SECRET, *access_tokens, *refresh_tokens):  # ...and shows no secret
        assert secret not in seen
        # Nor a recognisable part of one (a JWT's signature, the secret's tail).
        assert secret[-16:] not in seen


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        (None, "does not exist: run `een-exporter login` once to create it"),
        (0o644, "is readable or writable by others (mode 0644)"),
    ],
)
def test_a_token_file_that_cannot_be_used_exits_2_with_one_line(
    processes: list[Process], tmp_path: Path, mode: int | None, reason: str
) -> None:
    token_file = tmp_path / "token.json"
    if mode is not None:
        token_file.write_text('{"version": 1, "refresh_token": "x"}')
        token_file.chmod(mode)
    env = {
        "EEN_API": "v3",
        "EEN_CLIENT_ID": "een-app-123",
        "EEN_CLIENT_SECRET": V3_SECRET,
        "EEN_TOKEN_FILE": str(token_file),
    }
    exporter = Process("--web.listen-address=127.0.0.1:0", env=env)
    processes.append(exporter)
    assert exporter.wait(10) == 2
    assert len(exporter.lines) == 1, exporter.lines
    assert exporter.lines[0].startswith("een-exporter: error: EEN_TOKEN_FILE / --een.token-file:")
    assert reason in exporter.lines[0]
    assert V3_SECRET not in exporter.log()
