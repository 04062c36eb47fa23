"""The refresh-token file: atomic 0600 rewrites, and clear refusals that never show the token."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from exporter.v3.tokenfile import StoredToken, TokenFile, TokenFileError

TOKEN = StoredToken("demo-client", "refresh-SECRET-1", 1_700_000_000.0, "api.c001.example", 443)


def test_save_then_load_round_trips_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    old_umask = os.umask(0o022)  # a permissive umask must not widen the mode
    try:
        TokenFile(path).save(TOKEN)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert TokenFile(path).load() == TOKEN
    assert "refresh-SECRET-1" not in repr(TokenFile(path).load())


def test_a_rewrite_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    TokenFile(path).save(TOKEN)
    inode = path.stat().st_ino
    rotated = StoredToken("demo-client", "refresh-SECRET-2", TOKEN.authorized_at)
    TokenFile(path).save(rotated)
    assert TokenFile(path).load().refresh_token == "refresh-SECRET-2"
    assert path.stat().st_ino != inode  # a new file renamed over the old one: atomic
    assert sorted(p.name for p in tmp_path.iterdir()) == ["token.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "token.json"
    TokenFile(path).save(TOKEN)

    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError, match="No space"):
        TokenFile(path).save(StoredToken("demo-client", "refresh-SECRET-2", 0.0))
    assert TokenFile(path).load() == TOKEN
    assert sorted(p.name for p in tmp_path.iterdir()) == ["token.json"]


def test_a_missing_file_says_to_log_in(tmp_path: Path) -> None:
    with pytest.raises(TokenFileError, match="een-exporter login"):
        TokenFile(tmp_path / "absent.json").load()


def test_a_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    TokenFile(path).save(TOKEN)
    path.chmod(0o644)
    with pytest.raises(TokenFileError, match="chmod 600"):
        TokenFile(path).load()


@pytest.mark.parametrize(
    "content",
    [b"refresh-SECRET-1", b'{"version": 2, "refresh_token": "refresh-SECRET-1"}', b"{}", b"\xff"],
)
def test_a_foreign_file_is_refused_without_echoing_it(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "token.json"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(TokenFileError) as refused:
        TokenFile(path).load()
    assert "SECRET" not in str(refused.value)
    assert "een-exporter login" in str(refused.value)


def test_a_directory_is_not_a_token_file(tmp_path: Path) -> None:
    directory = tmp_path / "dir"
    directory.mkdir(mode=0o700)
    with pytest.raises(TokenFileError, match="not a regular file"):
        TokenFile(directory).load()
