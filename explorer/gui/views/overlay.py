"""A channel's activation map over its image: true aspect ratio, a colour scale with values, a caption,
and a switch and an opacity slider so the image under the map can be seen.

The map covers the part of the image the network saw (the centre crop, `box` in image pixels);
outside it the image is dimmed. The map is stretched over that box with bilinear smoothing,
as the network's units tile it; the image itself is drawn at its own aspect ratio, enlarged
without blur when it is tiny (8x8 digits).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QLinearGradient, QPainter, QPixmap
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSizePolicy, QSlider, QVBoxLayout, QWidget

from ..thumbnails import pil_to_qimage

HEAT_STOPS = ((0.267, 0.005, 0.329), (0.229, 0.322, 0.546), (0.128, 0.567, 0.551), (0.369, 0.789, 0.383),
              (0.993, 0.906, 0.144))  # = core.analysis.activation.heat_colours (that module imports PIL only)


def heat_rgb(norm: np.ndarray) -> np.ndarray:
    """(...,) in [0, 1] -> (..., 3) uint8 on the dark-blue -> yellow ramp of the map's colouring."""
    stops = np.array(HEAT_STOPS)
    x = np.clip(np.asarray(norm, np.float64), 0, 1) * (len(stops) - 1)
    i = np.minimum(x.astype(int), len(stops) - 2)
    f = (x - i)[..., None]
    return np.round((stops[i] * (1 - f) + stops[i + 1] * f) * 255).astype(np.uint8)


def fit_rect(size: tuple[int, int], area: QRectF) -> QRectF:
    """The largest rectangle of `size`'s aspect ratio centred in `area`."""
    w, h = size
    scale = min(area.width() / max(w, 1), area.height() / max(h, 1))
    return QRectF(area.center().x() - w * scale / 2, area.center().y() - h * scale / 2, w * scale, h * scale)


class _Canvas(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.image: QImage | None = None
        self.heat: QImage | None = None
        self.box = (0, 0, 0, 0)
        self.opacity = 0.55
        self.show_heat = True
        self.setMinimumSize(80, 80)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(320, 240)

    def image_rect(self) -> QRectF:
        """Where the image is drawn: its own aspect ratio, as large as the widget allows."""
        if self.image is None:
            return QRectF()
        return fit_rect((self.image.width(), self.image.height()), QRectF(self.rect()).adjusted(2, 2, -2, -2))

    def paintEvent(self, event):
        if self.image is None:
            return
        p = QPainter(self)
        target = self.image_rect()
        tiny = target.width() >= 4 * self.image.width()
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, not tiny)  # 8x8 digits: crisp pixels
        p.drawImage(target, self.image)
        if not self.show_heat or self.heat is None:
            p.end()
            return
        sx, sy = target.width() / self.image.width(), target.height() / self.image.height()
        left, top, right, bottom = self.box
        seen = QRectF(target.left() + left * sx, target.top() + top * sy, (right - left) * sx, (bottom - top) * sy)
        dim = QColor(0, 0, 0, 110)  # the network never saw what the centre crop cut away
        for r in (QRectF(target.left(), target.top(), target.width(), seen.top() - target.top()),
                  QRectF(target.left(), seen.bottom(), target.width(), target.bottom() - seen.bottom()),
                  QRectF(target.left(), seen.top(), seen.left() - target.left(), seen.height()),
                  QRectF(seen.right(), seen.top(), target.right() - seen.right(), seen.height())):
            if r.width() > 0 and r.height() > 0:
                p.fillRect(r, dim)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)  # bilinear over the units
        p.setOpacity(self.opacity)
        p.drawImage(seen, self.heat)
        p.end()


