"""Run core generators on worker threads: progress, results and Cancel, back on the GUI thread.

One job at a time per JobRunner; starting a new job cancels the running one. Cancel
closes the core generator *on its worker thread*, so its cleanup (saving finished
rows, stopping DataLoader workers) runs where the work ran, and nothing
half-written remains.
"""

from __future__ import annotations

import gc
import time
from typing import Callable

from PySide6.QtCore import QObject, Signal
from superqt.utils import GeneratorWorker, create_worker

from ..core.errors import ExplorerError
from ..core.progress import Step


def freeze_heap() -> None:
    """Move every object alive now out of the garbage collector's reach.

    A full collection walks every tracked object (torch alone brings millions) while
    holding the GIL: 300 ms on two cores, during which the GUI thread cannot run. Long-
    lived objects (modules, models, Qt wrappers) never become garbage, so freezing them
    after heavy imports keeps later collections small. Costs O(1).
    """
    gc.freeze()


class JobFailed(Exception):
    """Carries a core RuntimeError past superqt, which treats RuntimeError as a deleted worker."""


def _shielded(work):
    try:
        return (yield from work)
    except RuntimeError as exc:
        raise JobFailed(f"{type(exc).__name__}: {exc}") from exc


class _ClosingWorker(GeneratorWorker):
    def work(self):
        try:
            return super().work()
        finally:
            self._gen.close()  # runs the generator's own cleanup on this thread


class JobRunner(QObject):
    """Starts jobs and reports on them; the JobBar and tests listen to its signals."""

    started = Signal(str)  # job name
    progressed = Signal(int, int, str)  # done, total (0: unknown), label
    succeeded = Signal(str)
    failed = Signal(str, str)  # job name, message a person can act on
    cancelled = Signal(str)
    idle = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._worker: GeneratorWorker | None = None
        self._stopping: GeneratorWorker | None = None  # cancelled, still finishing its last step
        self._pending: tuple | None = None  # a job waiting for the stopping one to clean up
        self._name = ""
        self._cancel_requested_at: float | None = None
        self.last_cancel_seconds: float | None = None  # how long the last Cancel took to stop

    @property
    def busy(self) -> bool:
        return self._worker is not None

    @property
    def name(self) -> str:
        return self._name

    def start(self, name: str, work, on_result: Callable, on_partial: Callable | None = None) -> None:
        """Run generator `work` (Steps, then a result) and call on_result(result) on the GUI thread."""
        self.cancel()
        if self._stopping is not None:  # never let two jobs write the same run folder
            self._pending = (name, work, on_result, on_partial)
            self.started.emit(name)
            return
        freeze_heap()
        worker = create_worker(lambda: (yield from _shielded(work)), _start_thread=False,
                               _worker_class=_ClosingWorker, _ignore_errors=True)  # `failed` reports them
        self._worker, self._name = worker, name

        def yielded(step: Step):
            if worker is not self._worker:
                return
            self.progressed.emit(step.done, step.total or 0, step.label)
            if on_partial is not None and step.partial is not None:
                on_partial(step.partial)

        def returned(result):
            if worker is self._worker:
                on_result(result)

        def errored(exc: Exception):
            if worker is self._worker:
                message = str(exc) if isinstance(exc, (ExplorerError, JobFailed)) else f"{type(exc).__name__}: {exc}"
                self.failed.emit(name, message)

        def finished():
            if worker is self._stopping:
                self._stopping = None
                if self._cancel_requested_at is not None:
                    self.last_cancel_seconds = time.perf_counter() - self._cancel_requested_at
                    self._cancel_requested_at = None
                self.cancelled.emit(name)
                if self._pending is not None:
                    pending, self._pending = self._pending, None
                    self.start(*pending)
                return
            if worker is self._worker:
                self._worker = None
                if not worker.abort_requested:
                    self.succeeded.emit(name)
                self.idle.emit()

        worker.yielded.connect(yielded)
        worker.returned.connect(returned)
        worker.errored.connect(errored)
        worker.finished.connect(finished)
        self.started.emit(name)
        worker.start()

    def cancel(self) -> None:
        """Ask the running job to stop after its current step; `cancelled` says when it has."""
        self._pending = None
        worker = self._worker
        if worker is not None:
            self._cancel_requested_at = time.perf_counter()
            worker.quit()
            self._worker, self._stopping = None, worker
            self.idle.emit()
