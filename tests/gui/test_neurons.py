"""The Neurons dock: kernels, channel table, patches linked to the selection, activation maps."""

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt

from explorer.core.analysis.patches import top_channels, top_patches
from tests.gui.test_app import SHOTS, run_pipeline


def test_kernels_channels_patches_and_overlay(qtbot, window, photo_folder):
    run_pipeline(qtbot, window, photo_folder, projection="pca")
    neurons = window.neurons
    grid = neurons.kernels.grid
    assert (grid.n_kernels, grid.kernel_size, grid.layer) == (64, (7, 7), "conv1")
    channels = neurons.channels
    qtbot.waitUntil(lambda: channels.table.rowCount() == 512, timeout=10_000)

    with qtbot.waitSignal(channels.patches_shown, timeout=20_000):
        channels.choose(11)
    expected = top_patches(window.state.run, 11, channels.k_spin.value())
    assert [p.index for p in channels.patches] == [p.index for p in expected]
    assert channels.patch_list.count() == len(expected) == 8

    # clicking a patch selects its image everywhere
    item = channels.patch_list.item(2)
    channels.patch_list.itemClicked.emit(item)
    picked = item.data(Qt.ItemDataRole.UserRole)
    assert window.state.selection == [picked]
    strongest = [channels.strongest.item(i).data(Qt.ItemDataRole.UserRole) for i in range(channels.strongest.count())]
    assert strongest == [c for c, _ in top_channels(window.state.run, picked, 10)]

    # the activation map of the chosen channel over the selected image
    with qtbot.waitSignal(neurons.overlay_shown, timeout=30_000):
        channels.strongest.itemClicked.emit(channels.strongest.item(0))
    assert channels.channel == strongest[0]
    assert not channels.overlay.pixmap().isNull()

    # colour the map by the channel's activation
    channels.colour_button.setChecked(True)
    codes, table = window.state.colour_scheme()
    values = np.asarray(window.state.run.channel_max[:, strongest[0]], np.float64)
    assert codes[np.argmax(values)] == len(table) - 1 and codes[np.argmin(values)] == 0
    np.testing.assert_array_equal(window.scatter._codes, codes)
    channels.colour_button.setChecked(False)
    assert window.state.colour_channel is None

    SHOTS.mkdir(parents=True, exist_ok=True)
    channels.colour_button.setChecked(True)
    window.neurons_dock.raise_()
    qtbot.wait(200)
    window.grab().save(str(SHOTS / "app-neurons.png"))
    neurons.setCurrentWidget(neurons.kernels)
    qtbot.wait(100)
    window.grab().save(str(SHOTS / "app-kernels.png"))
    assert Path(SHOTS / "app-kernels.png").exists()
