"""The real main window, driven headless: pipeline, clicks, hover, cancel/resume, responsiveness."""

import os
import time

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest

from explorer.core.analysis.neighbours import NeighbourIndex


def run_pipeline(qtbot, window, dataset, *, model="resnet18", weights="random", projection="tsne",
                 timeout=180_000):
    window.session.update(dataset=str(dataset), model=model, weights=weights, projection=projection)
    with qtbot.waitSignal(window.pipeline_finished, timeout=timeout):
        window.start_pipeline()
    assert not window.last_error, window.last_error


def screen_pos(window, index):
    """Viewport pixel of item `index` in the scatter."""
    scatter = window.scatter
    x, y = window.session.layout[index]
    from PySide6.QtCore import QPointF

    scene = scatter.vb.mapViewToScene(QPointF(float(x), float(y)))
    return scatter.plot.mapFromScene(scene)


def test_pipeline_click_gallery_and_hover(qtbot, window, photo_folder, shots):
    run_pipeline(qtbot, window, photo_folder)
    state = window.session
    assert state.layout_method == "tsne" and state.layout.shape == (8, 2)
    assert window.scatter.mode == "points" and len(window.scatter.points) == 8
    assert window.controls.legend.count() == 2

    target = 5
    pos = screen_pos(window, target)
    with qtbot.waitSignal(window.gallery.neighbours_shown, timeout=20_000):
        QTest.mouseMove(window.scatter.plot.viewport(), pos)
        QTest.mouseClick(window.scatter.plot.viewport(), Qt.MouseButton.LeftButton, pos=pos)
        if window.gallery._index is not None:
            window.gallery.refresh()
    assert state.selection == [target]
    expected = NeighbourIndex(state.run.features, metric="cosine").query(target, window.gallery.k_spin.value())
    assert [n.index for n in window.gallery.shown_neighbours] == [n.index for n in expected]
    assert window.gallery.list.count() == len(expected) == 7
    # items are laid out full size even before their thumbnails arrive (no clipped icons or text): the
    # placeholder is a full-size icon; a thumbnail that arrived first is as tall as its image
    lst = window.gallery.list
    icon = lst.item(0).icon().actualSize(lst.iconSize())
    assert lst.visualItemRect(lst.item(0)).height() >= icon.height() + lst.fontMetrics().height()

    # hover names the right file
    other = 2
    QTest.mouseMove(window.scatter.plot.viewport(), screen_pos(window, other))
    qtbot.waitUntil(lambda: window.scatter.card.isVisible() and window.scatter.card.index == other, timeout=5000)
    name = state.run.rows[other].path.rsplit("/", 1)[-1]
    assert name in window.scatter.card.text.text()

    # a neighbour click selects it and centres the scatter on it
    item = window.gallery.list.item(0)
    picked = item.data(Qt.ItemDataRole.UserRole)
    window.gallery.list.itemClicked.emit(item)
    assert state.selection == [picked]
    (x0, x1), (y0, y1) = window.scatter.vb.viewRange()
    assert abs((x0 + x1) / 2 - state.layout[picked, 0]) < 1e-3 * (x1 - x0) + 1e-6

    qtbot.waitUntil(lambda: window.previews.pixmap(picked) is not None, timeout=5000)
    with qtbot.waitSignal(window.gallery.neighbours_shown, timeout=20_000):
        window.gallery.refresh()
    assert window.gallery.list.count() == 7
    window.grab().save(str(shots / "app-selection.png"))


def test_box_selection_legend_and_multi_selection(qtbot, window, photo_folder):
    run_pipeline(qtbot, window, photo_folder, projection="pca")
    state = window.session
    (x0, x1), (y0, y1) = window.scatter.vb.viewRange()
    everything = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    window.scatter.vb.region_selected.emit(everything, False)
    assert state.selection == list(range(8))
    assert "4 × animals" in window.gallery.title.text() and "4 × things" in window.gallery.title.text()
    # hide a class from the legend: its points leave the plot
    legend = window.controls.legend
    legend.item(0).setCheckState(Qt.CheckState.Unchecked)
    assert state.hidden_classes == {0}
    qtbot.waitUntil(lambda: len(window.scatter.points) == 4, timeout=2000)
    window.scatter.vb.region_selected.emit(everything, False)
    assert len(state.selection) == 4 and all(state.labels[i] == "things" for i in state.selection)


