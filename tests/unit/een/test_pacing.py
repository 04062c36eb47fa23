import threading

from exporter.een.pacing import LoginPause, Verdict


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
