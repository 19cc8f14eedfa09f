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
    channels.show_overlay = lambda *args: (shown.append(args), show(*args))
    with qtbot.waitSignal(neurons.overlay_shown, timeout=30_000):
        channels.strongest.itemClicked.emit(channels.strongest.item(0))
    channel = strongest[0]
    assert channels.channel == channel
    # independently: torchvision's own feature extractor on the app's model, the same image and layer
    image, prepared, layer = load_item(run, picked), window._prepared, run.manifest["layer"]
    with torch.no_grad():
        x = prepared.model.preprocess(image)[None]
        maps = create_feature_extractor(prepared.model.module.eval(), {layer: "out"})(x)["out"][0].numpy()
    index, shown_channel, shown_image, channel_map, box = shown[-1]
    assert (index, shown_channel) == (picked, channel) and shown_image.size == image.size
    np.testing.assert_allclose(channel_map, maps[channel], rtol=1e-4, atol=1e-4)  # the same channel's map
    assert np.abs(channel_map - maps[strongest[1]]).mean() > 10 * np.abs(channel_map - maps[channel]).mean() + 1e-6
    view = channels.overlay
    assert view.has_map() and view.value_range == pytest.approx((maps[channel].min(), maps[channel].max()), rel=1e-4)
    rect = view.canvas.image_rect()
    assert abs(rect.width() / rect.height() - image.width / image.height) < 0.02  # aspect ratio kept
    assert f"Channel {channel} of {layer}" in view.caption.text()
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
    # another colouring (the Map dock's) replaces it: the button must not claim the channel any more
    from explorer.core.analysis import metadata

    session.set_colour_by(metadata.colour_by_regex([r.path for r in run.rows], r"^([a-z]+)"))
    assert session.colour_channel is None and not channels.colour_button.isChecked()
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


# --- issue 10: neurons that can be read -------------------------------------------------------------

def clipped_texts(root) -> list[str]:
    """Texts of visible labels, buttons and combo boxes under `root` that do not fit their widget or run
    past the right edge of the dock (or window) that holds them."""
    from PySide6.QtCore import QPoint
    from PySide6.QtWidgets import QAbstractButton, QComboBox, QDockWidget, QLabel

    def room(widget) -> int:
        """The widget's width, cut at the right edge of its dock (a dock clips what it cannot fit)."""
        frame = widget.window()
        parent = widget.parentWidget()
        while parent is not None:
            if isinstance(parent, QDockWidget):
                frame = parent
                break
            parent = parent.parentWidget()
        left = widget.mapTo(frame, QPoint(0, 0)).x()
        return min(widget.width(), frame.width() - left)

    out = []
    for label in root.findChildren(QLabel):
        if not label.isVisible() or not label.text() or not label.visibleRegion().boundingRect().isValid():
            continue
        rect = label.contentsRect()
        width = min(rect.width(), room(label))
        if label.wordWrap():
            if label.heightForWidth(rect.width()) > rect.height() + 1 or width < rect.width():
                out.append(f"label {label.text()!r}: needs {label.heightForWidth(rect.width())} px, has {rect.height()}")
        elif label.fontMetrics().horizontalAdvance(label.text()) > width:
            out.append(f"label {label.text()!r}: {label.fontMetrics().horizontalAdvance(label.text())} > {width} px")
    for button in root.findChildren(QAbstractButton):
        if button.isVisible() and button.text() and button.sizeHint().width() > room(button):
            out.append(f"button {button.text()!r}: {button.sizeHint().width()} > {room(button)} px")
    for combo in root.findChildren(QComboBox):
        need = combo.fontMetrics().horizontalAdvance(combo.currentText()) + 28  # frame and arrow
        if combo.isVisible() and need > room(combo):
            out.append(f"combo {combo.currentText()!r}: {need} > {room(combo)} px")
    return out


def test_channels_tab_reads_a_saturated_layer_by_its_mean_and_nothing_is_clipped(qtbot, window, photo_folder,
                                                                                   shots):
    """The bundled model's default layer (bn2, ReLU6): ranked by the mean over the map, saturated channels
    flagged, the measure named; every label of the Neurons tab fits at 1024x700 and 1600x1000 (bug 6)."""
    run_pipeline(qtbot, window, photo_folder, model="efficientnet_lite0", weights=None, projection="pca")
    run, channels = window.session.run, window.neurons.channels
    window.neurons_dock.raise_()
    qtbot.waitUntil(lambda: channels.table_model.rowCount() == 1280, timeout=20_000)
    means = np.asarray(run.features, np.float64)
    maxima = np.asarray(run.channel_max, np.float64)
    at_cap = (maxima >= 6.0).mean(0)  # independently: numpy over the stored maxima
    assert channels.summary.cap == 6.0 and channels.measure() == "mean"
    assert channels.measure_combo.currentText() == "auto (mean)"
    assert f"capped at 6: {int((at_cap >= 0.5).sum())} channels saturated" in channels.measure_note.text()
    table = channels.table_model
    channels.table.sortByColumn(3, Qt.SortOrder.DescendingOrder)
    worst = table.channel_at(0)
    assert at_cap[worst] == at_cap.max() >= 0.5 and table.data(table.index(0, 3)) == f"{at_cap.max():.0%}"

    with qtbot.waitSignal(channels.patches_shown, timeout=20_000):
        channels.choose(worst)
    shown = [p.activation for p in channels.patches]
    np.testing.assert_allclose(shown, np.sort(means[:, worst])[::-1][:len(shown)], rtol=1e-3)
    assert len(set(shown)) > 1  # by the maximum all read 6.00
    assert "by mean over the map" in channels.title.text() and "Saturated" in channels.title.text()

    window.session.select([3])
    strongest = [channels.strongest.item(i).data(Qt.ItemDataRole.UserRole) for i in range(channels.strongest.count())]
    assert strongest[:3] == [int(c) for c in np.argsort(-means[3], kind="stable")[:3]]
    assert channels.strongest_label.text().endswith("by mean")

    channels.colour_button.setChecked(True)
    qtbot.waitUntil(lambda: window.session.colour_channel == worst, timeout=10_000)
    codes, colours = window.session.colour_scheme()
    column = means[:, worst]
    expected = np.round((column - column.min()) / (column.max() - column.min()) * (len(colours) - 1))
    assert np.abs(codes - expected).max() <= 1 and len(set(codes.tolist())) > 1  # not uniform

    for size in ((1024, 700), (1600, 1000)):
        window.resize(*size)
        qtbot.wait(150)
        window.grab().save(str(shots / f"app-neurons-{size[0]}.png"))
        assert clipped_texts(window.neurons.channels) == [], size
    window.neurons.setCurrentWidget(window.neurons.kernels)
    qtbot.wait(100)
    assert clipped_texts(window.neurons.kernels) == []

    # the strongest unit, on request: ties shown as they are, and the title says so
    window.neurons.setCurrentWidget(channels)
    channels.measure_combo.setCurrentIndex(channels.measure_combo.findData("max"))
    with qtbot.waitSignal(channels.patches_shown, timeout=20_000):
        channels.measure_combo.activated.emit(channels.measure_combo.currentIndex())
    n_capped = int((maxima[:, worst] >= 6.0).sum())
    assert [p.activation for p in channels.patches][:n_capped] == [6.0] * n_capped
    assert "by strongest unit (max)" in channels.title.text()
