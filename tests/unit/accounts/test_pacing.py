"""The engine's pacing: reconnect backoff, the login gate, waits of any length."""

import threading

from exporter.accounts.pacing import Backoff, LoginGate, wait
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
