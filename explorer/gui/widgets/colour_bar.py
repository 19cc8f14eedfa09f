"""A horizontal colour scale with the values its ends stand for (the app's heat ramp)."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QLinearGradient, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget


class ColourBar(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.low, self.high, self.unit = 0.0, 1.0, ""
        self.setMinimumHeight(34)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.hide()

    def set_range(self, low: float, high: float, unit: str = "") -> None:
        self.low, self.high, self.unit = float(low), float(high), unit
        self.show()
        self.update()

    def labels(self) -> tuple[str, str, str]:
        return f"{self.low:.3g}", self.unit, f"{self.high:.3g}"

    def paintEvent(self, _event):
        from ...core.analysis.activation import heat_colours

        p = QPainter(self)
        bar = QRectF(4, 2, max(1, self.width() - 8), 12)
        gradient = QLinearGradient(bar.topLeft(), bar.topRight())
        for t in (0.0, 0.25, 0.5, 0.75, 1.0):
            r, g, b = (heat_colours([t])[0] * 255).round().astype(int)
            gradient.setColorAt(t, QColor(int(r), int(g), int(b)))
        p.fillRect(bar, gradient)
        low, unit, high = self.labels()
        text = QRectF(4, 15, bar.width(), 18)
        p.setPen(self.palette().windowText().color())
        p.drawText(text, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, low)
        p.drawText(text, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter, unit)
        p.drawText(text, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, high)
        p.end()
