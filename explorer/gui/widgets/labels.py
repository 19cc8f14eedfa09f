"""Labels that never cut their text off in a narrow dock."""

from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtWidgets import QLabel, QSizePolicy


class WrappedLabel(QLabel):
    """A label that wraps rather than being cut off in a narrow dock, and lets the dock shrink.

    Its minimum height follows its width: splitters, form layouts and scroll areas ask for minimum
    sizes, not height-for-width, so without this a short pane squeezes a wrapped label into one line.
    """

    def __init__(self, text: str = "", parent=None):
        super().__init__(text, parent)
        self.setWordWrap(True)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setMinimumWidth(40)

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        return QSize(hint.width(), max(self.minimumHeight(), 1))  # exactly the lines it wraps to

    def setText(self, text: str) -> None:
        super().setText(text)
        self._fit()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        need = self.heightForWidth(self.width()) if self.text() else 0
        if need >= 0 and need != self.minimumHeight():
            self.setMinimumHeight(need)
