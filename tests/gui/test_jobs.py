"""The job runner's lanes: results, progress, Cancel, the stopping/pending state machine, errors."""

import threading

import pytest

from explorer.core.errors import ExplorerError
from explorer.core.progress import Step
from explorer.gui.jobs import JobRunner, Lane, SlotStatus

WAIT = 10_000


@pytest.fixture
def runner(qtbot):
    jobs = JobRunner()
    yield jobs
    jobs.cancel()
    assert jobs.wait(WAIT)


def recorder(lane: Lane) -> list:
    events = []
    lane.started.connect(lambda name: events.append(("started", name)))
    lane.succeeded.connect(lambda name: events.append(("succeeded", name)))
    lane.failed.connect(lambda name, msg: events.append(("failed", name, msg)))
    lane.cancelled.connect(lambda name: events.append(("cancelled", name)))
    return events


class Gate:
    """A job that reports progress, then blocks inside its step until opened."""

    def __init__(self, result="done"):
        self.entered, self.opened, self.closed_on = threading.Event(), threading.Event(), None
        self.result = result

    def work(self):
        try:
            yield Step(0, 2, "waiting")
            self.entered.set()
            assert self.opened.wait(WAIT)
            yield Step(1, 2, "going on")
            yield Step(2, 2, "done")
            return self.result
        finally:
            self.closed_on = threading.current_thread()


def test_a_job_reports_progress_and_its_result_on_the_gui_thread(qtbot, runner):
    lane = runner.pipeline
    events, progress, results = recorder(lane), [], []
    lane.progressed.connect(lambda name, done, total, label: progress.append((name, done, total, label)))
    gui = threading.current_thread()

    def work():
        for i in range(3):
            yield Step(i + 1, 3, f"step {i + 1}")
        return threading.current_thread()

    with qtbot.waitSignal(lane.idle, timeout=WAIT):
        lane.start("Counting", work(), lambda worker: results.append((worker, threading.current_thread())))
    assert events == [("started", "Counting"), ("succeeded", "Counting")]
    assert progress == [("Counting", i, 3, f"step {i}") for i in (1, 2, 3)]
    (worker, delivered_on), = results
    assert worker is not gui and delivered_on is gui
    assert not lane.busy and lane.status() == SlotStatus()


def test_start_while_stopping_queues_the_new_job_until_the_old_one_has_cleaned_up(qtbot, runner):
    lane = runner.pipeline
    events, results = recorder(lane), []
    first, second = Gate("first"), Gate("second")
    lane.start("First", first.work(), results.append)
    assert first.entered.wait(WAIT)
    lane.start("Second", second.work(), results.append)  # cancels First, which is inside a step
    assert lane.status() == SlotStatus(running=None, stopping="First", pending="Second")
    assert not second.entered.is_set()  # never two jobs of a key at once
    second.opened.set()
    with qtbot.waitSignal(lane.cancelled, timeout=WAIT) as cancelled:
        first.opened.set()
    assert cancelled.args == ["First"] and first.closed_on is not threading.current_thread()
    assert lane.status().running == "Second"
    qtbot.waitUntil(lambda: results == ["second"], timeout=WAIT)
    assert events == [("started", "First"), ("started", "Second"), ("cancelled", "First"), ("started", "Second"),
                      ("succeeded", "Second")]
    assert lane.last_cancel_seconds is not None


def test_cancel_clears_a_pending_job(qtbot, runner):
    lane = runner.pipeline
    events, results = recorder(lane), []
    first, second = Gate("first"), Gate("second")
    lane.start("First", first.work(), results.append)
    assert first.entered.wait(WAIT)
    lane.start("Second", second.work(), results.append)
    lane.cancel()
    assert lane.status() == SlotStatus(stopping="First")
    with qtbot.waitSignal(lane.cancelled, timeout=WAIT):
        first.opened.set()
    qtbot.wait(200)
    assert not second.entered.is_set() and results == [] and lane.status() == SlotStatus()
    assert events[-1] == ("cancelled", "First")


