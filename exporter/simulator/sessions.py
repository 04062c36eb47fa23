"""Login tokens and sessions (een-api.md §1.3-1.7), on an injectable clock."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from exporter.simulator.world import CLUSTER

TOKEN_SECONDS = 30.0
TWO_FACTOR_TOKEN_SECONDS = 15 * 60.0


@dataclass
class LoginToken:
    value: str
    expires_at: float
    two_factor_code: str | None = None  # set once a code was "sent" (TFA users only)


@dataclass
class Session:
    key: str
    active_account_id: str
    expires_at: float
    last_active: float = 0.0  # when the session was last used (see SessionStore.idle)


class SessionStore:
    """Single-use login tokens and the sessions they turn into."""

    def __init__(
        self,
        session_seconds: float,
        token_seconds: float = TOKEN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session_seconds = session_seconds
        self.token_seconds = token_seconds
        self._clock = clock
        self._tokens: dict[str, LoginToken] = {}
        self._sessions: dict[str, Session] = {}

    def issue_token(self, two_factor: bool) -> LoginToken:
        self._forget_expired_tokens()
        lifetime = TWO_FACTOR_TOKEN_SECONDS if two_factor else self.token_seconds
        # 258 random bytes encode to the ~344 base64 characters real tokens have.
        value = base64.b64encode(secrets.token_bytes(258)).decode()
        token = LoginToken(value, self._clock() + lifetime)
        self._tokens[value] = token
        return token

    def find_token(self, value: str) -> LoginToken | None:
        token = self._tokens.get(value)
        if token is None or token.expires_at <= self._clock():
            self._tokens.pop(value, None)
            return None
        return token

    def consume_token(self, value: str) -> None:
        self._tokens.pop(value, None)

    def create(self, account_id: str) -> Session:
        key = f"{CLUSTER}~{secrets.token_hex(16)}"
        now = self._clock()
        session = Session(key, account_id, now + self.session_seconds, now)
        self._sessions[key] = session
        return session

    def get(self, key: str | None) -> Session | None:
        """The live session for `key`; an expired one is forgotten and gives None."""
        if key is None:
            return None
        session = self._sessions.get(key)
        if session is None:
            return None
        now = self._clock()
        if session.expires_at <= now:
            del self._sessions[key]
            return None
        session.last_active = now  # every authenticated request is activity
        return session

    def idle(self, seconds: float, busy: Callable[[Session], bool]) -> list[str]:
        """The keys of sessions unused for `seconds`; a `busy` session counts as used now."""
        now = self._clock()
        idle = []
        for session in self._sessions.values():
            if busy(session):
                session.last_active = now
            elif now - session.last_active >= seconds:
                idle.append(session.key)
        return idle

    def end(self, key: str) -> Session | None:
        return self._sessions.pop(key, None)

    def end_all(self) -> list[Session]:
        ended = list(self._sessions.values())
        self._sessions.clear()
        return ended

    def __len__(self) -> int:
        return len(self._sessions)

    def _forget_expired_tokens(self) -> None:
        now = self._clock()
        for value in [v for v, token in self._tokens.items() if token.expires_at <= now]:
            del self._tokens[value]
