"""A valid access token whenever a caller needs one: refreshed ahead of expiry, one refresh at a
time, and every rotated refresh token on disk before its access token is handed out
(docs/een-api-v3.md §1.5).

A token answer's lifetime is not taken blindly (TokenPolicy): none given means EEN's documented
one, zero or negative means a minimum, and refreshes are paced whatever asks for them, so a
broken token endpoint cannot turn into a refresh, a token-file rewrite and a reconnect of every
stream per second. A refresh token that came back is never dropped, whatever else is wrong
with its answer: EEN killed the one sent when it issued it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

from exporter.logs import register_secret
from exporter.v3.oauth import Failure, OAuthClient, OAuthError, TokenAnswer
from exporter.v3.tokenfile import StoredToken, TokenFile, TokenFileError

log = logging.getLogger(__name__)

# Refresh this long before expiry (EEN suggests 5 minutes), or at this share of a short
# lifetime, whichever comes first.
REFRESH_MARGIN_SECONDS = 300.0
REFRESH_MARGIN_SHARE = 0.2
DAY = 86_400.0
GRANT_MAX_SECONDS = 90 * DAY  # EEN's default: a person must consent again after 90 days


@dataclass(frozen=True)
class TokenPolicy:
    """What to make of a token answer's lifetime, and how often to refresh at most."""

    # For an answer without `expires_in` (only RECOMMENDED in OAuth 2.0, RFC 6749 §5.1): EEN
    # documents its access tokens as valid up to 12 hours (docs/een-api-v3.md §1.4, §1.5:
    # "access token ≤ 12 h"). Should one die sooner, the first 401 renews it.
    assumed_lifetime: float = 12 * 3600.0
    # The shortest lifetime taken from an answer: `expires_in` 0, negative or tiny would mean
    # a refresh (and a reconnect of every stream) per call.
    min_lifetime: float = 60.0
    # At most `refresh_burst` refreshes (tried, failed ones too: a failing token endpoint is
    # asked no more often) within `refresh_window` seconds, due or after a 401: three, so that
    # a token refused right after its refresh, or a refresh cut off at its deadline, is tried
    # again at once, once.
    refresh_window: float = 60.0
    refresh_burst: int = 3

    def lifetime(self, expires_in: float | None) -> float:
        if expires_in is None:
            return self.assumed_lifetime
        return max(expires_in, self.min_lifetime)


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
        policy: TokenPolicy | None = None,
    ) -> None:
        self._client = client
        self._file = token_file
        self._clock = clock
        self._wall_clock = wall_clock
        self._policy = policy or TokenPolicy()
        # When the last refresh_burst refreshes started (the manager's clock).
        self._attempts: deque[float] = deque(maxlen=self._policy.refresh_burst)
        self._warned: set[str] = set()  # lifetime problems logged once each
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
        wait = self._pace()
        if wait > 0:
            return self._paced(wait)
        self._attempts.append(self._clock())
        try:
            answer = self._client.refresh(self._stored.refresh_token)
        except Exception as exc:
            if self.on_refresh is not None:
                self.on_refresh(False)
            if isinstance(exc, OAuthError) and exc.rotated:
                self._save(exc.rotated, self._stored.api_hostname, self._stored.api_port)
            raise
        if self.on_refresh is not None:
            self.on_refresh(True)
        register_secret(answer.access_token)
        # Before anyone uses the new access token.
        self._save(answer.refresh_token, answer.api_hostname, answer.api_port)
        self.refreshes += 1
        lifetime = self._lifetime(answer)
        self._margin = min(REFRESH_MARGIN_SECONDS, lifetime * REFRESH_MARGIN_SHARE)
        expires_at = self._clock() + lifetime
        self._current = AccessToken(
            answer.access_token,
            expires_at,
            answer.api_hostname,
            answer.api_port,
            expires_at - self._margin,
        )
        return self._current

    def _pace(self) -> float:
        """Seconds until the next refresh may start; 0: now."""
        if len(self._attempts) < self._policy.refresh_burst:
            return 0.0
        return max(0.0, self._attempts[0] + self._policy.refresh_window - self._clock())

    def _paced(self, wait: float) -> AccessToken:
        """No refresh yet: the current token while it lives (its renewal moved to when a
        refresh may start, so that streams do not renew it in a loop), else a transient
        error that says when to try again."""
        current = self._current
        if current is not None and self._clock() + wait < current.expires_at:
            self._current = replace(current, renew_at=self._clock() + wait)
            return self._current
        window, burst = self._policy.refresh_window, self._policy.refresh_burst
        raise OAuthError(
            Failure.TRANSIENT,
            f"token refreshes paced ({burst} in {window:g}s): next in {wait:.1f}s",
            retry_after=wait,
        )

    def _lifetime(self, answer: TokenAnswer) -> float:
        lifetime = self._policy.lifetime(answer.expires_in)
        if answer.expires_in is None:
            problem = f"token answer without expires_in: assuming {lifetime:g}s"
        elif answer.expires_in < lifetime:
            problem = f"token answer with expires_in {answer.expires_in:g}: taken as {lifetime:g}s"
        else:
            return lifetime
        kind = problem.split(":", 1)[0]
        if kind not in self._warned:  # once: it comes with every refresh
            self._warned.add(kind)
            log.warning(problem)
        return lifetime

    def _save(self, refresh_token: str | None, api_hostname: str, api_port: int) -> None:
        """Keep a rotated token in memory in any case (the old one is dead already), and on
        disk if at all possible; a failed write costs a `login` after the next restart.
        No refresh token in the answer: the one sent stays valid (RFC 6749 §6)."""
        if refresh_token is not None:
            register_secret(refresh_token)
        stored = replace(
            self._stored,
            refresh_token=refresh_token or self._stored.refresh_token,
            api_hostname=api_hostname or self._stored.api_hostname,
            api_port=api_port if api_hostname else self._stored.api_port,
        )
        if stored == self._stored:
            return  # nothing new to write
        self._stored = stored
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
    """What `een-exporter login` stores after the code exchange; ValueError when the answer
    holds no refresh token (EEN gives one only to confidential clients)."""
    if answer.refresh_token is None:
        raise ValueError("EEN answered without a refresh token: is the application registered "
                         "as a confidential client (the Public toggle off)?")  # fmt: skip
    return StoredToken(
        client_id=client_id,
        refresh_token=answer.refresh_token,
        authorized_at=wall_clock,
        api_hostname=answer.api_hostname,
        api_port=answer.api_port,
    )
