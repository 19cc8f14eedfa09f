"""Long work is a generator of Steps; callers decide how to show it and when to stop.

Cancelling is simply not asking for the next step (close the generator); the work
keeps what it finished. `run_to_end` drives a generator when nobody is watching.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generator, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Step:
    done: int
    total: int | None
    label: str = ""
    partial: Any = None  # an intermediate result a viewer may show, e.g. a t-SNE layout


Work = Generator[Step, None, T]


def run_to_end(work: Work[T]) -> T:
    """Consume every step and return the generator's result."""
    while True:
        try:
            next(work)
        except StopIteration as stop:
            return stop.value


def map_partials(work: Work[T], f: Callable[[Any], Any]) -> Work[T]:
    """`work`'s Steps with each partial result replaced by f(partial); returns its result. Closing this
    generator closes `work` at once (a cancelled t-SNE stops now, not when it is collected)."""
    try:
        while True:
            try:
                step = next(work)
            except StopIteration as stop:
                return stop.value
            if step.partial is not None:
                step = Step(step.done, step.total, step.label, partial=f(step.partial))
            yield step
    finally:
        work.close()


class Eta:
    """Seconds left of a job from its (done, total) steps: the recent rate, smoothed.

    The first steps of a job are slow (loading, warming up) and later ones steady, so the
    rate is measured over the last `window` seconds of steps, not since the start. No
    estimate until the job has run `min_seconds` and moved at least twice: a guess from
    one batch misleads more than none.

        eta = Eta()
        eta.update(done, total, time.monotonic())  # each step
        eta.seconds_left()                         # None or seconds
    """

    def __init__(self, *, window: float = 20.0, min_seconds: float = 2.0):
        self.window, self.min_seconds = window, min_seconds
        self._points: list[tuple[float, int]] = []  # (time, done), newest last
        self._total: int | None = None
        self._start: float | None = None

    def update(self, done: int, total: int | None, now: float) -> None:
        if self._start is None or total != self._total or (self._points and done < self._points[-1][1]):
            # a new stage: start over. Its first step only marks the start: the time before the next one
            # holds the warm-up (model load, first batch), not the pace
            self._points, self._total, self._start = [], total, now
            return
        if self._points and done == self._points[-1][1]:
            return  # no progress: the rate is read from moves, the wait shows up at the next move
        self._points.append((now, done))
        while len(self._points) > 2 and now - self._points[1][0] >= self.window:
            self._points.pop(0)

    def seconds_left(self) -> float | None:
        if not self._total or len(self._points) < 2:
            return None
        (t0, d0), (t1, d1) = self._points[0], self._points[-1]
        if t1 - self._start < self.min_seconds or d1 <= d0 or t1 <= t0:
            return None
        return max(0.0, (self._total - d1) / ((d1 - d0) / (t1 - t0)))


def format_eta(seconds: float | None) -> str:
    """'about 40 s left', 'about 3 min left', 'about 1 h 20 min left'; '' when unknown."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"about {max(1, round(seconds / 5) * 5 if seconds > 10 else round(seconds))} s left"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min left"
    return f"about {minutes // 60} h {minutes % 60} min left"
