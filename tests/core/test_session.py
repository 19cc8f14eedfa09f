"""The session state without Qt: a whole session driven from a script, its events and derived values."""

import subprocess
import sys

import numpy as np
import pytest

from explorer.core.pipeline import EmbedRequest, open_or_embed, project_layout
from explorer.core.progress import run_to_end
from explorer.core.session import RAMP_STEPS, UNLABELLED, Session, class_colour


def record(session):
    """Every event in order: (name, args)."""
    log = []
    session.events.all.connect(lambda info: log.append((info.signal.name, info.args)))
    return log


def request_for(session):
    return EmbedRequest(session.dataset, session.model, session.weights, session.layer, image_size=64,
                        batch_size=4, workers=0)


def test_a_whole_session_without_qt(photo_folder):
    session = Session()
    log = record(session)
    session.update(dataset=str(photo_folder), model="alexnet", weights="random", projection="pca")
    assert [name for name, _ in log] == ["dataset", "model", "weights", "projection"]
    assert log[0][1] == (str(photo_folder), "demo:digits")  # (new, old)

    # open: nothing cached yet, so the model is loaded and the run embedded
    log.clear()
    opened = run_to_end(open_or_embed(request_for(session)))
    assert opened.prepared is not None and opened.run.counts()["embedded"] == 8
    session.update(layers=opened.prepared.graph.layers, device=opened.device)
    session.set_run(opened.run)
    default_layer = opened.run.manifest["layer"]
    assert [name for name, _ in log] == ["layers", "device", "run", "layer"]
    assert session.layer == default_layer == opened.prepared.graph.default
    # labels come from the class folders, independently of the run's own bookkeeping
    expected = {p.name.split(".")[0]: p.parent.name for p in photo_folder.rglob("*.*")}
    assert [session.labels[r.index] for r in opened.run.rows] == \
        [expected[r.path.rsplit("/", 1)[-1].split(".")[0]] for r in opened.run.rows]
    assert session.classes == ["animals", "things"]
    assert list(session.label_codes) == [session.classes.index(label) for label in session.labels]

    # project: PCA, then a selection
    log.clear()
    layout = run_to_end(project_layout(session.run, session.projection, seed=session.seed))
    session.set_layout(layout.xy, layout.method)
    assert [name for name, _ in log] == ["layout_method", "layout"]
    assert session.layout.shape == (8, 2) and session.layout_method == "pca"
    assert session.visible_mask.all()
    session.select([5, 2], focus=True)  # focus only centres on a single item
    session.select([3], focus=True)
    assert [name for name, _ in log[2:]] == ["selection", "selection", "focus_requested"]
    assert log[-1][1] == (3,) and session.selection == [3]
    session.select([3])  # the same selection again: no event
    assert len(log) == 5

    # hide a class, colour by a channel
    session.toggle_class(0)
    assert session.hidden_classes == {0}
    assert list(session.visible_mask) == [code != 0 for code in session.label_codes]
    session.set_colour_channel(7)
    codes, table = session.colour_scheme()
    values = np.asarray(session.run.channel_max[:, 7], np.float64)
    assert len(table) == RAMP_STEPS and codes[np.argmax(values)] == RAMP_STEPS - 1 and codes[np.argmin(values)] == 0
    assert [name for name, _ in log[5:]] == ["hidden_classes", "colour_channel"]

    # change the layer: a second embedding with the loaded model, and the view resets
    other = next(l.name for l in opened.prepared.graph.layers if len(l.shape) == 3 and l.name != default_layer)
    log.clear()
    session.layer = other
    reopened = run_to_end(open_or_embed(request_for(session), opened.prepared))
    session.set_run(reopened.run)
    names = [name for name, _ in log]
    assert names == ["layer", "run", "layout_method", "layout", "selection", "hidden_classes", "colour_channel"]
    assert reopened.run.manifest["layer"] == other == session.layer
    assert reopened.run.path != opened.run.path and reopened.run.features.shape[1] == \
        next(l.shape[0] for l in opened.prepared.graph.layers if l.name == other)
    assert (session.layout, session.layout_method, session.selection, session.hidden_classes,
            session.colour_channel) == (None, None, [], frozenset(), None)
    # the map comes back with the class colours
    codes, table = session.colour_scheme()
    assert table[-1] == UNLABELLED and table[:2] == [class_colour(0), class_colour(1)]


