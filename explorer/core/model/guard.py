"""The one lock between tracing and forward passes, so no caller has to think about it.

torch.fx patches `nn.Module.__call__` for the whole process while it traces, so a forward pass
on another thread during a trace would run through the tracer. Forward passes share the guard
(any number at once, from any thread); a trace holds it alone and is let in first.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager


class TraceGuard:
    """A shared/exclusive lock: forward passes share it, a trace holds it alone (and goes first)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._forwards = 0
        self._tracer: int | None = None
        self._waiting = 0
        self._local = threading.local()

    @contextmanager
    def forward(self):
        depth = getattr(self._local, "depth", 0)
        mine = depth == 0 and self._tracer != threading.get_ident()
        if mine:
            with self._cond:
                while self._tracer is not None or self._waiting:
                    self._cond.wait()
                self._forwards += 1
        self._local.depth = depth + 1
        try:
            yield
        finally:
            self._local.depth = depth
            if mine:
                with self._cond:
                    self._forwards -= 1
                    self._cond.notify_all()

    @contextmanager
    def trace(self):
        if getattr(self._local, "depth", 0):
            raise RuntimeError("cannot trace a model from inside a forward pass")
        with self._cond:
            self._waiting += 1
            while self._tracer is not None or self._forwards:
                self._cond.wait()
            self._waiting -= 1
            self._tracer = threading.get_ident()
        try:
            yield
        finally:
            with self._cond:
                self._tracer = None
                self._cond.notify_all()


TRACE_GUARD = TraceGuard()