class _ColourScale(QWidget):
    """The ramp with the map's lowest and highest values at its ends."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.low = QLabel()
        self.high = QLabel()
        self.bar = QLabel()
        self.bar.setFixedHeight(12)
        self.bar.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.low)
        lay.addWidget(self.bar, 1)
        lay.addWidget(self.high)

    def set_range(self, lo: float, hi: float) -> None:
        self.low.setText(f"{lo:.3g}")
        self.high.setText(f"{hi:.3g}")
        pix = QPixmap(256, 12)
        p = QPainter(pix)
        gradient = QLinearGradient(0, 0, 256, 0)
        for i, rgb in enumerate(HEAT_STOPS):
            gradient.setColorAt(i / (len(HEAT_STOPS) - 1), QColor.fromRgbF(*rgb))
        p.fillRect(0, 0, 256, 12, gradient)
        p.end()
        self.bar.setPixmap(pix)
        self.bar.setScaledContents(True)


class OverlayView(QWidget):
    """What the Neurons tab shows of one image and one channel. Speaks like a QLabel for messages
    (setText, clear), and `show_map` for a map."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.canvas = _Canvas()
        self.message = QLabel(alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.message.setStyleSheet("color: #555;")
        self.caption = QLabel(wordWrap=True)
        self.caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.scale = _ColourScale()
        self.show_box = QCheckBox("Map")
        self.show_box.setChecked(True)
        self.show_box.setToolTip("Show the activation map over the image (off: the image alone)")
        self.opacity = QSlider(Qt.Orientation.Horizontal, minimum=10, maximum=100, value=55)
        self.opacity.setToolTip("Opacity of the map over the image")
        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(self.show_box)
        controls.addWidget(self.opacity, 1)
        self.details = QWidget()
        dl = QVBoxLayout(self.details)
        dl.setContentsMargins(0, 0, 0, 0)
        dl.addWidget(self.caption)
        dl.addWidget(self.scale)
        dl.addLayout(controls)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.message)
        lay.addWidget(self.canvas, 1)
        lay.addWidget(self.details)
        self.show_box.toggled.connect(self._toggled)
        self.opacity.valueChanged.connect(self._opacity)
        self.value_range: tuple[float, float] | None = None
        self.clear()

    # --- like a QLabel -------------------------------------------------------------------------
    def setText(self, text: str) -> None:
        self.canvas.image = self.canvas.heat = None
        self.value_range = None
        self.canvas.hide()
        self.details.hide()
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def text(self) -> str:
        return self.message.text()

    def clear(self) -> None:
        self.setText("")

    def has_map(self) -> bool:
        return self.canvas.image is not None

    # --- a map ---------------------------------------------------------------------------------
    def show_map(self, image, channel_map: np.ndarray, box: tuple[int, int, int, int], caption: str) -> None:
        """`image` (PIL), `channel_map` (h, w) float, `box` the part of the image the map covers."""
        m = np.asarray(channel_map, np.float32)
        lo, hi = float(m.min()), float(m.max())
        norm = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
        rgb = np.ascontiguousarray(heat_rgb(norm))
        heat = QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], QImage.Format.Format_RGB888).copy()
        self.canvas.image = pil_to_qimage(image.convert("RGB"))
        self.canvas.heat = heat
        self.canvas.box = tuple(int(v) for v in box)
        self.value_range = (lo, hi)
        self.scale.set_range(lo, hi)
        self.caption.setText(caption + ("" if hi > lo else " · the map is flat (one value everywhere)"))
        self.message.hide()
        self.canvas.show()
        self.details.show()
        self.canvas.update()

    def _toggled(self, on: bool) -> None:
        self.canvas.show_heat = on
        self.opacity.setEnabled(on)
        self.scale.setVisible(on)
        self.canvas.update()

    def _opacity(self, value: int) -> None:
        self.canvas.opacity = value / 100
        self.canvas.update()


def overlay_caption(channel: int, layer: str, name: str) -> str:
    """What the map shows: which channel of which layer, in which image, and what the colours measure."""
    return (f"Channel {channel} of {layer} in {name}: each unit's activation (the layer's output) over the "
            "part of the image the network saw, lowest to highest in this image")