def test_lasso_polygon_selects_points_inside():
    from explorer.gui.views.scatter_view import points_in_polygon

    rng = np.random.default_rng(0)
    xy = rng.uniform(-1, 1, (5000, 2))
    triangle = np.array([[-1, -1], [1, -1], [0, 1]])
    inside = points_in_polygon(xy, triangle)
    # independent: barycentric test
    a, b, c = triangle
    v0, v1, v2 = c - a, b - a, xy - a
    d00, d01, d11 = v0 @ v0, v0 @ v1, v1 @ v1
    d20, d21 = v2 @ v0, v2 @ v1
    denom = d00 * d11 - d01 * d01
    u = (d11 * d20 - d01 * d21) / denom
    v = (d00 * d21 - d01 * d20) / denom
    expected = (u >= 0) & (v >= 0) & (u + v <= 1)
    assert (inside == expected).mean() > 0.999


def test_resume_keeps_naming_the_default_layer_it_was_computing(qtbot, window, crops_folder):
    """The first run of a model, no layer chosen: after Cancel and Resume the Layer box names the layer
    being computed while the model loads again (it was blank until then)."""
    session = window.session
    session.update(dataset=str(crops_folder), model="resnet18", weights="random", layer=None, projection="pca")
    lane = window.jobs.pipeline
    done = []
    lane.progressed.connect(lambda name, d, t, label: done.append(d) if name == "Embedding" and "images/s" in label
                            else None)
    window.start_pipeline()
    qtbot.waitUntil(lambda: bool(done) and done[-1] >= 16, timeout=60_000)
    default = session.layer
    assert default and window.controls.layer_combo.currentData() == default
    with qtbot.waitSignal(lane.cancelled, timeout=5000):
        window.job_bar.cancel_button.click()
    assert default in window.job_bar.resume_button.toolTip()
    kept = done[-1]
    first = []  # where the resumed embedding starts
    lane.progressed.connect(lambda name, d, t, label: first.append(d) if t == 120 and "images/s" in label
                            and not first else None)
    with qtbot.waitSignal(window.pipeline_finished, timeout=120_000):
        window.job_bar.resume_button.click()
        assert session.layer == default  # at once, not once the model is loaded again
        assert window.controls.layer_combo.currentData() == default
        assert window.controls.layer_info.text().startswith(default)
    assert not window.last_error, window.last_error
    assert session.run.layer == default and session.run.counts()["embedded"] == 120
    assert first and first[0] > kept  # the same run, resumed from its rows on disk


@pytest.mark.parametrize("threads", ["1", "2"])  # one lane on one core (CI under load), two lanes
def test_cancel_is_quick_and_the_next_run_resumes(qtbot, window, crops_folder, monkeypatch, threads):
    monkeypatch.setenv("EXPLORER_THREADS", threads)
    window.session.update(dataset=str(crops_folder), model="resnet18", weights="random", projection="pca")
    lane = window.jobs.pipeline
    done = []  # rows embedded so far (the embedding's own steps, not the listing's)
    lane.progressed.connect(lambda name, d, t, label: done.append(d) if name == "Embedding" and "images/s" in label
                            else None)
    window.start_pipeline()
    qtbot.waitUntil(lambda: bool(done) and done[-1] >= 32, timeout=60_000)
    with qtbot.waitSignal(lane.cancelled, timeout=5000):
        window.job_bar.cancel_button.click()
    print("cancel took", lane.last_cancel_seconds)
    assert lane.last_cancel_seconds < 1.0, lane.last_cancel_seconds
    from explorer.core.run.cache import cache_root
    from explorer.core.run.store import load_run

    runs = [p for p in (cache_root() / "runs").iterdir()]
    assert len(runs) == 1
    partial = load_run(runs[0]).counts()
    assert 32 <= partial["embedded"] < 120 and partial["pending"] > 0

    first = []  # where the embedding starts: its first step, after the listing
    lane.progressed.connect(lambda name, d, t, label: first.append(d) if t == 120 and not label.startswith("listed")
                            and not first else None)
    with qtbot.waitSignal(window.pipeline_finished, timeout=120_000):
        window.start_pipeline()
    assert first and first[0] >= partial["embedded"]  # resumed: started from the rows on disk
    assert load_run(runs[0]).counts()["embedded"] == 120


