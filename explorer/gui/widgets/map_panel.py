"""The Map dock: search the file names, colour by metadata, named selections (one box each)."""

from __future__ import annotations

from PySide6.QtWidgets import QGroupBox, QVBoxLayout, QWidget

from ..bridge import SessionBridge
from ..jobs import JobRunner
from .colour_panel import ColourPanel
from .search_panel import SearchPanel
from .selections_panel import SelectionsPanel


class MapPanel(QWidget):
    def __init__(self, bridge: SessionBridge, jobs: JobRunner, parent=None):
        super().__init__(parent)
        self.search = SearchPanel(bridge)
        self.colour = ColourPanel(bridge, jobs)
        self.selections = SelectionsPanel(bridge)
        lay = QVBoxLayout(self)
        for title, widget, stretch in (("Search", self.search, 2), ("Colour by", self.colour, 2),
                                       ("Named selections", self.selections, 1)):
            box = QGroupBox(title)
            QVBoxLayout(box).addWidget(widget)
            lay.addWidget(box, stretch)
