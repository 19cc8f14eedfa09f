"""The app on the redesigned foundations: tracing failures shown, projection settings remembered."""

from tests.core.test_graph import Dynamic  # data-dependent control flow: fx cannot trace it
from tests.gui.test_app import run_pipeline


def test_a_model_that_cannot_be_traced_says_why_in_the_window(qtbot, window, photo_folder, monkeypatch):
    from explorer.core.model import zoo as pipeline  # core.pipeline imports load_model from the zoo when called

    real = pipeline.load_model

    def fake(name, weights=None, **kw):
        loaded = real("resnet18", "random", image_size=32)
        loaded.module = Dynamic().eval()
        return loaded

    monkeypatch.setattr(pipeline, "load_model", fake)
    run_pipeline(qtbot, window, photo_folder, model="resnet18", projection="pca")
    note = window.trace_note
    assert not note.isHidden() and "could not be traced" in note.text() and "control flow" in note.text()
    assert [l.name for l in window.session.layers] == ["conv", "bn", "head"]
    assert all(l.receptive_field is None for l in window.session.layers)
    # a traceable model afterwards clears the note
    monkeypatch.setattr(pipeline, "load_model", real)
    with qtbot.waitSignal(window.pipeline_finished, timeout=180_000):
        window.set_model("alexnet", "random")  # as the Model box does
    qtbot.waitUntil(lambda: window._prepared is not None and window._prepared.model.name == "alexnet", timeout=60_000)
    assert window.session.run.model == "alexnet"
    assert note.isHidden() and note.text() == ""


def test_the_last_projection_settings_are_remembered(qtbot, photo_folder, monkeypatch):
    from explorer.gui.main_window import MainWindow

    first = MainWindow(remember=True)
    qtbot.addWidget(first)
    run_pipeline(qtbot, first, photo_folder, model="alexnet", projection="tsne")
    first.set_projection("tsne", 3.0, 7)
    qtbot.waitUntil(lambda: first.session.layout_method == "tsne" and first.session.perplexity == 3.0,
                    timeout=120_000)
    first.close()
    second = MainWindow(remember=True)
    qtbot.addWidget(second)
    s = second.session
    assert (s.projection, s.perplexity, s.seed) == ("tsne", 3.0, 7)
    assert second.controls.perplexity.value() == 3.0
    second.close()


def test_patches_of_deleted_images_are_named_not_hidden(qtbot, window, photo_folder, tmp_path):
    """Issue 17 item 15 in the app: a top image deleted since the embedding is listed as missing."""
    import shutil

    from explorer.core.analysis.patches import top_patches

    root = tmp_path / "photos"
    shutil.copytree(photo_folder, root)
    run_pipeline(qtbot, window, root, model="alexnet", projection="pca")
    channels = window.neurons.channels
    run = window.session.run
    best = top_patches(run, 3, 8)
    gone = best[1]
    (root / gone.path).unlink()
    with qtbot.waitSignal(channels.patches_shown, timeout=20_000):
        channels.choose(3)
    assert [p.index for p in channels.patches] == [p.index for p in best]  # the ranking is kept
    texts = [channels.patch_list.item(i).text() for i in range(channels.patch_list.count())]
    assert texts[1].endswith("missing") and sum(t.endswith("missing") for t in texts) == 1
    assert gone.path in channels.title.text() and "cannot be read" in channels.title.text()
    assert gone.path in channels.patch_list.item(1).toolTip()


def test_after_a_failed_model_load_the_controls_show_the_map(qtbot, window, photo_folder, tmp_path):
    """Issue 10 bug 3: the Model box, Weights, Layer box and its list return to the run on screen."""
    run_pipeline(qtbot, window, photo_folder, model="alexnet", projection="pca")
    run = window.session.run
    controls = window.controls
    shown_layers = [controls.layer_combo.itemData(i) for i in range(controls.layer_combo.count())]
    with qtbot.waitSignal(window.pipeline_failed, timeout=60_000):
        window.set_model("resnet18", str(tmp_path / "missing.pth"))  # as the Model box and Load weights do
    assert "Weights file not found" in window.banner.text()
    assert window.session.run is run  # the map did not change
    assert controls.model_combo.currentData() == "alexnet" == window.session.model
    assert controls.weights_label.text() == "random (seeded)"
    assert controls.layer_combo.currentData() == run.layer
    assert [controls.layer_combo.itemData(i) for i in range(controls.layer_combo.count())] == shown_layers