def test_cancel_stops_between_steps_and_closes_the_generator_on_its_thread(qtbot, runner):
    lane = runner.pipeline
    steps, closed = [], []

    def endless():
        try:
            while True:
                steps.append(1)
                yield Step(len(steps), None, "")
        finally:
            closed.append(threading.current_thread())

    lane.start("Endless", endless())
    qtbot.waitUntil(lambda: len(steps) > 5, timeout=WAIT)
    with qtbot.waitSignal(lane.cancelled, timeout=WAIT):
        lane.cancel()
    assert closed and closed[0] is not threading.current_thread()
    assert lane.last_cancel_seconds < 1.0


def test_errors_reach_failed_and_the_job_s_own_handler(qtbot, runner):
    lane = runner.analysis
    events, handled = recorder(lane), []
    relayed = []
    runner.failed.connect(lambda title, name, msg: relayed.append((title, name, msg)))

    def explorer_error():
        raise ExplorerError("Weights file not found: x.pth")
        yield

    def runtime_error():
        yield Step(0, None, "")
        raise RuntimeError("shape mismatch")

    def plain():
        return 1 / 0

    for name, work in (("A", explorer_error()), ("B", runtime_error()), ("C", plain)):
        with qtbot.waitSignal(lane.failed, timeout=WAIT):
            lane.start(name, work, on_error=handled.append, key=name)
    assert handled == ["Weights file not found: x.pth", "RuntimeError: shape mismatch",
                       "ZeroDivisionError: division by zero"]
    assert [e for e in events if e[0] == "failed"] == [("failed", n, m) for n, m in zip("ABC", handled)]
    assert relayed == [("analysis", n, m) for n, m in zip("ABC", handled)]
    assert not lane.busy


def test_lanes_are_independent(qtbot, runner):
    embedding, stats = Gate("features"), Gate("stats")
    results = []
    runner.pipeline.start("Embedding", embedding.work(), results.append)
    runner.analysis.start("Channel statistics", stats.work(), results.append, key="stats")
    assert embedding.entered.wait(WAIT) and stats.entered.wait(WAIT)
    with qtbot.waitSignal(runner.analysis.cancelled, timeout=WAIT):
        runner.analysis.cancel()
        stats.opened.set()
    assert runner.pipeline.busy and runner.pipeline.status().running == "Embedding"
    with qtbot.waitSignal(runner.pipeline.succeeded, timeout=WAIT):
        embedding.opened.set()
    assert results == ["features"]


def test_keys_in_one_lane_run_side_by_side_and_the_same_key_replaces(qtbot):
    lane = Lane("analysis", threads=2)  # the app's analysis lane has one thread per spare core
    index, patches = Gate("index"), Gate("patches")
    results = []
    lane.start("Neighbour index", index.work(), results.append, key="index")
    lane.start("Patches", patches.work(), results.append, key="patches")
    assert index.entered.wait(WAIT) and patches.entered.wait(WAIT)  # both run at once
    assert lane.status("index").running == "Neighbour index" and lane.status("patches").running == "Patches"
    newer = Gate("newer patches")
    newer.opened.set()
    lane.start("Patches", newer.work(), results.append, key="patches")
    assert lane.status("patches") == SlotStatus(stopping="Patches", pending="Patches")
    assert lane.status("index").running == "Neighbour index"
    patches.opened.set()
    index.opened.set()
    qtbot.waitUntil(lambda: sorted(results) == ["index", "newer patches"], timeout=WAIT)
    assert lane.wait(WAIT)


def test_a_job_started_from_a_result_does_not_cancel_the_finished_one(qtbot, runner):
    lane = runner.pipeline
    events, results = recorder(lane), []

    def then_project(out):
        results.append(out)
        lane.start("Projection", (x for x in ()), results.append)  # a generator with no steps

    lane.start("Embedding", (x for x in ()), then_project)
    qtbot.waitUntil(lambda: len(results) == 2, timeout=WAIT)
    assert ("cancelled", "Embedding") not in events
    assert events == [("started", "Embedding"), ("started", "Projection"), ("succeeded", "Embedding"),
                      ("succeeded", "Projection")]
