"""The Map dock: search the file names, colour by metadata, named selections (one box each).

The boxes sit in a scroll area, so a short window scrolls the dock instead of growing past the screen."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QGroupBox, QScrollArea, QVBoxLayout, QWidget

from ..bridge import SessionBridge
from ..jobs import JobRunner
from .colour_panel import ColourPanel
from .search_panel import SearchPanel
from .selections_panel import SelectionsPanel


class _Fitting(QWidget):
    """Asks for no more than its minimum, so the scroll area fits it to the dock (lists share the rest)."""

    def sizeHint(self):
        return self.minimumSizeHint()


class MapPanel(QScrollArea):
    def __init__(self, bridge: SessionBridge, jobs: JobRunner, parent=None):
        super().__init__(parent)
        self.search = SearchPanel(bridge, jobs)
        self.colour = ColourPanel(bridge, jobs)
        self.selections = SelectionsPanel(bridge)
        inner = _Fitting()
        lay = QVBoxLayout(inner)
        lay.setContentsMargins(2, 2, 2, 2)
        for title, widget, stretch in (("Search", self.search, 2), ("Colour by", self.colour, 2),
                                       ("Named selections", self.selections, 1)):
            box = QGroupBox(title)
            box_lay = QVBoxLayout(box)
            box_lay.setContentsMargins(4, 4, 4, 4)
            box_lay.addWidget(widget)
            lay.addWidget(box, stretch)
        for w in (self.search.list, self.colour.legend, self.selections.list):
            w.setMinimumHeight(60)
        self.setWidget(inner)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # rows are made to fit 200 px
        self.setFrameShape(QFrame.Shape.NoFrame)
