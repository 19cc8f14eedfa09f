"""The map coloured by the stored predictions, and each image's top-5 in the gallery (issue 12, predictions)."""

import numpy as np
import pytest

from ..core.test_predictions import ESPRESSO, TABBY, prediction_run


@pytest.fixture
def predicted(qtbot, tmp_path):
    """A real run with stored predictions on the map, with the Map dock's panels and the gallery."""
    from explorer.core.session import Session
    from explorer.gui.bridge import SessionBridge
    from explorer.gui.jobs import JobRunner
    from explorer.gui.thumbnails import ThumbnailCache
    from explorer.gui.views.gallery_view import GalleryView
    from explorer.gui.views.scatter_view import ScatterView
    from explorer.gui.widgets.map_panel import MapPanel

    labels = ["n02123045", "espresso", "cat"] * 6
    run, logits = prediction_run(tmp_path / "run", labels, boost={"n02123045": [TABBY], "espresso": [ESPRESSO]})
    session = Session()
    bridge = SessionBridge(session)
    jobs = JobRunner()
    thumbs = ThumbnailCache(96)
    scatter = ScatterView(bridge, thumbs, jobs)
    panel = MapPanel(bridge, jobs)
    gallery = GalleryView(bridge, thumbs, ThumbnailCache(320), jobs)
    for w in (scatter, panel, gallery):
        qtbot.addWidget(w)
        w.show()
    session.set_run(run)
    session.set_layout(np.random.default_rng(1).normal(size=(len(labels), 2)), "pca")
    yield scatter, panel, gallery, run, logits, labels
    jobs.cancel()
    jobs.wait(10_000)


def drawn(view):
    table = view.points._colours
    return {int(i): tuple(table[c][:3]) for i, c in zip(view.shown_index, view.points._codes)}


def test_colour_the_map_by_right_or_wrong_and_by_predicted_class(qtbot, predicted):
    from explorer.core.analysis.prediction_colours import RIGHT, WRONG
    from explorer.core.analysis.colours import UNLABELLED

    scatter, panel, _, run, logits, labels = predicted
    colour = panel.colour
    top1 = np.argsort(-logits, axis=1, kind="stable")[:, 0]
    with qtbot.waitSignal(colour.coloured, timeout=10_000):
        colour.by.setCurrentIndex(colour.by.findData("prediction:correct"))
    want = {"n02123045": TABBY, "espresso": ESPRESSO}
    colours = drawn(scatter)
    for i, label in enumerate(labels):
        expected = UNLABELLED if label not in want else RIGHT if top1[i] == want[label] else WRONG
        assert colours[i] == expected, (i, label)
    assert "right" in colour.legend.item(0).text() and "cat" in colour.message.text()
    with qtbot.waitSignal(colour.coloured, timeout=10_000):
        colour.by.setCurrentIndex(colour.by.findData("prediction:class"))
    colours = drawn(scatter)
    assert all((colours[i] == colours[j]) == (top1[i] == top1[j]) for i in range(len(labels)) for j in range(len(labels)))
    assert colour.by.currentData() == "prediction:class"
    colour._show_spec(scatter.session.colour_by.spec)  # restored from the spec: the same entry
    assert colour.by.currentData() == "prediction:class"


def test_the_gallery_shows_the_selected_images_top5(qtbot, predicted):
    _, _, gallery, run, logits, _ = predicted
    gallery.session.select([4])
    order = np.argsort(-logits[4], kind="stable")[:5]
    from explorer.core.analysis.predictions import imagenet_names

    names = imagenet_names()
    text = gallery.title.text()
    assert "top-5: " in text
    shown = text.split("top-5: ")[1].split("<br>")[0].split(" · ")
    assert [s.rsplit(" ", 1)[0] for s in shown] == [names[c] for c in order]


def test_a_run_from_before_predictions_says_so_in_the_panel(qtbot, tmp_path):
    """A first-release run has no predictions: one line in the panel naming the command; colours unchanged."""
    import shutil
    from pathlib import Path

    from explorer.core.run.store import load_run
    from explorer.core.session import Session
    from explorer.gui.bridge import SessionBridge
    from explorer.gui.jobs import JobRunner
    from explorer.gui.widgets.map_panel import MapPanel

    shutil.copytree(Path(__file__).resolve().parent.parent / "fixtures" / "run_v1", tmp_path / "old")
    session, jobs = Session(), JobRunner()
    panel = MapPanel(SessionBridge(session), jobs)
    qtbot.addWidget(panel)
    session.set_run(load_run(tmp_path / "old"))
    colour = panel.colour
    with qtbot.waitSignal(colour.coloured, timeout=10_000):
        colour.by.setCurrentIndex(colour.by.findData("prediction:entropy"))
    assert session.colour_by is None
    assert "no predictions" in colour.message.text() and "explorer embed" in colour.message.text()
    jobs.cancel()
    jobs.wait(10_000)