def test_handlers_see_every_field_of_a_change_already_set():
    session = Session()
    seen = []
    session.events.layout.connect(lambda new, old: seen.append((session.layout_method, new.shape)))
    session.events.layout_method.connect(lambda new, old: seen.append(("method", session.layout is not None)))
    session.set_layout(np.zeros((4, 2)), "pca")
    assert seen == [("method", True), ("pca", (4, 2))]


def test_a_field_set_twice_in_one_change_is_announced_once_or_not_at_all():
    session = Session()
    log = record(session)
    with session.changes():
        session.seed = 3
        session.seed = 4
        session.perplexity = 10
        session.perplexity = 30  # back to where it was: nothing to announce
    assert log == [("seed", (4, 0))]


def test_values_are_converted_and_checked():
    session = Session()
    session.select(np.array([2, 1]))
    assert session.selection == [2, 1] and all(type(i) is int for i in session.selection)
    session.set_layout([[0, 1], [np.nan, np.nan]], "pca")
    assert session.layout.dtype == np.float32 and session.visible_mask.tolist() == [True, False]
    with pytest.raises(TypeError, match="no field colour"):
        session.update(colour=1)
    assert Session(model="resnet18").model == "resnet18"
    a, b = Session(), Session()
    a.selection.append(1)  # never shared between sessions
    assert b.selection == []


def test_describe_names_the_item():
    class FakeRun:
        rows = [type("Row", (), {"index": 0, "path": "cats/a.jpg", "label": "cats"})(),
                type("Row", (), {"index": 1, "path": "b.jpg", "label": None})()]
        layer = "x"

    session = Session()
    session.set_run(FakeRun())
    assert session.describe(0) == "#0 cats/a.jpg (cats)" and session.describe(1) == "#1 b.jpg (no label)"
    assert list(session.label_codes) == [0, -1]
    codes, table = session.colour_scheme()
    assert list(codes) == [0, 1] and table == [class_colour(0), UNLABELLED]


def test_the_session_imports_no_qt_and_no_torch():
    code = ("import sys, explorer.core.session\n"
            "print(sorted(m for m in ('PySide6', 'pyqtgraph', 'superqt', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_channel_colouring_without_codes_follows_the_measure():
    """Leftover of issue 10: set without codes (a reopened session file), the colouring ranked by the
    channel max even where the layer saturates and the Neurons tab shows the mean."""
    from types import SimpleNamespace

    rng = np.random.default_rng(1)
    mean = rng.normal(size=(40, 6)).astype(np.float32)
    top = np.minimum(rng.gamma(2.0, 2.0, (40, 6)), 6.0).astype(np.float32)  # a ReLU6-like cap at 6
    top[:, 2] = 6.0  # channel 2 saturates: its max is flat, its mean is not
    arrays = {"features": mean, "channel_max": top}
    run = SimpleNamespace(features=mean, channel_max=top, done_mask=np.ones(40, bool), array=arrays.__getitem__,
                          rows=[], layer="bn2")

    def ramp_of(values):  # lowest 0, highest RAMP_STEPS - 1, linear in between
        return np.round((values - values.min()) / (values.max() - values.min()) * (RAMP_STEPS - 1)).astype(int)

    session = Session()
    session.update(run=run)
    session.set_colour_channel(2)  # "auto": the layer saturates, so by the mean
    assert list(session.colour_scheme()[0]) == list(ramp_of(mean[:, 2]))
    session.set_colour_channel(3, measure="max")
    assert session.colour_measure == "max"
    assert list(session.colour_scheme()[0]) == list(ramp_of(top[:, 3]))
    session.set_colour_channel(3, measure="mean")  # the same channel by another measure is recomputed
    assert list(session.colour_scheme()[0]) == list(ramp_of(mean[:, 3]))
