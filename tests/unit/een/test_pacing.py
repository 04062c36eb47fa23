import threading

from exporter.accounts.pacing import Backoff, LoginGate, wait
from exporter.een.pacing import LoginPause, Verdict
from tests.support import wait_for


def test_backoff_doubles_up_to_the_cap_and_resets() -> None:
    backoff = Backoff(base=0.5, cap=4.0, rng=lambda: 1.0)
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.next_delay() == 0.5


def test_backoff_has_full_jitter() -> None:
    backoff = Backoff(base=1.0, cap=60.0)
    delays = [backoff.next_delay() for _ in range(12)]
    assert all(0.0 <= d <= min(60.0, 2.0**i) for i, d in enumerate(delays))
    assert len(set(delays)) == len(delays)  # random, not a fixed schedule


def test_backoff_survives_many_attempts() -> None:
    backoff = Backoff(base=1.0, cap=60.0, rng=lambda: 1.0)
    assert [backoff.next_delay() for _ in range(2000)][-1] == 60.0


def test_login_gate_bounds_concurrency() -> None:
    gate = LoginGate(3)
    release = threading.Event()
    done: list[int] = []

    def login(n: int) -> None:
        with gate:
            release.wait(5)
            done.append(n)

    threads = [threading.Thread(target=login, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    wait_for(lambda: gate.active == 3, message="three logins inside the gate")
    release.set()
    for thread in threads:
        thread.join(5)
    assert sorted(done) == list(range(8))
    assert gate.peak == 3
    assert gate.active == 0


def test_a_wait_of_any_length_neither_overflows_nor_misses_the_event() -> None:
    event = threading.Event()
    threading.Timer(0.05, event.set).start()
    assert wait(event, 1e10)  # threading.Event.wait(1e10) raises OverflowError


def test_login_pause_lets_one_trial_through_per_period() -> None:
    now = [0.0]
    pause = LoginPause(base=10.0, cap=40.0, clock=lambda: now[0])
    assert pause.begin()
    assert pause.end(Verdict.REFUSED)  # the refusal started the pause
    assert not pause.begin()
    now[0] = 10.0
    assert pause.begin()  # the trial
    assert pause.remaining() == LoginPause.TRIAL_WAIT  # the others wait for its verdict
    assert not pause.end(Verdict.REFUSED)
    assert pause.remaining() == 20.0
    now[0] = 30.0
    assert pause.begin()
    assert not pause.end(Verdict.UNKNOWN)  # a network error says nothing: try again now
    assert pause.remaining() == 0.0
    assert pause.begin()
    assert pause.end(Verdict.ACCEPTED)  # that ended the pause
    assert pause.begin()
    assert pause.begin()  # not paused: anyone may log in


def test_a_refusal_of_a_login_begun_before_the_pause_does_not_lengthen_it() -> None:
    now = [0.0]
    pause = LoginPause(base=10.0, cap=40.0, clock=lambda: now[0])
    refusals: list[bool] = []
    begun = threading.Barrier(2)
    ended = threading.Event()

    def other_login() -> None:
        assert pause.begin()
        begun.wait(2)
        ended.wait(2)
        refusals.append(pause.end(Verdict.REFUSED))

    other = threading.Thread(target=other_login)
    other.start()
    assert pause.begin()
    begun.wait(2)
    assert pause.end(Verdict.REFUSED)
    ended.set()
    other.join(2)
    assert refusals == [False]
    assert pause.remaining() == 10.0
