"""A light scatter item: one pre-rendered disc per class, drawn as pixmap fragments.

pyqtgraph's ScatterPlotItem keeps per-point Python bookkeeping (brushes, spot
items) that costs ~3 µs a point on every setData. Here setting points is a numpy
copy, and painting is one drawPixmapFragments call, so tens of thousands of points
redraw in a few milliseconds.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from pyqtgraph import functions as fn
from pyqtgraph.Qt import internals
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap


class PointCloud(pg.GraphicsObject):
    def __init__(self, size: int = 7, ring: bool = False):
        super().__init__()
        self.size = size
        self.ring = ring  # draw circles (search matches), not filled dots
        self._xy = np.zeros((0, 2))
        self._codes = np.zeros(0, np.int64)
        self._atlas: QPixmap | None = None
        self._dpr = 1.0
        self._colours: list[tuple[int, int, int, int]] = []
        self._rect = QRectF()
        self._fragments = internals.PrimitiveArray(QPainter.PixmapFragment, 10)

    def set_colours(self, colours: list[tuple[int, int, int, int]]) -> None:
        self._colours = list(colours)
        self._atlas = None
        self.update()

    def set_size(self, size: int) -> None:
        if size != self.size:
            self.prepareGeometryChange()
            self.size = int(size)
            self._atlas = None
            self.update()

    def set_points(self, xy: np.ndarray, codes: np.ndarray) -> None:
        """xy: (n, 2) data coordinates; codes: (n,) index into the colours."""
        self.prepareGeometryChange()
        self._xy = np.asarray(xy, np.float64)
        self._codes = np.asarray(codes, np.int64)
        if len(self._xy):
            lo, hi = self._xy.min(0), self._xy.max(0)
            self._rect = QRectF(float(lo[0]), float(lo[1]), float(hi[0] - lo[0]) or 1e-9, float(hi[1] - lo[1]) or 1e-9)
        else:
            self._rect = QRectF()
        self.update()

    def __len__(self) -> int:
        return len(self._xy)

    def clear(self) -> None:
        self.set_points(np.zeros((0, 2)), np.zeros(0, np.int64))

    def boundingRect(self) -> QRectF:
        """The centres' extent grown by a dot's radius (in data units at the current zoom): without it
        the scene clips and leaves unrepainted the outer halves of the dots at the edges."""
        if self._rect.isNull():
            return QRectF()
        px, py = self.pixelVectors()  # one screen pixel along x and y, in data units
        try:
            wx = 0.0 if px is None else px.length()
            wy = 0.0 if py is None else py.length()
        except OverflowError:
            wx = wy = 0.0
        pad = self.size / 2 + 1.5  # radius plus the white rim and antialiasing
        return self._rect.adjusted(-wx * pad, -wy * pad, wx * pad, wy * pad)

    def viewTransformChanged(self):
        self.prepareGeometryChange()  # the padding is in pixels: it changes with the zoom
        super().viewTransformChanged()

    def _build_atlas(self, dpr: float) -> None:
        cell = int(np.ceil((self.size + 2) * dpr))
        pix = QPixmap(cell * max(1, len(self._colours)), cell)
        pix.fill(Qt.GlobalColor.transparent)
        p = QPainter(pix)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(QPen(QColor(255, 255, 255, 180), 0.8 * dpr))
        for i, rgba in enumerate(self._colours):
            if self.ring:
                p.setPen(QPen(QColor(*rgba), 2.2 * dpr))
                p.setBrush(Qt.BrushStyle.NoBrush)
            else:
                p.setBrush(QColor(*rgba))
            d = self.size * dpr
            p.drawEllipse(QRectF(i * cell + (cell - d) / 2, (cell - d) / 2, d, d))
        p.end()
        self._atlas, self._cell, self._dpr = pix, cell, dpr

    def paint(self, p: QPainter, *args):
        if not len(self._xy) or not self._colours:
            return
        widget = args[1] if len(args) > 1 else None
        dpr = widget.devicePixelRatioF() if widget is not None else 1.0
        if self._atlas is None or dpr != self._dpr:
            self._build_atlas(dpr)
        pts = fn.transformCoordinates(p.transform(), self._xy.T)
        pts = fn.clip_array(pts, -2 ** 30, 2 ** 30)
        p.resetTransform()
        n = pts.shape[1]
        self._fragments.resize(n)
        frags = self._fragments.ndarray()
        frags[:, 0:2] = pts.T
        frags[:, 2] = self._codes * self._cell
        frags[:, 3] = 0
        frags[:, 4:6] = self._cell
        frags[:, 6:10] = [1 / dpr, 1 / dpr, 0.0, 1.0]
        p.drawPixmapFragments(*self._fragments.drawargs(), self._atlas)
