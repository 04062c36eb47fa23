"""TokenManager and what a token answer says about its lifetime (issue 19, item 7): none given
means EEN's documented 12 h, zero or negative a minimum, refreshes are paced whatever asks for
them, and a refresh token that came back is never dropped."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.v3.oauth import Failure, OAuthClient, OAuthError, TokenAnswer
from exporter.v3.tokenfile import StoredToken, TokenFile
from exporter.v3.tokens import TokenManager, TokenPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeEndpoint(OAuthClient):
    """A token endpoint that rotates the refresh token on every call, as EEN does."""

    def __init__(self, expires_in: float | None = 3600.0) -> None:
        super().__init__("http://unused.invalid", "client", "secret")
        self.expires_in = expires_in
        self.calls = 0
        self.fail_with: OAuthError | None = None

    def refresh(self, refresh_token: str) -> TokenAnswer:
        self.calls += 1
        if self.fail_with is not None:
            raise self.fail_with
        return TokenAnswer(
            f"access-{self.calls}", f"refresh-{self.calls}", self.expires_in, "", 443
        )


def manager(tmp_path: Path, endpoint: FakeEndpoint, clock: Clock) -> tuple[TokenManager, TokenFile]:
    token_file = TokenFile(tmp_path / "token.json")
    token_file.save(StoredToken("client", "refresh-0", 0.0))
    return TokenManager(endpoint, token_file, clock=clock, wall_clock=clock), token_file


LIFETIMES = [(0, 60.0), (-30, 60.0), (0.001, 60.0), (None, 43_200.0), (7200, 7200.0)]


@pytest.mark.parametrize(("expires_in", "lifetime"), LIFETIMES)
def test_the_lifetime_taken_from_an_answer(
    tmp_path: Path, expires_in: float | None, lifetime: float
) -> None:
    clock = Clock()
    tokens, token_file = manager(tmp_path, FakeEndpoint(expires_in), clock)
    token = tokens.access_token()
    assert token.expires_at - clock.now == lifetime
    assert token_file.load().refresh_token == "refresh-1"  # the rotation kept, also without it


def test_expires_in_zero_is_one_refresh_a_minute_not_one_a_call(tmp_path: Path) -> None:
    clock = Clock()
    endpoint = FakeEndpoint(0)
    tokens, _ = manager(tmp_path, endpoint, clock)
    for _ in range(200):  # 20 s of calls, 100 ms apart
        tokens.access_token()
        clock.now += 0.1
    assert endpoint.calls == 1


def test_refreshes_after_401s_are_paced(tmp_path: Path) -> None:
    clock = Clock()
    endpoint = FakeEndpoint()
    tokens, _ = manager(tmp_path, endpoint, clock)
    tokens.invalidate(tokens.access_token())
    tokens.invalidate(tokens.access_token())  # a token refused at once: replaced at once
    tokens.invalidate(tokens.access_token())  # and again, once
    with pytest.raises(OAuthError) as paced:
        tokens.access_token()
    assert paced.value.failure is Failure.TRANSIENT
    assert paced.value.retry_after == 60.0
    assert endpoint.calls == 3
    clock.now += 60.0
    tokens.access_token()
    assert endpoint.calls == 4


def test_a_paced_due_refresh_keeps_the_live_token_and_moves_its_renewal(tmp_path: Path) -> None:
    clock = Clock()
    endpoint = FakeEndpoint(70.0)  # renewed 14 s before expiry
    tokens, _ = manager(tmp_path, endpoint, clock)
    tokens.invalidate(tokens.access_token())
    tokens.invalidate(tokens.access_token())
    third = tokens.access_token()
    clock.now += 57.0  # due (renew_at 56 s), and 3 refreshes in the last 60 s
    kept = tokens.access_token()
    assert kept.value == third.value
    assert kept.renew_at == 1060.0  # when the pace allows one: not a renewal per call
    assert endpoint.calls == 3


def test_a_rotated_refresh_token_in_an_unusable_answer_is_kept(tmp_path: Path) -> None:
    clock = Clock()
    endpoint = FakeEndpoint()
    tokens, token_file = manager(tmp_path, endpoint, clock)
    endpoint.fail_with = OAuthError(Failure.TRANSIENT, "no access token", rotated="refresh-new")
    with pytest.raises(OAuthError):
        tokens.access_token()
    assert token_file.load().refresh_token == "refresh-new"


def test_an_answer_without_a_refresh_token_keeps_the_one_sent(tmp_path: Path) -> None:
    class NoRotation(FakeEndpoint):
        def refresh(self, refresh_token: str) -> TokenAnswer:
            self.calls += 1
            return TokenAnswer("access-without-refresh", None, 3600.0, "", 443)

    clock = Clock()
    tokens, token_file = manager(tmp_path, NoRotation(), clock)
    before = token_file.path.stat().st_mtime_ns
    tokens.access_token()
    assert token_file.load().refresh_token == "refresh-0"
    assert token_file.path.stat().st_mtime_ns == before  # nothing new: not rewritten


def test_policy_lifetime() -> None:
    policy = TokenPolicy(assumed_lifetime=100.0, min_lifetime=5.0)
    assert [policy.lifetime(s) for s in (None, -1.0, 0.0, 4.0, 6.0)] == [100, 5, 5, 5, 6]
