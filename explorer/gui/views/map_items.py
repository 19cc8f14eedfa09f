"""Parts of the map: the view box (pan, box and lasso), the polygon test, the hover card, the hover tree."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPainterPath
from PySide6.QtWidgets import QFrame, QGraphicsPathItem, QLabel, QVBoxLayout


class SelectViewBox(pg.ViewBox):
    """Drag pans; Shift+drag selects a box; Ctrl+drag draws a lasso."""

    region_selected = Signal(object, bool)  # polygon (m, 2) in data coords, add-to-selection

    def __init__(self):
        super().__init__(enableMenu=False)
        self._drag: list[QPointF] = []
        self._outline = QGraphicsPathItem()
        self._outline.setPen(pg.mkPen((20, 20, 20), width=1.5, style=Qt.PenStyle.DashLine, cosmetic=True))
        self._outline.setBrush(QBrush(QColor(30, 120, 220, 40)))
        self._outline.setZValue(10)
        self._outline.hide()
        self.addItem(self._outline, ignoreBounds=True)

    def mouseDragEvent(self, ev, axis=None):
        mods = ev.modifiers()
        box = bool(mods & Qt.KeyboardModifier.ShiftModifier)
        lasso = bool(mods & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.MetaModifier))
        if ev.button() != Qt.MouseButton.LeftButton or not (box or lasso):
            return super().mouseDragEvent(ev, axis)
        ev.accept()
        if ev.isStart():
            self._drag = [self.mapSceneToView(ev.buttonDownScenePos())]
        pos = self.mapSceneToView(ev.scenePos())
        if box:
            a = self._drag[0]
            self._drag = [a, QPointF(pos.x(), a.y()), pos, QPointF(a.x(), pos.y())]
        else:
            self._drag.append(pos)
        path = QPainterPath(self._drag[0])
        for p in self._drag[1:]:
            path.lineTo(p)
        path.closeSubpath()
        self._outline.setPath(path)
        self._outline.show()
        if ev.isFinish():
            self._outline.hide()
            polygon = np.array([[p.x(), p.y()] for p in self._drag])
            self._drag = []
            self.region_selected.emit(polygon, bool(mods & Qt.KeyboardModifier.AltModifier))


def points_in_polygon(xy: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """(n,) bool, even-odd rule, vectorised over points."""
    x, y = xy[:, 0], xy[:, 1]
    inside = np.zeros(len(xy), bool)
    px, py = polygon[:, 0], polygon[:, 1]
    j = len(polygon) - 1
    for i in range(len(polygon)):
        xi, yi, xj, yj = px[i], py[i], px[j], py[j]
        crosses = (yi > y) != (yj > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_cross = (xj - xi) * (y - yi) / (yj - yi) + xi
        inside ^= crosses & (x < x_cross)
        j = i
    return inside


class HoverCard(QFrame):
    """The hover tooltip: thumbnail, file name and label, drawn over the plot near the cursor."""

    def __init__(self, parent):
        super().__init__(parent)
        self.setObjectName("HoverCard")
        # opaque: points under a translucent card read as part of it
        self.setStyleSheet("#HoverCard { background: #ffffff; border: 1px solid #999; }")
        self.setAutoFillBackground(True)
        # the pointer is never "on" the card: hovering and clicking go on to the map under it
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.image = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.text = QLabel()
        self.text.setStyleSheet("color: #222;")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.image)
        lay.addWidget(self.text)
        self.index = -1
        self.hide()


def build_hover_tree(layout: np.ndarray, visible: np.ndarray):
    """(k-d tree over the visible points or None, (m,) their item indices)."""
    from scipy.spatial import cKDTree

    index = np.flatnonzero(visible)
    return (cKDTree(layout[index]) if len(index) else None), index
