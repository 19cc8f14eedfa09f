"""The window around the map: small screens, closed docks, About, Cancel then Resume, figure exports
(issue 10, "Small windows, waiting, and exports")."""

import xml.etree.ElementTree as ET

import numpy as np
from PySide6.QtCore import QCoreApplication
from PySide6.QtGui import QImage

from tests.gui.test_app import run_pipeline


def settle(qtbot, ms=100):
    QCoreApplication.processEvents()
    qtbot.wait(ms)


def test_at_1024x700_the_map_keeps_half_the_width(qtbot):
    """The docks were sized for a big screen (300 + 440 px) and left the map 275 px at 1024x700."""
    from explorer.gui.main_window import MainWindow

    win = MainWindow(remember=False)
    qtbot.addWidget(win)
    win.show()
    win.resize(1600, 1000)
    settle(qtbot)
    win.resize(1024, 700)
    settle(qtbot)
    assert win.scatter.width() >= 512, (win.scatter.width(), win.controls_dock.width(), win.gallery_dock.width())
    assert win.centralWidget().x() >= 150 and win.gallery_dock.width() >= 150  # shrunk, not gone
    # and the docks give room back when the window grows again
    win.resize(1600, 1000)
    settle(qtbot)
    assert win.scatter.width() >= 800
    left = win.centralWidget().x()  # the left docks' width (tabbed: a hidden tab keeps an old width)
    assert win.gallery_dock.width() >= 400 and left >= 280  # back to their usual widths


def test_closed_docks_come_back_from_the_view_menu_and_about_names_versions(qtbot, window):
    view = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    toggles = {a.text(): a for a in view.actions() if a.isCheckable()}
    assert {"Controls", "Gallery", "Neurons"} <= set(toggles)
    window.gallery_dock.close()  # the dock's own close button
    settle(qtbot)
    assert window.gallery_dock.isHidden() and not toggles["Gallery"].isChecked()
    toggles["Gallery"].trigger()
    settle(qtbot)
    assert window.gallery_dock.isVisible()

    import platform

    import PySide6

    box = window.show_about()
    text = box.text()
    assert platform.python_version() in text and PySide6.__version__ in text and "torch " in text
    assert "Device:" in text
    box.close()


def test_cancel_keeps_the_last_map_and_resume_finishes_the_cancelled_run(qtbot, window, photo_folder,
                                                                         crops_folder):
    run_pipeline(qtbot, window, photo_folder, projection="pca")
    session, lane = window.session, window.jobs.pipeline
    shown_run, shown_layout = session.run, session.layout.copy()
    odd = next(i.name for i in session.layers if i.name.startswith("layer3"))
    done = []
    lane.progressed.connect(lambda name, d, t, label: done.append(d) if name == "Embedding" and "images/s" in label
                            else None)
    session.update(dataset=str(crops_folder), layer=odd)
    window.start_pipeline()
    qtbot.waitUntil(lambda: bool(done) and done[-1] >= 32, timeout=60_000)
    assert window.stale_cover.isVisible()
    with qtbot.waitSignal(lane.cancelled, timeout=5000):
        window.job_bar.cancel_button.click()
    settle(qtbot)
    # the last map stays, current again; the controls name what it is, not the cancelled request
    assert session.run is shown_run and np.array_equal(session.layout, shown_layout)
    assert not window.stale_cover.isVisible() and window.scatter.isEnabled()
    assert session.dataset == str(photo_folder) and session.layer == shown_run.layer
    assert window.controls.layer_combo.currentData() == shown_run.layer
    assert window.job_bar.resume_button.isVisible()

    first = []  # where the resumed embedding starts
    lane.progressed.connect(lambda name, d, t, label: first.append(d) if t == 120 and "images/s" in label
                            and not first else None)
    with qtbot.waitSignal(window.pipeline_finished, timeout=120_000):
        window.job_bar.resume_button.click()
    assert not window.last_error, window.last_error
    assert session.run.layer == odd and session.run.counts()["embedded"] == 120
    assert first and first[0] >= 32  # resumed from the rows on disk
    assert not window.job_bar.resume_button.isVisible()