def test_gui_thread_stays_responsive_while_embedding_and_projecting(qtbot, window, crops_folder):
    gaps = []
    last = [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    timer.start()
    run_pipeline(qtbot, window, crops_folder, projection="tsne")
    timer.stop()
    gaps = np.array(gaps[3:])  # the first ticks include window creation
    assert len(gaps) > 50
    assert gaps.max() < 0.100, f"GUI thread blocked for {gaps.max() * 1000:.0f} ms"


def test_second_start_reuses_the_cache_within_5_seconds(qtbot, crops_folder):
    from explorer.gui.main_window import MainWindow

    first = MainWindow(remember=False)
    qtbot.addWidget(first)
    run_pipeline(qtbot, first, crops_folder, projection="tsne")
    first.close()

    second = MainWindow(remember=False)
    qtbot.addWidget(second)
    second.show()
    second.session.update(dataset=str(crops_folder), model="resnet18", weights="random", projection="tsne")
    t = time.perf_counter()
    with qtbot.waitSignal(second.bridge.layout_changed, timeout=10_000):
        second.start_pipeline()
    elapsed = time.perf_counter() - t
    assert elapsed < 5.0 and second.session.layout_method == "tsne"
    np.testing.assert_array_equal(second.session.layout, first.session.layout)
    with qtbot.waitSignal(second.pipeline_finished, timeout=60_000):
        pass
    assert second.controls.layer_combo.count() > 10  # the layer list arrives in the background


def test_errors_show_in_the_window(qtbot, window, photo_folder, tmp_path):
    window.session.update(dataset=str(photo_folder), model="resnet18", weights=str(tmp_path / "missing.pth"))
    with qtbot.waitSignal(window.pipeline_failed, timeout=60_000):
        window.start_pipeline()
    assert window.banner.isVisible() and "Weights file not found" in window.banner.text()


def test_a_model_name_that_cannot_load_is_named_and_the_box_goes_back(qtbot, window, photo_folder):
    run_pipeline(qtbot, window, photo_folder, projection="pca")
    edit = window.controls.model_combo.lineEdit()
    edit.setFocus()
    edit.selectAll()
    with qtbot.waitSignal(window.pipeline_failed, timeout=60_000):
        QTest.keyClicks(edit, "no_such_model_xyz")
        QTest.keyClick(edit, Qt.Key.Key_Return)
    assert "Unknown model 'no_such_model_xyz'" in window.banner.text()
    assert window.session.model == "resnet18" == window.session.run.model
    assert window.controls.model_combo.currentText().split()[0] == "resnet18"  # what the map is of


def test_skipped_files_are_summarised(qtbot, window, photo_folder, tmp_path):
    import shutil

    root = tmp_path / "mixed"
    shutil.copytree(photo_folder, root)
    (root / "things" / "broken.png").write_text("not an image")
    run_pipeline(qtbot, window, root, projection="pca")
    assert window.skipped_button.isVisible() and "1 skipped (1 unreadable)" in window.skipped_button.text()
    from PySide6.QtWidgets import QTableWidget

    dialog = window.show_skipped()
    table = dialog.findChild(QTableWidget)
    assert table.rowCount() == 1 and table.item(0, 0).text() == "things/broken.png"
    dialog.close()


def test_model_statuses_drop_and_remembered_settings(qtbot, photo_folder, monkeypatch, _isolated_settings):
    from PySide6.QtCore import QMimeData, QPointF, QSettings, QUrl
    from PySide6.QtGui import QDropEvent

    from explorer.gui.main_window import MainWindow

    win = MainWindow(remember=True)
    assert win.settings.fileName().startswith(str(_isolated_settings))  # never the user's own settings
    qtbot.addWidget(win)
    win.show()
    started = []
    monkeypatch.setattr(win, "start_pipeline", lambda: started.append(win.session.dataset))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(photo_folder))])
    win.dropEvent(QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                             Qt.KeyboardModifier.NoModifier))
    assert started == [str(photo_folder)]
    assert not win.recent_menu.actions()  # remembered only once its run opened (issue 10, bug 11)
    win._remember_dataset(str(photo_folder))  # what _opened does when the (stubbed) pipeline opens a run
    assert win.recent_menu.actions()[0].text() == str(photo_folder)
    win.session.update(model="resnet18", layer="layer3.1.add")
    with qtbot.waitSignal(win.controls.model_combo.model().dataChanged, timeout=30_000):
        win.refresh_model_statuses()
    texts = [win.controls.model_combo.itemText(i) for i in range(win.controls.model_combo.count())]
    assert "efficientnet_lite0  (bundled)" in texts
    win.close()

    again = MainWindow(remember=True)
    qtbot.addWidget(again)
    assert (again.session.dataset, again.session.model, again.session.layer) == (str(photo_folder), "resnet18",
                                                                                 "layer3.1.add")
    assert QSettings("cnn-feature-explorer", "explorer").value("model") == "resnet18"


def test_thumbnails_mode_draws_images_at_their_positions(qtbot, window, photo_folder, shots):
    run_pipeline(qtbot, window, photo_folder, projection="pca")
    window.controls.thumbs_box.setChecked(True)
    assert len(window.scatter._thumb_items) == 8
    qtbot.waitUntil(lambda: all(not item.pixmap().isNull() for item in window.scatter._thumb_items.values()),
                    timeout=10_000)
    window.grab().save(str(shots / "app-thumbnails.png"))


