"""Stale state found by using the app in a real X window: what a view shows must stay true.

Each test failed before its fix: a sorted channel table highlighting another channel than the
one on display, and analysis jobs cancelled from the status bar leaving views waiting for ever
(the Layer box empty after the model load of a reopened run was cancelled).
"""

import time

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from explorer.core.progress import Step
from explorer.gui.jobs import JobRunner
from tests.gui.test_app import run_pipeline

WAIT = 20_000


def click_row(table, row: int):
    rect = table.visualRect(table.model().index(row, 0))
    QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def highlighted_channel(channels) -> int:
    rows = channels.table.selectionModel().selectedRows()
    assert len(rows) == 1
    return channels.table_model.channel_at(rows[0].row())


def test_sorting_the_channel_table_keeps_the_chosen_channel_highlighted(qtbot, window, photo_folder):
    run_pipeline(qtbot, window, photo_folder, projection="pca")
    channels = window.neurons.channels
    table, model = channels.table, channels.table_model
    qtbot.waitUntil(lambda: model.rowCount() == 512, timeout=WAIT)
    chosen = model.channel_at(3)
    click_row(table, 3)
    assert channels.channel == chosen == highlighted_channel(channels)

    maxima = np.asarray(window.session.run.channel_max, np.float64)[window.session.run.done_mask].max(0)
    table.horizontalHeader().setSortIndicator(2, Qt.SortOrder.DescendingOrder)  # a click on "max"
    assert model.channel_at(0) == int(np.argmax(maxima))
    assert model.channel_at(3) != chosen  # the chosen channel moved ...
    assert highlighted_channel(channels) == chosen == channels.channel  # ... and its highlight with it

    # the channel now in row 3 can be chosen with a click (it was highlighted, so a click did nothing)
    other = model.channel_at(3)
    click_row(table, 3)
    assert channels.channel == other == highlighted_channel(channels)
    table.horizontalHeader().setSortIndicator(0, Qt.SortOrder.AscendingOrder)
    assert highlighted_channel(channels) == other


def test_cancelling_the_model_load_of_a_reopened_run_keeps_the_layer_named(qtbot, photo_folder):
    from explorer.gui.main_window import MainWindow

    first = MainWindow(remember=False)
    qtbot.addWidget(first)
    run_pipeline(qtbot, first, photo_folder, projection="pca")
    layer = first.session.run.layer
    first.close()

    second = MainWindow(remember=False)
    qtbot.addWidget(second)
    second.show()
    second.session.update(dataset=str(photo_folder), model="resnet18", weights="random", projection="pca")
    analysis = second.jobs.analysis
    second.start_pipeline()
    # reopened from the cache: the map at once, the model (and its layer list) from the analysis lane
    qtbot.waitUntil(lambda: analysis.status("model").running == "Loading the model", timeout=WAIT)
    assert second.session.run is not None and second.session.run.layer == layer
    with qtbot.waitSignal(second.pipeline_finished, timeout=WAIT):  # finishes without the model
        second.analysis_bar.cancel_button.click()  # Cancel beside "Loading the model…"
    assert not analysis.busy and second._prepared is None and second.session.layers == ()
    combo = second.controls.layer_combo
    assert combo.count() == 1 and combo.currentData() == layer  # the map's layer, not an empty box
    assert layer in combo.currentText() and "512" in second.controls.layer_info.text()

    # choosing the model again loads it, and the whole list arrives
    with qtbot.waitSignal(second.pipeline_finished, timeout=60_000):
        second.set_model("resnet18", "random")
    qtbot.waitUntil(lambda: combo.count() > 10, timeout=60_000)
    second.jobs.cancel()
    assert second.jobs.wait(30_000)


def test_cancelled_analysis_jobs_leave_no_view_waiting(qtbot, window, photo_folder):
    run_pipeline(qtbot, window, photo_folder, projection="pca")
    session, gallery, channels = window.session, window.gallery, window.neurons.channels
    analysis = window.jobs.analysis
    qtbot.waitUntil(lambda: channels.table_model.rowCount() == 512 and gallery._index is not None, timeout=WAIT)

    # a new metric rebuilds the neighbour index and the run's statistics are asked again; Cancel both
    gallery.metric.setCurrentText("euclidean")
    channels._run_changed()
    with qtbot.waitSignal(analysis.idle, timeout=WAIT):
        window.analysis_bar.cancel_button.click()
    qtbot.waitUntil(lambda: "cancelled" in gallery.caption.text(), timeout=WAIT)
    assert "cancelled" in channels.title.text()
    # the next selection asks again, and both views fill
    with qtbot.waitSignal(gallery.neighbours_shown, timeout=WAIT):
        session.select([2])
    qtbot.waitUntil(lambda: channels.table_model.rowCount() == 512, timeout=WAIT)
    assert gallery._index.metric == "euclidean" and len(gallery.shown_neighbours) == 7

    # colouring by a channel, cancelled: the button does not claim a colouring the map does not show
    channels.choose(5)
    channels.colour_button.setChecked(True)
    analysis.cancel()
    qtbot.waitUntil(lambda: not analysis.busy and not channels.colour_button.isChecked(), timeout=WAIT)
    assert session.colour_channel is None and window.controls.colour_note.isHidden()


def test_on_cancel_is_called_when_a_job_is_cancelled_not_when_it_is_replaced(qtbot):
    runner = JobRunner()
    lane = runner.analysis
    events = []

    def slow(tag):
        for i in range(200):
            yield Step(i, 200, tag)
            time.sleep(0.01)
        return tag

    def start(tag):
        lane.start(tag, slow(tag), lambda r: events.append(("result", r)), key="k",
                   on_cancel=lambda: events.append(("cancelled", tag)))

    start("a")
    start("b")  # replaces a: b brings the result, a is not "cancelled"
    start("c")  # b never ran: replaced too
    with qtbot.waitSignal(lane.succeeded, timeout=WAIT):
        pass
    assert events == [("result", "c")]

    events.clear()
    start("d")
    qtbot.waitUntil(lambda: lane.status("k").running == "d", timeout=WAIT)
    lane.cancel()
    qtbot.waitUntil(lambda: events == [("cancelled", "d")], timeout=WAIT)

    events.clear()
    start("e")
    start("f")  # pending while e stops
    lane.cancel()  # f never runs: it is cancelled at once, e once it has stopped
    qtbot.waitUntil(lambda: sorted(events) == [("cancelled", "e"), ("cancelled", "f")], timeout=WAIT)
    assert events[0] == ("cancelled", "f")
    runner.cancel()
    assert runner.wait(WAIT)