def test_png_and_svg_exports_have_title_legend_and_the_chosen_size(qtbot, window, photo_folder, tmp_path,
                                                                   monkeypatch, shots):
    from PySide6.QtWidgets import QFileDialog

    import explorer.gui.views.plot_export as plot_export
    from explorer.core.session import class_colour

    run_pipeline(qtbot, window, photo_folder, projection="pca")
    io = window.jobs.io
    png = tmp_path / "map.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(png), ""))
    monkeypatch.setattr(plot_export, "ask_size", lambda *a, **k: (1800, 1200))
    with qtbot.waitSignal(io.succeeded, timeout=20_000):
        window.export_png()
    image = QImage(str(png))
    assert (image.width(), image.height()) == (1800, 1200)
    arr = np.array([[image.pixelColor(x, y).getRgb()[:3] for x in range(0, 1800, 3)] for y in range(0, 1200, 3)])
    for code in (0, 1):  # both classes' colours are drawn (points and legend swatches)
        assert (np.abs(arr - np.array(class_colour(code))).sum(-1) < 40).sum() > 20
    right = arr[:, int(arr.shape[1] * 0.7):]  # the legend, on the right
    assert (np.abs(right - np.array(class_colour(0))).sum(-1) < 40).any()
    image.save(str(shots / "export-map.png"))

    data = plot_export.figure_data(window.session)
    assert data.title == f"{photo_folder.name} · resnet18 / {window.session.run.layer}"
    assert "PCA map" in data.subtitle and "8 images" in data.subtitle
    assert [t for _, t in data.legend] == ["animals (4)", "things (4)"]

    svg = tmp_path / "map.svg"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(svg), ""))
    with qtbot.waitSignal(io.succeeded, timeout=20_000):
        window.export_svg()
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    text = svg.read_text()
    assert data.title in text and "animals (4)" in text


def test_the_exported_legend_names_the_measure_the_map_is_coloured_by():
    """Leftover of issue 10: the legend said "strongest activation" while the map showed the mean."""
    from types import SimpleNamespace

    from explorer.core.session import Session
    from explorer.gui.views.plot_export import figure_data

    rng = np.random.default_rng(0)
    mean = rng.normal(size=(30, 4)).astype(np.float32)
    top = np.minimum(rng.gamma(2.0, 2.0, (30, 4)), 6.0).astype(np.float32)  # ReLU6: maxima pile up at 6
    arrays = {"features": mean, "channel_max": top}
    run = SimpleNamespace(features=mean, channel_max=top, done_mask=np.ones(30, bool), array=arrays.__getitem__,
                          rows=[], layer="bn2", model="efficientnet_lite0")
    session = Session()
    session.update(run=run, layout=rng.normal(size=(30, 2)))
    session.set_colour_channel(1)  # auto: the layer saturates, so the mean is shown
    assert figure_data(session).ramp_title == "channel 1: spatial mean (mean over the map), low → high"
    session.set_colour_channel(1, measure="max")
    assert figure_data(session).ramp_title == "channel 1: spatial max (strongest unit), low → high"

def test_the_job_bar_says_the_time_left(qtbot, monkeypatch):
    from explorer.gui.jobs import JobRunner
    from explorer.gui.widgets import job_bar

    runner = JobRunner()
    lane = runner.pipeline
    bar = job_bar.JobBar(lane)
    qtbot.addWidget(bar)
    clock = [100.0]
    monkeypatch.setattr(job_bar.time, "monotonic", lambda: clock[0])
    lane.started.emit("Embedding")
    for done in range(0, 500, 50):  # 50 rows a second, 1,000 rows
        lane.progressed.emit("Embedding", done, 1000, "50 images/s")
        clock[0] += 1.0
    assert bar.eta_text == "about 10 s left" and "about 10 s left" in bar.label.text()
    lane.started.emit("t-SNE")  # a new job: no estimate until it has moved
    lane.progressed.emit("t-SNE", 10, 500, "")
    assert bar.eta_text == "" and "left" not in bar.label.text()
