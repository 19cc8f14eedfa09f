"""The Neurons dock: kernels, channel table, patches linked to the selection, activation maps."""

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from torchvision.models.feature_extraction import create_feature_extractor

from explorer.core.analysis.activation import overlay
from explorer.core.analysis.patches import top_channels, top_patches
from explorer.core.run.images import load_item
from tests.gui.test_app import run_pipeline


def test_kernels_channels_patches_and_overlay(qtbot, window, photo_folder, shots):
    run_pipeline(qtbot, window, photo_folder, projection="pca")
    session, neurons = window.session, window.neurons
    run = session.run
    grid = neurons.kernels.grid
    assert (grid.n_kernels, grid.kernel_size, grid.layer) == (64, (7, 7), "conv1")
    channels = neurons.channels
    table = channels.table.model()
    qtbot.waitUntil(lambda: table.rowCount() == 512, timeout=10_000)

    # the table holds each channel's mean and max (independently: numpy over the run's arrays) and sorts
    means = np.asarray(run.features, np.float64)[run.done_mask].mean(0)
    maxima = np.asarray(run.channel_max, np.float64)[run.done_mask].max(0)
    channels.table.sortByColumn(2, Qt.SortOrder.DescendingOrder)
    assert table.channel_at(0) == int(np.argmax(maxima))
    channels.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)
    top = int(np.argmax(means))
    assert table.channel_at(0) == top and table.data(table.index(0, 0)) == top
    assert table.data(table.index(0, 1)) == pytest.approx(means[top], rel=1e-3)
    channels.table.selectRow(0)  # a click on a row chooses its channel
    assert channels.channel == top

    with qtbot.waitSignal(channels.patches_shown, timeout=20_000):
        channels.choose(11)
    expected = top_patches(run, 11, channels.k_spin.value())
    assert [p.index for p in channels.patches] == [p.index for p in expected]
    assert channels.patch_list.count() == len(expected) == 8

    # clicking a patch selects its image everywhere
    item = channels.patch_list.item(2)
    channels.patch_list.itemClicked.emit(item)
    picked = item.data(Qt.ItemDataRole.UserRole)
    assert session.selection == [picked]
    strongest = [channels.strongest.item(i).data(Qt.ItemDataRole.UserRole) for i in range(channels.strongest.count())]
    assert strongest == [c for c, _ in top_channels(run, picked, 10)]

    # the activation map of the chosen channel over the selected image
    shown = []
    show = channels.show_overlay
    channels.show_overlay = lambda image: (shown.append(image), show(image))
    with qtbot.waitSignal(neurons.overlay_shown, timeout=30_000):
        channels.strongest.itemClicked.emit(channels.strongest.item(0))
    channel = strongest[0]
    assert channels.channel == channel
    # independently: torchvision's own feature extractor on the app's model, the same image and layer
    image, prepared, layer = load_item(run, picked), window._prepared, run.manifest["layer"]
    with torch.no_grad():
        x = prepared.model.preprocess(image)[None]
        maps = create_feature_extractor(prepared.model.module.eval(), {layer: "out"})(x)["out"][0].numpy()

    def error(channel_map):
        return np.abs(np.asarray(shown[-1], np.float64)
                      - np.asarray(overlay(image, channel_map, prepared.model.preprocess), np.float64)).mean()

    assert shown[-1].size == image.size  # the map lies over the whole photo
    assert error(maps[channel]) < 1.0  # grey levels out of 255: the same channel
    assert error(maps[strongest[1]]) > 5 * error(maps[channel])  # ... and not another one
    pix = channels.overlay.pixmap()
    assert pix.width() <= 320 and pix.height() <= 240 and max(pix.width(), pix.height()) >= 200
    assert abs(pix.width() / pix.height() - image.width / image.height) < 0.02  # aspect ratio kept

    # colour the map by the channel's activation (computed in the analysis lane)
    channels.colour_button.setChecked(True)
    qtbot.waitUntil(lambda: session.colour_channel == channel, timeout=10_000)
    codes, table_colours = session.colour_scheme()
    values = np.asarray(run.channel_max[:, channel], np.float64)
    lo, hi = values[run.done_mask].min(), values[run.done_mask].max()
    steps = len(table_colours)
    assert np.abs(codes - np.round((values - lo) / (hi - lo) * (steps - 1))).max() <= 1
    assert codes[np.argmax(values)] == steps - 1 and codes[np.argmin(values)] == 0
    np.testing.assert_array_equal(window.scatter._codes, codes)
    channels.colour_button.setChecked(False)
    assert session.colour_channel is None

    channels.colour_button.setChecked(True)
    qtbot.waitUntil(lambda: session.colour_channel == channel, timeout=10_000)
    window.neurons_dock.raise_()
    qtbot.wait(200)
    window.grab().save(str(shots / "app-neurons.png"))
    neurons.setCurrentWidget(neurons.kernels)
    qtbot.wait(100)
    window.grab().save(str(shots / "app-kernels.png"))
    # the saved screenshot shows the kernel grid, pixel for pixel, where the kernels tab draws it
    saved = np.asarray(Image.open(shots / "app-kernels.png").convert("RGB"))
    assert saved.shape[:2] == (window.height(), window.width())
    label = neurons.kernels.label
    seen = label.visibleRegion().boundingRect()
    assert seen.width() > 100 and seen.height() > 100
    at = label.mapTo(window, QPoint(seen.left(), seen.top()))
    np.testing.assert_array_equal(saved[at.y():at.y() + seen.height(), at.x():at.x() + seen.width()],
                                  grid.image[seen.top():seen.bottom() + 1, seen.left():seen.right() + 1])
