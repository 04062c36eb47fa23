"""The refresh-token file (EEN_TOKEN_FILE): read it, and rewrite it atomically with mode 0600.

EEN rotates refresh tokens on every use and the old one dies at once (een-api-v3.md §1.5), so
the new one must be on disk before it is used: a crash between the token answer and the write
would otherwise lose the grant and need a person to log in again.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1
MAX_BYTES = 64 * 1024


class TokenFileError(Exception):
    """The token file cannot be used; the message names the file and says what to do."""


@dataclass(frozen=True)
class StoredToken:
    client_id: str
    refresh_token: str = field(repr=False)
    authorized_at: float  # the consent, for EEN's 90-day limit
    api_hostname: str = ""  # httpsBaseUrl of the last token answer (§2)
    api_port: int = 443

    def as_json(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "client_id": self.client_id,
            "refresh_token": self.refresh_token,
            "authorized_at": self.authorized_at,
            "https_base_url": {"hostname": self.api_hostname, "port": self.api_port},
            "saved_at": time.time(),
        }


class TokenFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> StoredToken:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            raise TokenFileError(
                f"{self.path} does not exist: run `een-exporter login` once to create it"
            ) from None
        except OSError as exc:
            raise TokenFileError(f"cannot read {self.path}: {exc.strerror}") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise TokenFileError(f"cannot read {self.path}: not a regular file")
            if info.st_mode & 0o077:
                raise TokenFileError(
                    f"{self.path} is readable or writable by others (mode "
                    f"{stat.S_IMODE(info.st_mode):04o}): it holds a refresh token; chmod 600 it"
                )
            with os.fdopen(fd, "rb", closefd=False) as file:
                data = file.read(MAX_BYTES + 1)
        finally:
            os.close(fd)
        return _parse(data, self.path)

    def save(self, token: StoredToken) -> None:
        """Replace the file atomically: a reader sees the old or the new token, never a mix."""
        directory = self.path.parent
        text = json.dumps(token.as_json(), indent=2) + "\n"
        fd, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
        try:
            os.fchmod(fd, 0o600)  # mkstemp already creates 0600; say it, whatever the umask
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(text)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        _fsync_directory(directory)


def _parse(data: bytes, path: Path) -> StoredToken:
    if len(data) > MAX_BYTES:
        raise TokenFileError(f"{path} is larger than {MAX_BYTES} bytes: not a token file")
    try:
        body = json.loads(data)
        if body.get("version") != FORMAT_VERSION:
            raise ValueError("unknown version")
        base = body.get("https_base_url") or {}
        return StoredToken(
            client_id=_string(body, "client_id"),
            refresh_token=_string(body, "refresh_token"),
            authorized_at=float(body["authorized_at"]),
            api_hostname=str(base.get("hostname", "")),
            api_port=int(base.get("port", 443)),
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        # The reason stays vague on purpose: the content holds a secret.
        raise TokenFileError(
            f"{path} is not a token file written by `een-exporter login`: run it again"
        ) from None


def _string(body: dict[str, Any], name: str) -> str:
    value = body[name]
    if not isinstance(value, str) or not value:
        raise ValueError(name)
    return value


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (where the platform allows opening a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
