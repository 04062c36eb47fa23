"""Tokens and sessions on a hand-driven clock."""

from __future__ import annotations

import re

from exporter.simulator.sessions import TWO_FACTOR_TOKEN_SECONDS, SessionStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_tokens_expire_and_are_single_use() -> None:
    clock = Clock()
    store = SessionStore(session_seconds=60, token_seconds=30, clock=clock)
    token = store.issue_token(two_factor=False)
    assert len(token.value) == 344
    clock.now += 29
    assert store.find_token(token.value) is token
    store.consume_token(token.value)
    assert store.find_token(token.value) is None
    late = store.issue_token(two_factor=False)
    clock.now += 30
    assert store.find_token(late.value) is None


def test_two_factor_tokens_live_longer() -> None:
    clock = Clock()
    store = SessionStore(session_seconds=60, token_seconds=30, clock=clock)
    token = store.issue_token(two_factor=True)
    clock.now += TWO_FACTOR_TOKEN_SECONDS - 1
    assert store.find_token(token.value) is token


def test_sessions_expire_and_end() -> None:
    clock = Clock()
    store = SessionStore(session_seconds=60, clock=clock)
    session = store.create("00001234")
    assert re.fullmatch(r"c\d{3}~[0-9a-f]{32}", session.key)
    assert store.get(session.key) is session
    assert store.get(None) is None
    clock.now += 60
    assert store.get(session.key) is None
    other = store.create("00001234")
    assert store.end(other.key) is other
    assert store.get(other.key) is None
    store.create("1")
    store.create("2")
    assert len(store.end_all()) == 2
    assert len(store) == 0


def test_idle_sessions_are_those_unused_for_long_enough() -> None:
    clock = Clock()
    store = SessionStore(session_seconds=3600, clock=clock)
    used, unused, busy = (store.create("a") for _ in range(3))
    clock.now += 50
    assert store.get(used.key) is used  # a request: activity
    clock.now += 20
    streaming = {busy.key}
    assert store.idle(60, lambda s: s.key in streaming) == [unused.key]
    clock.now += 59
    streaming.clear()
    # `busy` counted as used at the last look, 59 s ago; `used` 79 s ago.
    assert store.idle(60, lambda s: False) == [used.key, unused.key]
