"""Every background job of the app runs here: core generators on worker threads, in lanes.

A `Lane` is a kind of work with its own threads, progress, Cancel and errors:

    pipeline   embedding and projection: one at a time, a new one replaces the running one
    analysis   model description, neighbour index and queries, channel statistics, patches,
               activation maps, colouring, the hover index: many at once, one per key
    io         exports

Within a lane, jobs with the same `key` replace each other: starting one cancels the running
one, and if that is still finishing its last step (stopping), the new one waits (pending) so
two jobs never write the same run folder. Cancel closes the core generator *on its worker
thread*, so its cleanup (saving finished rows, stopping DataLoader workers) runs where the work
ran. Results, progress and errors arrive on the GUI thread; every error reaches `failed`.

(Thumbnails stay on ThumbnailCache's own pool: hundreds of tiny fire-and-forget decodes per
scroll, dropped by generation, whose failures are data shown as "unreadable", not job errors.)
"""

from __future__ import annotations

import gc
import inspect
import re
import time
from dataclasses import dataclass
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, QThreadPool, Signal
from superqt.utils import GeneratorWorker

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


def _called(function: Callable[[], Any]):
    """A plain function as a job: one call, cancellable until it starts."""
    return function()
    yield  # noqa: unreachable - makes this a generator


def message_for(exc: BaseException) -> str:
    """What the user reads: an ExplorerError's own words, else the exception's type and text."""
    return in_app_words(str(exc) if isinstance(exc, (ExplorerError, JobFailed)) else f"{type(exc).__name__}: {exc}")


# core's messages name the CLI's flags; in the window the same remedy is a menu item
_WEIGHTS_FLAG = re.compile(r"pass --weights PATH.*?(?:--weights random[^.]*\.|$)", re.DOTALL)


def in_app_words(message: str) -> str:
    """A core message as the app says it: 'pass --weights PATH …' becomes the menu items that do it."""
    return _WEIGHTS_FLAG.sub("choose File ▸ Load weights… (a local state dict) or File ▸ Use random weights "
                             "(seeded; explores the structure only).", message)


class _ClosingWorker(GeneratorWorker):
    def work(self):
        try:
            return super().work()
        finally:
            self._gen.close()  # runs the generator's own cleanup on this thread


@dataclass
class _Job:
    name: str
    work: Any  # generator of Steps, or a function of no arguments
    on_result: Callable | None
    on_partial: Callable | None
    on_error: Callable[[str], None] | None
    on_cancel: Callable[[], None] | None = None


@dataclass(frozen=True)
class SlotStatus:
    """Names of the jobs of one key: running, cancelled but still finishing (stopping), waiting."""

    running: str | None = None
    stopping: str | None = None
    pending: str | None = None


class _Slot:
    def __init__(self):
        self.worker: GeneratorWorker | None = None
        self.job: _Job | None = None
        self.stopping: GeneratorWorker | None = None
        self.stopping_job: _Job | None = None
        self.pending: _Job | None = None
        self.cancel_requested_at: float | None = None


