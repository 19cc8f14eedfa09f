"""The neuron atlas in the Neurons dock: one cell per channel with its top patch, sort orders, a
channel's feature visualisation streamed and cached, and why the selected image sits where it does."""

import numpy as np
from PySide6.QtCore import Qt

from explorer.core.analysis.featurevis import Objective, Settings
from explorer.core.analysis.featurevis.lookup import cached
from explorer.core.analysis.patches import channel_patches
from tests.gui.test_app import run_pipeline


def lexorder(scores):
    return list(np.lexsort((np.arange(len(scores)), -np.nan_to_num(scores, nan=-np.inf))))


def test_atlas_sorts_visualises_and_explains(qtbot, window, photo_folder, shots):
    run_pipeline(qtbot, window, photo_folder, projection="pca")
    session, channels = window.session, window.neurons.channels
    run, atlas = session.run, channels.atlas
    window.neurons_dock.raise_()
    model = atlas.model
    qtbot.waitUntil(lambda: model.rowCount() == 512 and model.tops is not None, timeout=20_000)
    assert channels.measure() == "max"  # resnet18's layer4 does not saturate

    # one cell per channel; each the channel's top image by the measure (numpy: first of a stable sort)
    v = np.asarray(run.channel_max, np.float64)
    means = np.asarray(run.features, np.float64)
    n = len(v)
    expected_top = [np.lexsort((np.arange(n), -means[:, c], -v[:, c]))[0] for c in range(v.shape[1])]
    np.testing.assert_array_equal(model.tops.index, expected_top)
    # only the cells on screen are loaded (lazily), and a loaded cell holds the top patch's box
    qtbot.waitUntil(lambda: len(model._cells) > 0, timeout=20_000)
    assert 0 < len(model.requested) < 512
    c = next(iter(model._cells))
    first = channel_patches(run, c, 1, "max").ranked[0]
    assert (model.patch(c).index, model.patch(c).box) == (first.index, first.box)
    assert not model.data(model.index(model.order().index(c)), Qt.ItemDataRole.DecorationRole).isNull()

    # sort orders against numpy
    assert model.order() == lexorder(v.mean(0))
    labels = np.array([r.label for r in run.rows])
    per_label = np.stack([np.clip(v[labels == k], 0, None).mean(0) for k in sorted(set(labels))])
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.nan_to_num(per_label.max(0) / per_label.sum(0))
    atlas.order_combo.setCurrentIndex(atlas.order_combo.findData("selectivity"))
    atlas.order_combo.activated.emit(atlas.order_combo.currentIndex())
    qtbot.waitUntil(lambda: model.order() == lexorder(share), timeout=10_000)
    session.select([1, 5, 6])
    atlas.order_combo.setCurrentIndex(atlas.order_combo.findData("selection"))
    atlas.order_combo.activated.emit(atlas.order_combo.currentIndex())
    qtbot.waitUntil(lambda: model.order() == lexorder(v[[1, 5, 6]].mean(0)), timeout=10_000)
    session.select([2])  # the order follows the selection
    qtbot.waitUntil(lambda: model.order() == lexorder(v[[2]].mean(0)), timeout=10_000)

    # why image 2 sits where it does: its largest z over the run's feature vectors
    std = means.std(0)
    z = np.where(std > 0, (means - means.mean(0)) / np.where(std > 0, std, 1), 0.0)
    qtbot.waitUntil(lambda: channels.standout.channels() == lexorder(z[2])[:8], timeout=10_000)
    assert channels.standout.missing() == channels.standout.channels()  # nothing visualised yet

    # a click on a cell: its top patches, and Visualise streams partial images, then the cached result
    channel = channels.standout.channels()[0]
    with qtbot.waitSignal(channels.patches_shown, timeout=20_000):
        atlas.channel_clicked.emit(channel)
    assert [p.index for p in channels.patches] == [p.index for p in channel_patches(run, channel, 12, "max").ranked]
    panel = channels.visual
    panel.steps.setValue(32)
    partials = []
    panel.lane.started.connect(lambda name: partials.clear())
    show = panel._partial
    panel._partial = lambda p: (partials.append(p), show(p))
    with qtbot.waitSignal(panel.visualised, timeout=120_000) as done:
        panel.button.click()
    assert done.args[0] == channel
    streamed = [p for p in partials if p[2] is None]
    assert len(streamed) == 2 and all(p[0] == channel for p in streamed)  # steps 16 and 32
    result = partials[-1][2]
    found = cached(window._prepared.model, Objective("channel", channel, run.layer), Settings(steps=32))
    assert found is not None and np.array_equal(np.asarray(found.images[0]), np.asarray(result.images[0]))
    assert "measured on the saved image" in panel.caption.text() and not panel.image.pixmap().isNull()
    qtbot.waitUntil(lambda: channel not in channels.standout.missing(), timeout=5_000)
    assert model.has_visualisation(channel) or channel not in model._cells
    # asked again, the cache answers at once (no optimisation job)
    channels.choose(channel + 1 if channel + 1 < 512 else 0)
    starts = []
    panel.lane.started.connect(starts.append)
    with qtbot.waitSignal(panel.visualised, timeout=10_000):
        channels.choose(channel)
    assert starts == [] and "from the cache" in panel.caption.text()
    window.grab().save(str(shots / "app-atlas.png"))

    # 'Visualise these' optimises the listed channels without a picture one after another; each lands in the list
    panel.steps.setValue(16)
    missing = channels.standout.missing()
    assert channel not in missing and len(missing) == 7
    got = []
    panel.visualised.connect(lambda c, image: got.append(c))
    channels.standout.missing = lambda: missing[:2]  # two of them keep the test short
    channels.standout.button.setEnabled(True)
    channels.standout.button.click()
    qtbot.waitUntil(lambda: got == missing[:2] and not panel.running, timeout=120_000)
    del channels.standout.missing
    assert [c for c in missing[:2] if c in channels.standout.missing()] == []

    # Cancel stops a long optimisation after its current step: nothing is cached, the caption says so
    other = missing[2]
    channels.choose(other)
    panel.steps.setValue(4096)
    with qtbot.waitSignal(panel.lane.progressed, timeout=60_000):
        panel.button.click()
    assert channels.standout.button.text() == "Visualising…" and panel.cancel.isEnabled()
    with qtbot.waitSignal(panel.lane.cancelled, timeout=30_000):
        panel.cancel.click()
    qtbot.waitUntil(lambda: not panel.running and "cancel" in panel.caption.text(), timeout=10_000)
    assert cached(window._prepared.model, Objective("channel", other, run.layer), Settings(steps=4096)) is None
    assert channels.standout.button.text() == "Visualise these" and not panel.cancel.isEnabled()
