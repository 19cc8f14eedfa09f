"""The Explain dock: the selected image's map at its true aspect ratio, its target, neighbours, checks."""

import numpy as np
import torch

from explorer.core.run.images import load_item
from tests.gui.test_app import run_pipeline


def test_explain_follows_the_selection_targets_and_neighbours(qtbot, window, photo_folder, shots):
    run_pipeline(qtbot, window, photo_folder, projection="pca")
    view, session = window.explain, window.session
    run = session.run
    # behind another tab the panel computes nothing (Qt calls a tabbed-away dock visible)
    window.gallery_dock.raise_()
    qtbot.waitUntil(lambda: not view.on_screen(), timeout=5_000)
    started = []
    window.jobs.analysis.started.connect(started.append)
    session.select([0])
    qtbot.wait(300)
    assert not any(name.startswith("Explain (") for name in started) and view.shown is None, started
    session.select([])
    window.explain_dock.raise_()
    qtbot.waitUntil(view.on_screen, timeout=5_000)
    wide = next(i for i, r in enumerate(run.rows) if load_item(run, i).width > load_item(run, i).height * 1.2)
    with qtbot.waitSignal(view.explained, timeout=60_000):
        session.select([wide])
    index, att, image = view.shown
    assert index == wide and att.method == "gradcam" and att.layer == "layer4.1.relu_1"
    # independently: the model's own forward on the same preprocessed image gives the target
    model = window._prepared.model
    with torch.no_grad():
        logits = model.module(model.preprocess(load_item(run, wide))[None])[0].numpy()
    assert att.target == int(np.argmax(logits))
    assert att.score == np.float32(logits.max()) or abs(att.score - logits.max()) < 1e-3
    # the picture keeps the image's aspect ratio (not stretched to a square or 3:2)
    pixmap = view.image.pixmap()
    original = load_item(run, wide)
    assert abs(pixmap.width() / pixmap.height() - original.width / original.height) < 0.02
    assert view.colour_bar.isVisible() and view.colour_bar.high == float(att.heat().max())
    assert "gradcam at layer4.1.relu_1" in view.caption.text()
    assert view.target.count() >= 5 and view.target.itemText(0).startswith("top-1:")

    # the neighbours (as the gallery lists them) get the same method and the same class
    # (they arrive from the gallery after the first map was asked for: no click needed)
    qtbot.waitUntil(lambda: len(view.neighbour_maps) == 4, timeout=60_000)
    assert [n for n, _ in view.neighbour_maps] == list(session.neighbours)[:4]
    assert all(a.target == att.target for _, a in view.neighbour_maps)
    assert view.neighbour_cells[0][1].text().startswith(f"#{view.neighbour_maps[0][0]} ")

    # top-2 explains the second most probable class
    with qtbot.waitSignal(view.explained, timeout=60_000):
        view.target.setCurrentIndex(1)
        view.target.activated.emit(1)
    assert view.shown[1].target == int(np.argsort(-logits)[1])
    # a class typed by name
    name = model.categories[7]
    view.target_edit.setText(name)
    with qtbot.waitSignal(view.explained, timeout=60_000):
        view.target_edit.returnPressed.emit()
    assert view.shown[1].target == 7 and view.shown[1].target_name == name

    # another method; the opacity slider and "Original" redraw without recomputing
    with qtbot.waitSignal(view.explained, timeout=60_000):
        view.method.setCurrentText("guided-backprop")
    assert view.shown[1].map.shape == (3, 224, 224) and not view.layer.isEnabled()
    view.original.setChecked(True)
    assert view.image.pixmap().toImage() is not None
    view.original.setChecked(False)

    with qtbot.waitSignal(view.checked, timeout=120_000):
        view.sanity_button.click()
    assert "Rank correlation" in view.check_result.text()
    window.grab().save(str(shots / "explain.png"))


def test_a_stale_result_never_replaces_the_current_selection(qtbot, window, photo_folder):
    run_pipeline(qtbot, window, photo_folder, projection="pca")
    view, session = window.explain, window.session
    view.with_neighbours.setChecked(False)
    window.explain_dock.raise_()
    qtbot.waitUntil(view.on_screen, timeout=5_000)
    session.select([1])
    with qtbot.waitSignal(view.explained, timeout=60_000):
        session.select([4])  # replaces the pending job for image 1
    assert view.shown[0] == 4
    session.select([1, 2])  # a multi-selection keeps the last map, computes nothing
    assert view.shown[0] == 4
