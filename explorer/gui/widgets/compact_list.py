"""A list that asks for little room: in a narrow, scrolling dock it takes what is left, not 192 px."""

from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtWidgets import QListWidget


class CompactList(QListWidget):
    def sizeHint(self) -> QSize:
        return QSize(120, 72)
