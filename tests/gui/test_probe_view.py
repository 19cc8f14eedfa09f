"""The Probes dock: accuracy vs depth with a click that switches the map's layer; label errors and near
duplicates listed and selectable on the map."""

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from explorer.core.analysis.colours import class_colour
from explorer.core.session import Session
from explorer.gui.bridge import SessionBridge
from explorer.gui.jobs import JobRunner
from explorer.gui.views.probe_view import DUPLICATES, ProbeView
from tests.core.test_probe import blob_run, brute_force_pairs
from tests.gui.test_app import run_pipeline


@pytest.fixture
def view(qtbot):
    session = Session()
    bridge = SessionBridge(session)
    jobs = JobRunner()
    v = ProbeView(bridge, jobs)
    qtbot.addWidget(v)
    v.resize(420, 700)
    v.show()
    yield v
    jobs.cancel()
    assert jobs.wait(30_000)


def point_pos(view, layer_index, classifier):
    item = next(i for i in view.plot.listDataItems() if i.name().lower().startswith(classifier[:3]))
    point = item.scatter.points()[layer_index]
    scene = view.plot.plotItem.vb.mapViewToScene(QPointF(point.pos()))
    return view.plot.mapFromScene(scene)


@pytest.mark.slow
def test_a_click_on_the_chart_switches_the_map_to_that_layer(qtbot, window, photo_folder, shots):
    run_pipeline(qtbot, window, photo_folder, projection="pca")
    view = window.probes
    window.probes_dock.raise_()
    qtbot.waitUntil(view.isVisible, timeout=5_000)
    with qtbot.waitSignal(view.probed, timeout=180_000):
        view.probe_blocks()
    assert [t[1] for t in view.plot.getAxis("bottom")._tickLevels[0]] == ["layer1", "layer2", "layer3", "layer4"]
    lines = {item.name(): item.getData()[1] for item in view.plot.listDataItems()}
    assert len(lines) == 3  # one line per classifier
    logreg = [r.accuracy for r in view.results if r.classifier == "logreg"]
    np.testing.assert_allclose(lines["logistic regression"], logreg)
    assert view.marker.isVisible() and view.marker.value() == 3  # the map shows layer4's output now
    window.grab().save(str(shots / "probe_chart.png"))

    with qtbot.waitSignal(window.pipeline_finished, timeout=180_000):
        qtbot.mouseClick(view.plot.viewport(), Qt.MouseButton.LeftButton, pos=point_pos(view, 1, "logreg"))
    assert window.session.layer == "layer2.1.relu_1" and window.session.run.layer == "layer2.1.relu_1"
    assert view.marker.value() == 1


def test_label_errors_are_listed_and_selected_on_the_map(qtbot, view, tmp_path):
    flipped = [4, 33, 70]
    run, _, _ = blob_run(tmp_path / "run", n=90, layers=("far",), spread=(6.0,), flip=flipped)
    view.session.set_run(run)
    with qtbot.waitSignal(view.listed, timeout=60_000):
        view.find()
    assert view.table.rowCount() == len(flipped)
    assert {view.table.item(r, 0).text() for r in range(3)} == {f"#{i}" for i in flipped}
    first = int(view.table.item(0, 0).text()[1:])
    assert view.rows[0] == (first,) and view.table.item(0, 0).toolTip().startswith(f"#{first} ")
    view.table.selectRow(0)
    assert view.session.selection == [first]
    view.select_all.click()
    assert sorted(view.session.selection) == flipped
    view.colour.click()  # the map coloured by the probe's out-of-fold right / wrong
    colouring = view.session.colour_by
    assert colouring is not None and [t for t, _, _ in colouring.legend] == ["right", "wrong"]
    assert sorted(np.flatnonzero(colouring.codes == 1)) == flipped
    view.colour_class.click()  # ... and by the class it predicts: the flipped images get their true class back
    colouring = view.session.colour_by
    assert list(colouring.codes) == [i % 3 for i in range(90)]
    assert colouring.table[:3] == [class_colour(i) for i in range(3)]  # the colours the labels have


def test_near_duplicates_are_listed_as_pairs_and_select_both(qtbot, view, tmp_path):
    run, feats, _ = blob_run(tmp_path / "run", n=60, layers=("far",), spread=(3.0,))
    view.session.set_run(run)
    view.kind.setCurrentText(DUPLICATES)
    view.threshold.setValue(0.06)
    with qtbot.waitSignal(view.listed, timeout=60_000):
        view.find()
    expected = brute_force_pairs(feats["far"], 0.06)
    assert 0 < view.table.rowCount() == len(expected)
    assert sorted(view.rows) == expected
    view.table.selectRow(0)
    assert view.session.selection == list(view.rows[0])
    view.session.set_run(blob_run(tmp_path / "other", n=30, layers=("far",), spread=(3.0,))[0])
    assert view.table.rowCount() == 0  # a list of another run's rows is never left up


def test_probing_the_blocks_shows_progress_and_can_be_cancelled(qtbot, view, photo_folder):
    view.session.update(dataset=str(photo_folder), model="resnet18", weights="random")
    with qtbot.waitSignal(view.jobs.training.progressed, timeout=30_000):
        view.probe_blocks()
    assert view.probe_button.text() == "Cancel" and view.chart_note.text().startswith("Probing")
    with qtbot.waitSignal(view.jobs.training.cancelled, timeout=60_000):
        view.probe_button.click()
    qtbot.waitUntil(lambda: view.probe_button.text() == "Probe the blocks", timeout=5_000)
    assert "cancelled" in view.chart_note.text() and not view.results
