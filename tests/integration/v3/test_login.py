"""`een-exporter login` against the simulator: the browser flow over the redirect URI, --code,
and a token file that the exporter can use (docs/een-api-v3.md §1)."""

from __future__ import annotations

import io
import json
import socket
import stat
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from exporter.cli import main as cli_main
from exporter.simulator import Simulator
from exporter.v3 import login
from exporter.v3.tokenfile import TokenFile
from tests.support import wait_for

CLIENT_ID, CLIENT_SECRET = "demo-client", "demo-secret"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environ(sim: Simulator, token_file: Path) -> dict[str, str]:
    return {
        "EEN_CLIENT_ID": CLIENT_ID,
        "EEN_CLIENT_SECRET": CLIENT_SECRET,
        "EEN_TOKEN_FILE": str(token_file),
        "EEN_URL": sim.url,
    }


def test_login_with_a_code_writes_a_0600_token_file_that_refreshes(
    sim: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token_file = tmp_path / "een-token.json"
    code = requests.post(f"{sim.url}/_sim/v3/code", json={}, timeout=10).json()["code"]
    assert login.main(["--code", code], environ(sim, token_file)) == 0
    out, err = capsys.readouterr()
    assert "Logged in." in out
    assert str(token_file) in out
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    stored = TokenFile(token_file).load()
    assert stored.client_id == CLIENT_ID
    assert (stored.api_hostname, stored.api_port) == ("127.0.0.1", sim.port)
    for secret in (CLIENT_SECRET, code, stored.refresh_token):
        assert secret not in out + err
    refreshed = requests.post(
        f"{sim.url}/oauth2/token",
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={"grant_type": "refresh_token", "refresh_token": stored.refresh_token},
        timeout=10,
    )
    assert refreshed.status_code == 200


def test_the_browser_flow_over_the_redirect_uri(sim: Simulator, tmp_path: Path) -> None:
    token_file = tmp_path / "een-token.json"
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    out = io.StringIO()
    result: list[int] = []
    worker = threading.Thread(
        target=lambda: result.append(
            login.main(["--redirect-uri", redirect_uri], environ(sim, token_file), out)
        ),
        daemon=True,
    )
    worker.start()
    url = wait_for(
        lambda: next((w for w in out.getvalue().split() if "/oauth2/authorize?" in w), None),
        message="the authorization URL",
    )
    query = parse_qs(urlsplit(url).query)
    assert query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == [redirect_uri]
    assert url.startswith(f"{sim.url}/oauth2/authorize?")
    # A stray request with another state does not end the wait.
    stray = requests.get(f"{redirect_uri}?code=forged&state=wrong", timeout=10)
    assert stray.status_code == 400
    # The person: the consent page, sign in, and the browser follows the redirect home.
    browser = requests.Session()
    assert browser.get(url, timeout=10).status_code == 200
    form = {k: v[0] for k, v in query.items()}
    landed = browser.post(
        f"{sim.url}/oauth2/authorize",
        data={**form, "username": "demo@example.com", "password": "demo", "decision": "allow"},
        timeout=10,
    )
    assert landed.status_code == 200
    assert "you can close this window" in landed.text
    worker.join(10)
    assert result == [0]
    assert TokenFile(token_file).load().client_id == CLIENT_ID


def test_a_refusal_in_the_browser_fails_the_login(sim: Simulator, tmp_path: Path) -> None:
    redirect_uri = f"http://127.0.0.1:{free_port()}"
    out = io.StringIO()
    result: list[int] = []
    threading.Thread(
        target=lambda: result.append(
            login.main(["--redirect-uri", redirect_uri], environ(sim, tmp_path / "t.json"), out)
        ),
        daemon=True,
    ).start()
    url = wait_for(
        lambda: next((w for w in out.getvalue().split() if "/oauth2/authorize?" in w), None)
    )
    form = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    requests.post(f"{sim.url}/oauth2/authorize", data={**form, "decision": "deny"}, timeout=10)
    wait_for(lambda: result, message="the login to give up")
    assert result == [1]
    assert not (tmp_path / "t.json").exists()


@pytest.mark.parametrize(
    ("argv", "env_change", "message"),
    [
        ([], {"EEN_CLIENT_ID": ""}, "EEN_CLIENT_ID"),
        ([], {"EEN_TOKEN_FILE": ""}, "EEN_TOKEN_FILE"),
        ([], {"EEN_CLIENT_SECRET": ""}, "client secret is required"),
        (["--redirect-uri", "https://app.example.com/cb"], {}, "--redirect-uri must be"),
        (["--een.url", "ftp://x"], {}, "http(s) URL"),
        (["--een.client-secret-file", "/nonexistent"], {"EEN_CLIENT_SECRET": ""}, "cannot read"),
        (["--een.token-file", "/nonexistent/dir/t.json", "--code", "c"], {}, "writable directory"),
        (["--code"], {}, "--code needs a value"),
    ],
)
def test_bad_settings_exit_2_with_one_line(
    sim: Simulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    env_change: dict[str, str],
    message: str,
) -> None:
    env = {**environ(sim, tmp_path / "t.json"), **env_change}
    assert login.main(argv, env) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert CLIENT_SECRET not in err


def test_a_dead_code_or_wrong_secret_exits_1(
    sim: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = environ(sim, tmp_path / "t.json")
    assert login.main(["--code", "never-issued"], env) == 1
    assert "invalid_grant" in capsys.readouterr().err
    code = requests.post(f"{sim.url}/_sim/v3/code", json={}, timeout=10).json()["code"]
    assert login.main(["--code", code], {**env, "EEN_CLIENT_SECRET": "wrong"}) == 1
    err = capsys.readouterr().err
    assert "invalid_client" in err
    assert "wrong" not in err.replace("wrong client credentials", "")
    assert not (tmp_path / "t.json").exists()


def test_the_secret_can_come_from_a_file_and_the_cli_routes_login(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(CLIENT_SECRET + "\n")
    token_file = tmp_path / "t.json"
    env = {**environ(sim, token_file), "EEN_CLIENT_SECRET": ""}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = requests.post(f"{sim.url}/_sim/v3/code", json={}, timeout=10).json()["code"]
    assert cli_main(["login", "--een.client-secret-file", str(secret_file), "--code", code]) == 0
    assert json.loads(token_file.read_text())["client_id"] == CLIENT_ID


def test_a_code_may_start_with_a_dash(
    sim: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Codes are URL-safe base64: "-" is a valid first character, not an option.
    assert login.main(["--code", "-never-issued"], environ(sim, tmp_path / "t.json")) == 1
    assert "invalid_grant" in capsys.readouterr().err
