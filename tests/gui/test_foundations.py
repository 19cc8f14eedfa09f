"""The app on the redesigned foundations: tracing failures shown, projection settings remembered."""

import torch

from tests.gui.test_app import run_pipeline


class Dynamic(torch.nn.Module):
    """Data-dependent control flow: torch.fx cannot trace it, so layers come from forward hooks."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.head = torch.nn.Linear(4, 2)

    def forward(self, x):
        x = self.conv(x)
        if x.sum() > 0:
            x = x * 2
        return self.head(x.mean((2, 3)))


def test_a_model_that_cannot_be_traced_says_why_in_the_window(qtbot, window, photo_folder, monkeypatch):
    from explorer.core import pipeline

    real = pipeline.load_model

    def fake(name, weights=None, **kw):
        loaded = real("resnet18", "random", image_size=32)
        loaded.module = Dynamic().eval()
        return loaded

    monkeypatch.setattr(pipeline, "load_model", fake)
    run_pipeline(qtbot, window, photo_folder, model="resnet18", projection="pca")
    note = window.trace_note
    assert not note.isHidden() and "could not be traced" in note.text() and "control flow" in note.text()
    assert [l.name for l in window.session.layers] == ["conv", "head"]
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
