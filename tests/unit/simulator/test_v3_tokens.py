"""The v3 OAuth state: single-use codes, rotating refresh tokens, lifetimes (een-api-v3.md §1)."""

from __future__ import annotations

import pytest

from exporter.simulator.v3.tokens import TokenError, TokenStore, V3Settings

REDIRECT = "http://127.0.0.1:3333"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def store(clock: Clock, **settings: float) -> TokenStore:
    return TokenStore(V3Settings(**settings), clock)  # type: ignore[arg-type]


def test_a_code_works_once_and_binds_its_redirect_uri(clock: Clock) -> None:
    tokens = store(clock)
    code = tokens.issue_code("00001106", REDIRECT)
    with pytest.raises(TokenError) as mismatch:
        tokens.redeem_code(code.value, "http://localhost:3333", reseller=False)
    assert (mismatch.value.status, mismatch.value.error) == (400, "invalid_grant")
    code = tokens.issue_code("00001106", REDIRECT)
    issued = tokens.redeem_code(code.value, REDIRECT, reseller=False)
    assert tokens.access(issued.access.value) is not None
    with pytest.raises(TokenError) as reused:
        tokens.redeem_code(code.value, REDIRECT, reseller=False)
    assert reused.value.status == 401


def test_a_code_expires(clock: Clock) -> None:
    tokens = store(clock, code_seconds=300)
    code = tokens.issue_code("00001106", None)
    clock.now += 300
    with pytest.raises(TokenError) as expired:
        tokens.redeem_code(code.value, None, reseller=False)
    assert expired.value.status == 401


def test_refresh_rotates_and_kills_the_old_refresh_and_access_tokens(clock: Clock) -> None:
    tokens = store(clock)
    first = tokens.redeem_code(tokens.issue_code("1", None).value, None, reseller=False)
    second = tokens.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert tokens.access(first.access.value) is None  # AS2: the old access token dies too
    assert tokens.access(second.access.value) is not None
    with pytest.raises(TokenError):
        tokens.refresh(first.refresh_token)
    assert tokens.counts()["refreshes"] == 1


def test_refresh_tokens_die_after_idling_and_after_the_maximum(clock: Clock) -> None:
    tokens = store(clock, refresh_idle_seconds=100, refresh_max_seconds=250)
    issued = tokens.redeem_code(tokens.issue_code("1", None).value, None, reseller=False)
    clock.now += 99
    issued = tokens.refresh(issued.refresh_token)  # used in time: a fresh idle window
    clock.now += 99
    issued = tokens.refresh(issued.refresh_token)
    clock.now += 60  # 258 s after the consent: past the absolute maximum
    with pytest.raises(TokenError):
        tokens.refresh(issued.refresh_token)
    idle = tokens.redeem_code(tokens.issue_code("1", None).value, None, reseller=False)
    clock.now += 100
    with pytest.raises(TokenError):
        tokens.refresh(idle.refresh_token)


def test_access_tokens_expire(clock: Clock) -> None:
    tokens = store(clock, access_token_seconds=60)
    issued = tokens.redeem_code(tokens.issue_code("1", None).value, None, reseller=True)
    assert tokens.access(issued.access.value) is not None
    clock.now += 60
    assert tokens.access(issued.access.value) is None


def test_faults_expire_access_tokens_or_whole_grants(clock: Clock) -> None:
    tokens = store(clock)
    issued = tokens.redeem_code(tokens.issue_code("1", None).value, None, reseller=False)
    assert tokens.expire_access_tokens() == 1
    assert tokens.access(issued.access.value) is None
    issued = tokens.refresh(issued.refresh_token)  # the grant survived
    assert tokens.end_grants() == 1
    with pytest.raises(TokenError):
        tokens.refresh(issued.refresh_token)


def test_revoking_a_refresh_token_ends_its_grant(clock: Clock) -> None:
    tokens = store(clock)
    issued = tokens.redeem_code(tokens.issue_code("1", None).value, None, reseller=False)
    tokens.revoke(issued.refresh_token)
    assert tokens.access(issued.access.value) is None
    with pytest.raises(TokenError):
        tokens.refresh(issued.refresh_token)


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="access_token_seconds"):
        V3Settings(access_token_seconds=0)
    with pytest.raises(ValueError, match="client"):
        V3Settings(client_secret="")