def test_a_mapping_csv_recolours_and_the_misclassified_are_selected(qtbot, predicted, tmp_path):
    from explorer.core.analysis.prediction_colours import RIGHT, WRONG

    scatter, panel, _, run, logits, labels = predicted
    colour = panel.colour
    with qtbot.waitSignal(colour.coloured, timeout=10_000):
        colour.by.setCurrentIndex(colour.by.findData("prediction:correct"))
    mapping = tmp_path / "map.csv"
    mapping.write_text("label,class\ncat,281;282;283;284;285\n")  # 'cat' now means any of the five cats
    with qtbot.waitSignal(colour.coloured, timeout=10_000):
        colour.mapping.set_path(str(mapping))
    top1 = np.argsort(-logits, axis=1, kind="stable")[:, 0]
    want = {"n02123045": {TABBY}, "espresso": {ESPRESSO}, "cat": {281, 282, 283, 284, 285}}
    right = [top1[i] in want[lab] for i, lab in enumerate(labels)]
    colours = drawn(scatter)
    assert [colours[i] for i in range(len(labels))] == [RIGHT if r else WRONG for r in right]
    assert scatter.session.colour_by.spec["mapping"] == str(mapping) and "cat → tabby" in colour.message.text()
    colour.mapping.select_wrong.click()
    assert scatter.session.selection == [i for i, r in enumerate(right) if not r]
    mapping.write_text("cat,1000\n")
    with qtbot.waitSignal(colour.coloured, timeout=10_000):
        colour.mapping.set_path(str(mapping))
    assert f"{mapping} row 1: class 1000 is not a class" in colour.message.text()


def test_the_most_confused_pairs_are_listed_and_a_click_selects_their_images(qtbot, predicted):
    from PySide6.QtCore import Qt

    scatter, panel, _, run, logits, labels = predicted
    colour, picker = panel.colour, panel.colour.mapping
    with qtbot.waitSignal(picker.pairs_shown, timeout=10_000):
        colour.by.setCurrentIndex(colour.by.findData("prediction:correct"))
    top1 = np.argsort(-logits, axis=1, kind="stable")[:, 0]
    want = {"n02123045": TABBY, "espresso": ESPRESSO}
    wrong = {(lab, int(top1[i])) for i, lab in enumerate(labels) if lab in want and top1[i] != want[lab]}
    assert picker.pairs.count() == min(20, len(wrong)) and picker.pairs.isVisibleTo(panel)
    item = picker.pairs.item(0)
    picker.pairs.itemClicked.emit(item)
    chosen = item.data(Qt.ItemDataRole.UserRole)
    label, name = item.text().split("  (")[0].split(" → ")
    from explorer.core.analysis.predictions import imagenet_names

    assert scatter.session.selection == chosen == [i for i, lab in enumerate(labels)
                                                   if lab == label and imagenet_names()[top1[i]] == name]
    colour.by.setCurrentIndex(colour.by.findData("label"))
    assert picker.pairs.count() == 0


def test_misclassified_only_draws_just_the_wrong_ones_and_goes_with_its_colouring(qtbot, predicted):
    scatter, panel, _, run, logits, labels = predicted
    colour = panel.colour
    with qtbot.waitSignal(colour.coloured, timeout=10_000):
        colour.by.setCurrentIndex(colour.by.findData("prediction:correct"))
    wrong = sorted(colour.mapping.misclassified().tolist())
    assert 0 < len(wrong) < len(labels)
    colour.mapping.only_wrong.setChecked(True)
    qtbot.waitUntil(lambda: sorted(scatter.shown_index.tolist()) == wrong, timeout=5_000)
    assert scatter.session.row_filter is not None
    with qtbot.waitSignal(colour.coloured, timeout=10_000):  # another colouring: the filter goes with it
        colour.by.setCurrentIndex(colour.by.findData("prediction:class"))
    assert not colour.mapping.only_wrong.isChecked() and scatter.session.row_filter is None
    qtbot.waitUntil(lambda: len(scatter.shown_index) == len(labels), timeout=5_000)
