"""The time-left estimate of a job (the app's progress bar shows it)."""

from explorer.core.progress import Eta, Step, format_eta, map_partials


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


# --- map_partials: Steps re-yielded with their partial results mapped, the result returned,
# and closing it closes the work it wraps (a cancelled map stops at once)


def test_partials_are_mapped_and_the_result_returned():
    def work():
        yield Step(0, 2, "a", partial=1)
        yield Step(1, 2, "b")
        return "done"

    seen = []
    assert _record(map_partials(work(), lambda p: p * 10), seen) == "done"
    assert [(s.done, s.label, s.partial) for s in seen] == [(0, "a", 10), (1, "b", None)]


def test_closing_it_closes_the_work():
    closed = []

    def work():
        try:
            while True:
                yield Step(0, None, "", partial=0)
        finally:
            closed.append(True)

    wrapped = map_partials(work(), lambda p: p)
    next(wrapped)
    wrapped.close()
    assert closed == [True]


def _record(work, seen):
    while True:
        try:
            seen.append(next(work))
        except StopIteration as stop:
            return stop.value
