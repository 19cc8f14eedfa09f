"""The activation overlay (issue 10, bug 5): true aspect ratio, a colour scale with values, a caption, a
switch and an opacity so the image shows; gone after a multi-selection."""

import numpy as np
import pytest
from PIL import Image

from explorer.gui.views.overlay import OverlayView, heat_rgb
from tests.gui.test_app import run_pipeline


def pixel(widget, x, y):
    image = widget.grab().toImage()
    return np.array(image.pixelColor(int(x), int(y)).getRgb()[:3])


def test_a_square_image_stays_square_with_scale_caption_and_switch(qtbot):
    view = OverlayView()
    qtbot.addWidget(view)
    view.resize(480, 420)  # wider than tall: the image must not be stretched to the widget
    view.show()
    base = Image.new("RGB", (64, 64), (200, 30, 30))
    channel_map = np.zeros((7, 7), np.float32)
    channel_map[3, 3] = 6.0  # one hot unit in the centre
    view.show_map(base, channel_map, (0, 0, 64, 64), "Channel 5 of bn2 in a.png: …")
    qtbot.wait(50)
    rect = view.canvas.image_rect()
    assert rect.width() == pytest.approx(rect.height(), abs=1)  # square on screen, not 3:2
    assert view.scale.low.text() == "0" and view.scale.high.text() == "6"  # the values at the ramp's ends
    assert "Channel 5 of bn2" in view.caption.text()

    c = view.canvas
    centre = rect.center()
    corner_x, corner_y = rect.left() + rect.width() * 0.05, rect.top() + rect.height() * 0.05
    hot, cold = pixel(c, centre.x(), centre.y()), pixel(c, corner_x, corner_y)
    yellow, blue = heat_rgb(np.array(1.0)).astype(int), heat_rgb(np.array(0.0)).astype(int)
    red = np.array([200, 30, 30])
    a = view.opacity.value() / 100
    assert np.abs(hot - (a * yellow + (1 - a) * red)).max() < 25  # the map blended over the image
    assert np.abs(cold - (a * blue + (1 - a) * red)).max() < 25

    view.opacity.setValue(20)  # fainter: more of the image shows
    assert np.abs(pixel(c, corner_x, corner_y) - red).sum() < np.abs(cold - red).sum()
    view.show_box.setChecked(False)  # the image alone
    assert np.abs(pixel(c, centre.x(), centre.y()) - red).max() <= 3
    view.clear()
    assert not view.has_map()


def test_the_overlay_goes_after_a_multi_selection(qtbot, window, photo_folder):
    run_pipeline(qtbot, window, photo_folder, projection="pca")
    session, neurons = window.session, window.neurons
    channels = neurons.channels
    qtbot.waitUntil(lambda: channels.table.model().rowCount() == 512, timeout=20_000)
    # astronaut is square (320 x 320): it must stay square
    square = next(r.index for r in session.run.rows if "astronaut" in r.path)
    session.select([square])
    with qtbot.waitSignal(neurons.overlay_shown, timeout=30_000):
        channels.choose(7)
    assert channels.overlay.has_map()
    rect = channels.overlay.canvas.image_rect()
    assert rect.width() == pytest.approx(rect.height(), abs=1)
    session.select([square, (square + 1) % 8])
    assert not channels.overlay.has_map()
