"""A valid access token whenever a caller needs one: refreshed ahead of expiry, one refresh at a
time, and every rotated refresh token on disk before its access token is handed out
(docs/een-api-v3.md §1.5)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from exporter.logs import register_secret
from exporter.v3.oauth import OAuthClient, TokenAnswer
from exporter.v3.tokenfile import StoredToken, TokenFile, TokenFileError

log = logging.getLogger(__name__)

# Refresh this long before expiry (EEN suggests 5 minutes), or at this share of a short
# lifetime, whichever comes first.
REFRESH_MARGIN_SECONDS = 300.0
REFRESH_MARGIN_SHARE = 0.2
DAY = 86_400.0
GRANT_MAX_SECONDS = 90 * DAY  # EEN's default: a person must consent again after 90 days


@dataclass(frozen=True)
class AccessToken:
    value: str
    expires_at: float  # on the manager's clock
    api_hostname: str
    api_port: int
    renew_at: float  # from then on, access_token() refreshes (the manager's clock)


class TokenManager:
    """Owns the grant: the token file, the current access token and the refreshes."""

    def __init__(
        self,
        client: OAuthClient,
        token_file: TokenFile,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._file = token_file
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._stored = token_file.load()
        register_secret(self._stored.refresh_token)
        self._current: AccessToken | None = None
        self._margin = REFRESH_MARGIN_SECONDS
        self.refreshes = 0
        self.save_failures = 0
        self.on_refresh: Callable[[bool], None] | None = None  # (succeeded), for self-metrics

    @property
    def client_id(self) -> str:
        """The client the token file was written for."""
        return self._stored.client_id

    @property
    def grant_expires_at(self) -> float:
        """Wall-clock time after which EEN wants a new consent (by default)."""
        return self._stored.authorized_at + GRANT_MAX_SECONDS

    def access_token(self) -> AccessToken:
        """A token valid for a while yet; refreshes (and saves the rotation) when needed.

        Raises OAuthError (Failure.GRANT means run `een-exporter login` again) or
        TokenFileError when the rotated token cannot be saved.
        """
        with self._lock:
            current = self._current
            if current is not None and not self._due(current):
                return current
            return self._refresh()

    def reload(self) -> None:
        """Read the token file again (after EEN refused the grant, a person may have run
        `een-exporter login`); keeps the current grant if the file cannot be read."""
        try:
            stored = self._file.load()
        except TokenFileError as exc:
            log.warning("cannot read the token file again", extra={"reason": str(exc)})
            return
        register_secret(stored.refresh_token)
        with self._lock:
            self._stored = stored
            self._current = None

    def invalidate(self, token: AccessToken) -> None:
        """The API answered 401 to `token`: the next caller refreshes (once for all callers)."""
        with self._lock:
            if self._current is token:
                self._current = None

    def _due(self, token: AccessToken) -> bool:
        lifetime_left = token.expires_at - self._clock()
        return lifetime_left <= self._margin

    def _refresh(self) -> AccessToken:
        try:
            answer = self._client.refresh(self._stored.refresh_token)
        except Exception:
            if self.on_refresh is not None:
                self.on_refresh(False)
            raise
        if self.on_refresh is not None:
            self.on_refresh(True)
        register_secret(answer.refresh_token)
        register_secret(answer.access_token)
        self._save(answer)  # before anyone uses the new access token
        self.refreshes += 1
        self._margin = min(REFRESH_MARGIN_SECONDS, answer.expires_in * REFRESH_MARGIN_SHARE)
        expires_at = self._clock() + answer.expires_in
        self._current = AccessToken(
            answer.access_token,
            expires_at,
            answer.api_hostname,
            answer.api_port,
            expires_at - self._margin,
        )
        return self._current

    def _save(self, answer: TokenAnswer) -> None:
        """Keep the rotated token in memory in any case (the old one is dead already), and on
        disk if at all possible; a failed write costs a `login` after the next restart."""
        self._stored = replace(
            self._stored,
            refresh_token=answer.refresh_token,
            api_hostname=answer.api_hostname or self._stored.api_hostname,
            api_port=answer.api_port,
        )
        try:
            self._file.save(self._stored)
        except (OSError, TokenFileError) as exc:
            self.save_failures += 1
            reason = getattr(exc, "strerror", None) or str(exc)
            log.error(
                "cannot save the rotated refresh token; a restart will need `een-exporter login`",
                extra={"file": str(self._file.path), "reason": reason},
            )


def first_token(client_id: str, answer: TokenAnswer, wall_clock: float) -> StoredToken:
    """What `een-exporter login` stores after the code exchange."""
    return StoredToken(
        client_id=client_id,
        refresh_token=answer.refresh_token,
        authorized_at=wall_clock,
        api_hostname=answer.api_hostname,
        api_port=answer.api_port,
    )
