"""The time-left estimate of a job (the app's progress bar shows it)."""

from explorer.core.progress import Eta, format_eta


def test_eta_follows_the_recent_rate_not_a_slow_start():
    eta = Eta(window=10.0, min_seconds=2.0)
    t = 0.0
    eta.update(0, 1000, t)
    t += 5.0  # loading the model: 5 s for nothing
    for done in range(10, 210, 10):  # then 10 rows every 0.1 s = 100 rows/s
        eta.update(done, 1000, t)
        t += 0.1
    left = eta.seconds_left()
    assert left is not None and abs(left - 800 / 100) < 0.5  # 800 rows at 100/s, not at the average rate


def test_eta_is_unknown_at_first_and_starts_over_for_a_new_stage():
    eta = Eta(min_seconds=2.0)
    eta.update(0, 100, 0.0)
    eta.update(10, 100, 0.5)
    assert eta.seconds_left() is None  # too early to say
    eta.update(20, 100, 1.0)
    eta.update(30, 100, 2.5)
    assert eta.seconds_left() is not None
    eta.update(5, 50, 3.0)  # another total: a new stage
    assert eta.seconds_left() is None


def test_format_eta():
    assert format_eta(None) == ""
    assert format_eta(7) == "about 7 s left"
    assert format_eta(42) == "about 40 s left"
    assert format_eta(200) == "about 3 min left"
    assert format_eta(4800) == "about 1 h 20 min left"
