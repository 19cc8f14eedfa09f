"""A translucent cover over a view whose content is out of date, saying what is being computed.

It lies over its parent (the map), greys it, and swallows the mouse: a click on a stale map
must not select a point of the old run while a new one is being embedded.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QLabel, QWidget


class StaleCover(QLabel):
    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setAutoFillBackground(False)
        self.setStyleSheet("background: rgba(245, 245, 245, 200); color: #333; font-size: 15px;")
        self.setAttribute(Qt.WidgetAttribute.WA_NoMousePropagation)  # clicks stop here, never reach the map
        parent.installEventFilter(self)
        self.hide()

    def show_note(self, text: str) -> None:
        self.setText(text)
        self.setGeometry(self.parentWidget().rect())
        self.show()
        self.raise_()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.parentWidget() and event.type() == QEvent.Type.Resize:
            self.setGeometry(self.parentWidget().rect())
        return False

    def mousePressEvent(self, event):
        event.accept()

    def mouseReleaseEvent(self, event):
        event.accept()

    def mouseDoubleClickEvent(self, event):
        event.accept()

    def wheelEvent(self, event):
        event.accept()
