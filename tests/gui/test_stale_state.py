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
    gallery.metric_combo.setCurrentText("euclidean")  # not `metric`: that name is QWidget.metric()
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


def other_layer(session) -> str:
    """A spatial layer of the loaded model other than the one on display."""
    return next(info.name for info in session.layers if info.name.startswith("layer3") and info.name != session.layer)


def test_switching_projection_while_a_layer_embeds_maps_the_new_layer(qtbot, window, photo_folder):
    """Issue 10, bug 1: a projection change during a layer's embedding replaced that embedding, so t-SNE ran
    on the old layer while the Layer box named the new one."""
    run_pipeline(qtbot, window, photo_folder, projection="pca")
    session, old = window.session, window.session.run.layer
    new = other_layer(session)
    with qtbot.waitSignal(window.pipeline_finished, timeout=120_000):
        window.set_layer(new)
        window.set_projection("tsne", 2.0, 0)  # while the new layer is being embedded
    assert not window.last_error, window.last_error
    assert session.run.layer == new != old and session.layer == new
    assert window.controls.layer_combo.currentData() == new
    assert session.layout_method == "tsne" and session.perplexity == 2.0
    # the map is the new layer's: its PCA starting point differs from the old layer's
    assert session.layout.shape == (8, 2)


def test_a_re_embedding_marks_the_old_map_stale_and_clicks_do_nothing(qtbot, window, photo_folder):
    """Issue 10, bug 9: during a re-embed the old map, gallery and neurons looked current and stayed
    clickable."""
    from tests.gui.test_app import screen_pos

    run_pipeline(qtbot, window, photo_folder, projection="pca")
    session, old = window.session, window.session.run
    new = other_layer(session)
    pos = screen_pos(window, 3)
    with qtbot.waitSignal(window.pipeline_finished, timeout=120_000):
        window.set_layer(new)
        assert window.stale_cover.isVisible() and f"resnet18 / {new}" in window.stale_cover.text()
        assert old.layer in window.stale_cover.text()  # says which map is still shown
        assert not window.scatter.isEnabled() and not window.gallery.isEnabled() and not window.neurons.isEnabled()
        assert not window.map_dock.widget().isEnabled() and window.controls.isEnabled()  # the controls stay usable
        QTest.mouseClick(window.scatter.plot.viewport(), Qt.MouseButton.LeftButton, pos=pos)
        assert session.selection == []  # a click on the stale map selects nothing
    assert session.run is not old and session.run.layer == new
    assert not window.stale_cover.isVisible() and window.scatter.isEnabled() and window.gallery.isEnabled()


def test_the_layer_box_names_the_layer_during_the_first_embedding(qtbot, window, photo_folder):
    """Issue 10, bug 9: the Layer box was empty while the first run embedded."""
    seen = []
    lane = window.jobs.pipeline
    lane.progressed.connect(lambda name, d, t, label: seen.append(window.controls.layer_combo.currentData())
                            if name == "Embedding" and "images/s" in label else None)
    run_pipeline(qtbot, window, photo_folder, projection="pca")
    assert seen and set(seen) == {window.session.run.layer}  # the default layer, named while it embedded
    assert window.controls.layer_combo.count() > 10


def test_a_new_dataset_starts_from_the_models_default_layer(qtbot, window, photo_folder, tmp_path):
    """Issue 10, bug 9: a new dataset inherited the previous dataset's odd layer."""
    import shutil

    run_pipeline(qtbot, window, photo_folder, projection="pca")
    default = window.session.run.layer
    odd = other_layer(window.session)
    with qtbot.waitSignal(window.pipeline_finished, timeout=120_000):
        window.set_layer(odd)
    assert window.session.run.layer == odd
    other = tmp_path / "other"
    for path in sorted(photo_folder.rglob("*.*"))[:4]:
        (other / path.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, other / path.parent.name / path.name)
    with qtbot.waitSignal(window.pipeline_finished, timeout=120_000):
        window.open_dataset(str(other))
    assert window.session.run.layer == default and window.controls.layer_combo.currentData() == default


def test_offline_weights_error_names_the_menu_and_random_weights_can_be_chosen(qtbot, window, photo_folder,
                                                                               monkeypatch):
    """Issue 10, bug 13: the app told GUI users to 'pass --weights PATH' and had no way to choose random
    weights; the CLI keeps its flag."""
    import urllib.error

    import torchvision.models

    from explorer.core.errors import WeightsUnavailableError
    from explorer.core.model.zoo import load_model

    def offline(*args, **kwargs):
        if kwargs.get("weights") is not None:
            raise urllib.error.URLError("no network")
        return real(*args, **kwargs)

    real = torchvision.models.get_model
    monkeypatch.setattr(torchvision.models, "get_model", offline)
    try:
        load_model("resnet18")
    except WeightsUnavailableError as exc:
        assert "--weights PATH" in str(exc)  # the CLI's wording is unchanged
    window.session.update(dataset=str(photo_folder), model="resnet18", weights=None, projection="pca")
    with qtbot.waitSignal(window.pipeline_failed, timeout=60_000):
        window.start_pipeline()
    text = window.banner.text()
    assert "File ▸ Load weights…" in text and "Use random weights" in text and "--weights" not in text

    random_action = next(a for a in window.controls.weights_menu.actions() if a.text() == "Random (seeded)")
    with qtbot.waitSignal(window.pipeline_finished, timeout=120_000):
        random_action.trigger()
    assert window.session.weights == "random" and window.session.run.model == "resnet18"
    assert window.controls.weights_label.text() == "random (seeded)"
