"""Long work is a generator of Steps; callers decide how to show it and when to stop.

Cancelling is simply not asking for the next step (close the generator); the work
keeps what it finished. `run_to_end` drives a generator when nobody is watching.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generator, TypeVar

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
