"""The Stability dock (issue 13): a sweep of the selected image, its curves, and its path in the map."""

import numpy as np

from tests.gui.test_app import run_pipeline


def test_sweep_shows_curves_and_draws_the_path_in_the_map(qtbot, window, photo_folder, shots):
    run_pipeline(qtbot, window, photo_folder, projection="pca")
    view, session = window.stability, window.session
    window.stability_dock.raise_()
    qtbot.waitUntil(view.isVisible, timeout=5_000)
    session.select([2])
    view.kind.setCurrentText("rotate")
    view.values.setText("0:90:45")
    with qtbot.waitSignal(view.swept, timeout=120_000):
        view.sweep_button.click()
    index, result = view.result
    assert index == 2 and result.values == [0.0, 45.0, 90.0]
    x, y = view.cosine_curve.getData()
    assert list(x) == [0, 45, 90] and abs(y[0] - 1) < 1e-5  # 0 degrees: the image itself
    path = session.variant_path
    assert path is not None and path.index == 2 and path.points.shape == (4, 2)
    spread = np.ptp(session.layout, axis=0).max()
    # the original (and 0 degrees) land on the image's own point of the PCA map
    assert np.linalg.norm(path.points[0] - session.layout[2]) < 0.01 * spread
    assert np.linalg.norm(path.points[1] - session.layout[2]) < 0.01 * spread
    lx, _ = window.map_path.line.getData()
    labels = window.map_path.labels  # labels that would cover one another are left out
    assert len(lx) == 4 and 1 <= len(labels) <= 4 and labels[0].textItem.toPlainText() == "original"
    assert "Its path is drawn in the map" in view.status.text()
    window.grab().save(str(shots / "stability-rotate.png"))

    # further layers: one more cosine curve each, from the same pass
    view.also.setText("layer1,layer2")
    with qtbot.waitSignal(view.swept, timeout=120_000):
        view.sweep_button.click()
    assert len(view.layer_curves) == 2
    _, y1 = view.layer_curves[0].getData()
    assert abs(y1[0] - 1) < 1e-5 and list(y1) == [v.cosine_by_layer["layer1.1.relu_1"] for v in view.result[1].variants]
    view.also.setText("")

    # FGSM: the perturbation is shown; a new map clears the path
    view.kind.setCurrentText("fgsm")
    assert view.values.text() == "0:8:1" and view.target.isEnabled()
    view.values.setText("0,4")
    with qtbot.waitSignal(view.swept, timeout=120_000):
        view.sweep_button.click()
    assert view.result[1].perturbations is not None and view.difference.pixmap() is not None
    assert not view.difference.pixmap().isNull()
    session.set_layout(session.layout.copy(), "pca")
    assert session.variant_path is None and len(window.map_path.labels) == 0


def test_bad_values_say_so_in_place(qtbot, window):
    view = window.stability
    view.kind.setCurrentText("jpeg")
    view.values.setText("0:200:10")
    view.sweep()  # no run: the prompt
    assert "Click a point" in view.status.text()


def test_the_dataset_curves_come_from_the_robustness_table(qtbot, window, photo_folder):
    from explorer.core.analysis.robustness import robustness
    from explorer.core.progress import run_to_end

    run_pipeline(qtbot, window, photo_folder, projection="pca")
    view = window.stability
    window.stability_dock.raise_()
    view.kind.setCurrentText("brightness")
    view.values.setText("1,0.2")
    view.dataset.sample.setValue(3)
    with qtbot.waitSignal(view.dataset.measured, timeout=120_000):
        view.dataset.button.click()
    table = view.dataset.table
    again = run_to_end(robustness(window.session.run, "brightness", "1,0.2", loaded=window._prepared.model,
                                  sample=3))
    assert table.levels == again.levels and table.n_images == 3
    x, y = view.dataset.agreement.getData()
    assert list(x) == [1.0, 0.2] and y[0] == 1.0
    assert "brightness on 3 images" in view.dataset.note.text()