def test_exports_are_written_in_the_io_lane_and_their_errors_shown(qtbot, window, photo_folder, tmp_path,
                                                                    monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    run_pipeline(qtbot, window, photo_folder, projection="pca")
    session, io = window.session, window.jobs.io
    session.select([1, 3])
    csv_path = tmp_path / "selection.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(csv_path), ""))
    with qtbot.waitSignal(io.succeeded, timeout=20_000):
        window.export_selection()
    rows = [line.split(",") for line in csv_path.read_text().splitlines()]
    assert rows[0] == ["index", "path", "label", "x", "y", "map", "run"] and [int(r[0]) for r in rows[1:]] == [1, 3]
    assert rows[1][5] == "PCA (seed 0)" and rows[1][6] == f"resnet18 / {session.run.layer} (run {session.run.path.name})"
    assert [r[1] for r in rows[1:]] == [session.run.rows[i].path for i in (1, 3)]
    assert abs(float(rows[2][3]) - session.layout[3, 0]) < 1e-4 * max(1.0, abs(session.layout[3, 0]))

    folder = tmp_path / "tb"
    folder.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    with qtbot.waitSignal(io.succeeded, timeout=20_000):
        window.export_projector()
    tensors = np.loadtxt(folder / "tensors.tsv", delimiter="\t")
    np.testing.assert_allclose(tensors, np.asarray(session.run.features, np.float64), rtol=1e-5)
    assert (folder / "sprite.png").exists() and 'image_path: "sprite.png"' in (folder / "projector_config.pbtxt"
                                                                                  ).read_text()

    # a file that cannot be written: the error is shown, the map stays
    failed = []
    window.pipeline_failed.connect(failed.append)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "no" / "such" / "x.csv"), ""))
    with qtbot.waitSignal(io.failed, timeout=20_000):
        window.export_selection()
    assert window.banner.isVisible() and window.banner.text().startswith("CSV export failed:")
    assert failed == [] and session.layout is not None


def test_open_recent_with_one_entry_lists_that_entry(qtbot, _isolated_settings):
    """A one-item QSettings list reads back as a plain string: the menu must still show one item, not
    one character per item, and nothing garbled is written back (issue 10, bug 2)."""
    from PySide6.QtCore import QSettings

    from explorer.gui.main_window import MainWindow

    entry = "/tmp/some/dataset"
    # written as Qt writes a one-item list to the file; read back by a fresh process it is a plain str
    path = QSettings("cnn-feature-explorer", "explorer").fileName()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(f"[General]\nrecent={entry}\n")
    win = MainWindow(remember=True)
    qtbot.addWidget(win)
    assert [a.text() for a in win.recent_menu.actions()] == [entry]
    win._remember_dataset("demo:digits")
    assert [a.text() for a in win.recent_menu.actions()] == ["demo:digits", entry]
    win.close()
    again = MainWindow(remember=True)
    qtbot.addWidget(again)
    assert [a.text() for a in again.recent_menu.actions()] == ["demo:digits", entry]


def test_failed_dataset_is_not_remembered(qtbot, tmp_path, _isolated_settings):
    """A folder that fails (no images) is neither added to Open recent nor remembered as the last
    dataset; the last dataset that opened stays (issue 10, bug 11)."""
    from explorer.gui.main_window import MainWindow

    empty = tmp_path / "no-images"
    (empty / "cats").mkdir(parents=True)
    (empty / "cats" / "notes.txt").write_text("not an image")
    win = MainWindow(remember=True)
    qtbot.addWidget(win)
    win.show()
    win.session.update(model="resnet18", weights="random", projection="pca")
    with qtbot.waitSignal(win.pipeline_failed, timeout=60_000):
        win.open_dataset(str(empty))
    assert win.banner.isVisible()
    assert str(empty) not in [a.text() for a in win.recent_menu.actions()]
    win.close()
    assert win.jobs.wait(30_000)
    again = MainWindow(remember=True)
    qtbot.addWidget(again)
    assert str(empty) not in [a.text() for a in again.recent_menu.actions()]
    assert again.session.dataset != str(empty)


def test_a_one_image_folder_names_the_folder_in_the_banner(qtbot, window, photo_folder, tmp_path):
    """Issue 10, bug 8: a one-image folder's banner names the folder, not an internal cache path."""
    import shutil

    root = tmp_path / "one"
    (root / "things").mkdir(parents=True)
    first = sorted(p for p in photo_folder.rglob("*") if p.is_file())[0]
    shutil.copy(first, root / "things" / first.name)
    window.session.update(dataset=str(root), model="resnet18", weights="random", projection="pca")
    with qtbot.waitSignal(window.pipeline_failed, timeout=120_000):
        window.start_pipeline()
    text = window.banner.text()
    assert window.banner.isVisible() and f"{root} has only 1 readable image; a map needs at least 2." in text
    assert "/runs/" not in text and "embedded images" not in text