class Lane(QObject):
    """Jobs of one kind: progress, Cancel and errors; the JobBar and tests listen to its signals."""

    started = Signal(str)  # job name (also when it waits for a stopping job)
    progressed = Signal(str, int, int, str)  # job name, done, total (0: unknown), label
    succeeded = Signal(str)
    failed = Signal(str, str)  # job name, message a person can act on
    cancelled = Signal(str)  # a cancelled job has stopped; its finished work is kept
    idle = Signal()  # nothing running in this lane (stopping jobs do not count)

    def __init__(self, title: str, *, threads: int = 1, freeze: bool = False, parent=None):
        """threads: jobs of different keys running at once; freeze: freeze_heap() before each job
        (for long jobs after heavy imports; not for frequent small ones, whose garbage it would keep)."""
        super().__init__(parent)
        self.title = title
        self._freeze = freeze
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        self._slots: dict[str, _Slot] = {}
        self._live: set[GeneratorWorker] = set()  # referenced until their thread is done with them
        self._name = ""
        self.last_cancel_seconds: float | None = None  # how long the last Cancel took to stop

    @property
    def busy(self) -> bool:
        return any(slot.worker is not None for slot in self._slots.values())

    @property
    def name(self) -> str:
        """The job started last (what a progress bar names)."""
        return self._name

    def status(self, key: str = "") -> SlotStatus:
        slot = self._slots.get(key)
        if slot is None:
            return SlotStatus()
        return SlotStatus(slot.job.name if slot.job else None,
                          slot.stopping_job.name if slot.stopping_job else None,
                          slot.pending.name if slot.pending else None)

    def start(self, name: str, work, on_result: Callable | None = None, *, key: str = "",
              on_partial: Callable | None = None, on_error: Callable[[str], None] | None = None,
              on_cancel: Callable[[], None] | None = None) -> None:
        """Run `work` (a generator of Steps returning a result, or a function of no arguments) and
        call on_result(result) on the GUI thread. Replaces the lane's job of the same key.

        on_partial(step.partial) shows intermediate results; on_error(message) lets a view say
        what went wrong in place (the lane's `failed` is emitted in any case); on_cancel() lets it
        say that the job was cancelled (Cancel, or cancel()) and will bring nothing: a view waiting
        for the result would otherwise wait for ever. A job replaced by a newer one of its key is
        not cancelled in this sense: the newer one brings the result.
        """
        job = _Job(name, work, on_result, on_partial, on_error, on_cancel)
        slot = self._slots.setdefault(key, _Slot())
        self._cancel(key, replacing=True)
        self._name = name
        if slot.stopping is not None:  # never let two jobs of a key overlap (one run folder, one model)
            slot.pending = job
            self.started.emit(name)
            return
        self._launch(slot, job)

    def cancel(self, key: str | None = None) -> None:
        """Stop the job of `key` (None: every job of the lane) after its current step; forget a
        pending one. `cancelled` says when a running job has stopped; each job's on_cancel is
        called once it has stopped (at once for a pending one, which never ran)."""
        self._cancel(key, replacing=False)

    def _cancel(self, key: str | None, *, replacing: bool) -> None:
        keys = list(self._slots) if key is None else [key]
        stopped = False
        dropped: list[_Job] = []
        for k in keys:
            slot = self._slots.get(k)
            if slot is None:
                continue
            if slot.pending is not None and not replacing:
                dropped.append(slot.pending)
            slot.pending = None
            if slot.worker is not None:
                slot.cancel_requested_at = time.perf_counter()
                slot.worker.quit()
                slot.stopping, slot.stopping_job = slot.worker, slot.job
                slot.worker, slot.job = None, None
                stopped = True
        if stopped and not self.busy:
            self.idle.emit()
        for job in dropped:
            if job.on_cancel is not None:
                job.on_cancel()

    def wait(self, msecs: int = 30_000) -> bool:
        """Block until every worker of this lane has returned (closing the app, tests)."""
        return self._pool.waitForDone(msecs)

    # --- the state machine, driven by the worker's signals on the GUI thread -----------------------
    def _launch(self, slot: _Slot, job: _Job) -> None:
        if self._freeze:
            freeze_heap()
        work = job.work if inspect.isgenerator(job.work) else _called(job.work)
        worker = _ClosingWorker(lambda: (yield from _shielded(work)))
        slot.worker, slot.job = worker, job

        def yielded(step: Step):
            if worker is not slot.worker:
                return
            self.progressed.emit(job.name, step.done, step.total or 0, step.label)
            if job.on_partial is not None and step.partial is not None:
                job.on_partial(step.partial)

        def returned(result):
            if worker is not slot.worker:
                return  # cancelled meanwhile: its result is not wanted
            slot.worker, slot.job = None, None  # done: a job started by on_result need not wait
            try:
                if job.on_result is not None:
                    job.on_result(result)
            finally:
                self.succeeded.emit(job.name)
                if not self.busy:
                    self.idle.emit()

        def errored(exc: BaseException):
            if worker is not slot.worker:
                return  # a cancelled job's cleanup: the user asked it to stop
            slot.worker, slot.job = None, None
            self._fail(job, message_for(exc))

        def finished():
            self._live.discard(worker)
            if worker is slot.stopping:
                self._stopped(slot)
            elif worker is slot.worker:  # ended with neither a result nor an error
                slot.worker, slot.job = None, None
                self._fail(job, "stopped without a result")

        worker.yielded.connect(yielded)
        worker.returned.connect(returned)
        worker.errored.connect(errored)
        worker.finished.connect(finished)
        self.started.emit(job.name)
        self._live.add(worker)
        self._pool.start(worker)

    def _fail(self, job: _Job, message: str) -> None:
        try:
            if job.on_error is not None:
                job.on_error(message)
        finally:
            self.failed.emit(job.name, message)
            if not self.busy:
                self.idle.emit()

    def _stopped(self, slot: _Slot) -> None:
        stopped = slot.stopping_job
        name = stopped.name if stopped else ""
        slot.stopping, slot.stopping_job = None, None
        if slot.cancel_requested_at is not None:
            self.last_cancel_seconds = time.perf_counter() - slot.cancel_requested_at
            slot.cancel_requested_at = None
        self.cancelled.emit(name)
        if slot.pending is not None:  # replaced: the newer job brings the result
            job, slot.pending = slot.pending, None
            self._launch(slot, job)
        elif stopped is not None and stopped.on_cancel is not None:
            stopped.on_cancel()


class JobRunner(QObject):
    """The app's lanes; `failed` relays every lane's errors with the lane's title."""

    failed = Signal(str, str, str)  # lane title, job name, message

    def __init__(self, parent=None):
        super().__init__(parent)
        self.pipeline = Lane("pipeline", threads=1, freeze=True, parent=self)
        # analysis jobs of different keys side by side, leaving a core to the pipeline and the GUI
        self.analysis = Lane("analysis", threads=max(1, min(4, QThread.idealThreadCount() - 1)), parent=self)
        self.io = Lane("io", threads=1, parent=self)
        self.training = Lane("training", threads=1, parent=self)  # fine-tuning: long, apart from the maps
        for lane in self.lanes:
            lane.failed.connect(lambda name, message, lane=lane: self.failed.emit(lane.title, name, message))

    @property
    def lanes(self) -> tuple[Lane, ...]:
        return self.pipeline, self.analysis, self.io, self.training

    @property
    def busy(self) -> bool:
        return any(lane.busy for lane in self.lanes)

    def cancel(self) -> None:
        """Cancel every job of every lane."""
        for lane in self.lanes:
            lane.cancel()

    def wait(self, msecs: int = 30_000) -> bool:
        """Block until every worker has returned, so generators close cleanly before exit."""
        deadline = time.perf_counter() + msecs / 1000
        return all(lane.wait(max(0, int((deadline - time.perf_counter()) * 1000))) for lane in self.lanes)
