"""`een-exporter login`: a person's one-time consent for API v3 (docs/een-api-v3.md §1.3-1.4).

Prints EEN's authorization URL, waits on the redirect URI for the code (or takes `--code`),
exchanges it, and writes the refresh token to EEN_TOKEN_FILE with mode 0600. Nothing secret
(client secret, code, tokens) is ever printed.
"""

from __future__ import annotations

import argparse
import http.server
import ipaddress
import os
import secrets
import stat
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit

from exporter.logs import redact, register_secret
from exporter.v3.oauth import EEN_AUTH_URL, OAuthClient, OAuthError
from exporter.v3.tokenfile import TokenFile, TokenFileError
from exporter.v3.tokens import GRANT_MAX_SECONDS, first_token

PROG = "een-exporter login"
DEFAULT_REDIRECT_URI = "http://127.0.0.1:3333"
V1_LOGIN_URL = "https://login.eagleeyenetworks.com"  # v1's default EEN_URL: means "EEN" here
SECRET_FILE_LIMIT = 4096
CLIENT_SECRET_ENV = "EEN_CLIENT_SECRET"  # noqa: S105 - a variable name


class LoginError(Exception):
    """A one-line reason the login failed; exit status in `status` (2 = settings)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class LoginSettings:
    client_id: str
    client_secret: str = field(repr=False)
    token_file: Path
    auth_url: str
    redirect_uri: str
    code: str | None = field(default=None, repr=False)
    timeout: float = 300.0


def main(argv: Sequence[str], environ: Mapping[str, str], out: TextIO | None = None) -> int:
    try:
        settings = parse(argv, environ)
        return login(settings, out or sys.stdout)
    except LoginError as exc:
        # Redacted once more here: whatever a message came to quote, no secret is printed.
        print(f"{PROG}: error: {redact(str(exc))}", file=sys.stderr)
        return exc.status


# -- settings --------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Log in to Eagle Eye Networks API v3 once: a person consents in a browser, "
        "the refresh token is saved to EEN_TOKEN_FILE (mode 0600) for the exporter.",
        epilog=f"The client secret comes from env {CLIENT_SECRET_ENV}, or from the file named by "
        "EEN_CLIENT_SECRET_FILE / --een.client-secret-file; there is no flag for the secret "
        "itself, so that it never shows in the process list.",
    )
    parser.add_argument("--een.client-id", dest="client_id", metavar="ID",
                        help="the application's client id (env EEN_CLIENT_ID)")  # fmt: skip
    parser.add_argument("--een.client-secret-file", dest="client_secret_file", metavar="FILE",
                        help="file holding the client secret (env "
                        "EEN_CLIENT_SECRET_FILE)")  # fmt: skip
    parser.add_argument("--een.token-file", dest="token_file", metavar="FILE",
                        help="where the refresh token is written (env EEN_TOKEN_FILE)")  # fmt: skip
    parser.add_argument("--een.url", dest="url", metavar="URL",
                        help=f"auth host (env EEN_URL; default {EEN_AUTH_URL}); any other value "
                        "(simulator, proxy) is used as is")  # fmt: skip
    parser.add_argument("--redirect-uri", default=None, metavar="URI",
                        help="the redirect URI registered for the application; login listens "
                        f"on it for the code (default {DEFAULT_REDIRECT_URI})")  # fmt: skip
    parser.add_argument("--code", metavar="CODE",
                        help="exchange this authorization code instead of listening")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=300.0, metavar="SECONDS",
                        help="how long to wait for the redirect (default 300: a code lives "
                        "5 minutes)")  # fmt: skip
    return parser


def parse(argv: Sequence[str], environ: Mapping[str, str]) -> LoginSettings:
    parser = _parser()
    try:
        args = parser.parse_args(_attach_code(argv))
    except SystemExit as exit_:
        if exit_.code:  # argparse printed the reason already
            raise LoginError("bad arguments (see --help)", status=2) from None
        raise  # --help
    client_id = args.client_id or environ.get("EEN_CLIENT_ID", "").strip()
    if not client_id:
        raise LoginError("EEN_CLIENT_ID / --een.client-id is required", status=2)
    token_file = args.token_file or environ.get("EEN_TOKEN_FILE", "").strip()
    if not token_file:
        raise LoginError("EEN_TOKEN_FILE / --een.token-file is required", status=2)
    if not 1 <= args.timeout <= 3600:
        raise LoginError("--timeout must be from 1 to 3600 seconds", status=2)
    if args.code is not None and not args.code.strip():
        raise LoginError("--code needs a value", status=2)
    redirect_uri = args.redirect_uri or DEFAULT_REDIRECT_URI
    if args.code is None:
        _listen_address(redirect_uri)  # refuse a URI we could not listen on, before printing
    return LoginSettings(
        client_id=client_id,
        client_secret=_client_secret(args.client_secret_file, environ),
        token_file=Path(token_file),
        auth_url=_auth_url(args.url or environ.get("EEN_URL", "")),
        redirect_uri=redirect_uri,
        code=args.code,
        timeout=args.timeout,
    )


def _attach_code(argv: Sequence[str]) -> list[str]:
    """`--code X` as `--code=X`: a code may start with "-" (URL-safe base64), which argparse
    would take for an option."""
    joined: list[str] = []
    arguments = iter(argv)
    for argument in arguments:
        if argument == "--code":
            joined.append(f"--code={next(arguments, '')}")
        else:
            joined.append(argument)
    return joined


def _auth_url(value: str) -> str:
    url = value.strip().rstrip("/")
    if not url or url == V1_LOGIN_URL:
        return EEN_AUTH_URL
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise LoginError("EEN_URL / --een.url must be an http(s) URL", status=2)
    return url


def _client_secret(flag_file: str | None, environ: Mapping[str, str]) -> str:
    file_name = flag_file or environ.get("EEN_CLIENT_SECRET_FILE", "").strip()
    direct = environ.get(CLIENT_SECRET_ENV, "")
    if file_name and direct:
        raise LoginError(f"set {CLIENT_SECRET_ENV} or EEN_CLIENT_SECRET_FILE, not both", status=2)
    if file_name:
        return _read_secret_file(Path(file_name))
    if not direct.strip():
        raise LoginError(
            f"a client secret is required: {CLIENT_SECRET_ENV} or EEN_CLIENT_SECRET_FILE",
            status=2,
        )
    return direct.strip()


def _read_secret_file(path: Path) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise LoginError(f"cannot read {path}: {exc.strerror}", status=2) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise LoginError(f"cannot read {path}: not a regular file", status=2)
        with os.fdopen(fd, "rb", closefd=False) as file:
            data = file.read(SECRET_FILE_LIMIT + 1)
    finally:
        os.close(fd)
    text = data.decode("utf-8", errors="replace").strip() if len(data) <= SECRET_FILE_LIMIT else ""
    if not text:
        raise LoginError(f"{path} is empty or larger than {SECRET_FILE_LIMIT} bytes", status=2)
    return text


def _listen_address(redirect_uri: str) -> tuple[str, int, str]:
    """(host, port, path) to listen on: only a plain-HTTP loopback redirect URI works here."""
    parts = urlsplit(redirect_uri)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme != "http" or not loopback or parts.port is None:
        raise LoginError(
            "--redirect-uri must be http://127.0.0.1:PORT (or localhost / [::1]) to listen on; "
            "otherwise pass the code from your redirect page with --code",
            status=2,
        )
    return ("127.0.0.1" if host == "localhost" else host), parts.port, parts.path or "/"


# -- the login -------------------------------------------------------------------------------


def login(settings: LoginSettings, out: TextIO) -> int:
    token_file = TokenFile(settings.token_file)
    _check_writable(settings.token_file)
    register_secret(settings.client_secret)
    client = OAuthClient(settings.auth_url, settings.client_id, settings.client_secret)
    code = settings.code or _wait_for_code(client, settings, out)
    register_secret(code)
    try:
        answer = client.exchange_code(code, settings.redirect_uri)
        if answer.refresh_token is not None:
            register_secret(answer.refresh_token)
        register_secret(answer.access_token)
        now = time.time()
        stored = first_token(settings.client_id, answer, now)
    except (OAuthError, ValueError) as exc:
        raise LoginError(f"the code exchange failed: {exc}") from None
    try:
        token_file.save(stored)
    except (OSError, TokenFileError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise LoginError(f"cannot write {settings.token_file}: {reason}") from None
    renew_by = datetime.fromtimestamp(now + GRANT_MAX_SECONDS, UTC).strftime("%Y-%m-%d")
    print(
        f"Logged in. The refresh token is in {settings.token_file} (mode 0600); the exporter "
        f"rewrites it whenever EEN rotates it. EEN ends the grant after 14 days unused and "
        f"after 90 days in any case: run `{PROG}` again by {renew_by}.",
        file=out,
        flush=True,
    )
    return 0


def _check_writable(path: Path) -> None:
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir() or not os.access(directory, os.W_OK | os.X_OK):
        raise LoginError(f"cannot write {path}: {directory} is not a writable directory", 2)


@dataclass
class _Redirect:
    path: str
    state: str
    code: str | None = field(default=None, repr=False)
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)


def _wait_for_code(client: OAuthClient, settings: LoginSettings, out: TextIO) -> str:
    host, port, path = _listen_address(settings.redirect_uri)
    redirect = _Redirect(path, secrets.token_urlsafe(16))
    try:
        server = http.server.HTTPServer((host, port), _handler(redirect))
    except OSError as exc:
        raise LoginError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    print(
        "Open this URL in a browser, sign in to Eagle Eye Networks and allow access:\n\n"
        f"  {client.authorize_url(settings.redirect_uri, redirect.state)}\n\n"
        f"Waiting up to {settings.timeout:g} s for the redirect to {settings.redirect_uri} ...",
        file=out,
        flush=True,
    )
    thread = threading.Thread(target=server.serve_forever, name="login-redirect", daemon=True)
    thread.start()
    try:
        if not redirect.done.wait(settings.timeout):
            raise LoginError(f"no redirect within {settings.timeout:g} s")
    finally:
        server.shutdown()
        server.server_close()
    if redirect.error is not None:
        raise LoginError(f"EEN refused the login: {redirect.error}")
    assert redirect.code is not None
    return redirect.code


def _handler(redirect: _Redirect) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path != redirect.path:
                self._answer(404, "Not the redirect URI.")
                return
            query = parse_qs(parts.query)
            if query.get("state", [""])[0] != redirect.state:
                self._answer(400, "This answer does not belong to this login.")
                return
            if "error" in query:
                redirect.error = query["error"][0][:80]
                self._answer(200, "The login was refused; see the terminal.")
            elif query.get("code", [""])[0]:
                redirect.code = query["code"][0]
                self._answer(200, "Logged in; you can close this window.")
            else:
                self._answer(400, "The redirect carries no code.")
                return
            redirect.done.set()

        def _answer(self, status: int, text: str) -> None:
            body = f"<!DOCTYPE html><title>een-exporter login</title><p>{text}</p>".encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Silent: the request line carries the authorization code."""

    return Handler
