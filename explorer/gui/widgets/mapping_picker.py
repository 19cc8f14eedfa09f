"""The settings of the 'Right / wrong' colouring: which mapping CSV says what each label means, and a
button that selects the misclassified images (the map's 'misclassified only')."""

from __future__ import annotations

import os

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget


class MappingPicker(QWidget):
    changed = Signal()  # another mapping CSV was chosen (or cleared)

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.path: str | None = None
        self.choose = QPushButton("Mapping…")
        self.choose.setToolTip("A CSV of label,class rows (a class index, several joined by ';', a WordNet id or "
                               "a class name) saying which of the model's classes each folder label means; without "
                               "one, labels are matched by WordNet id, class name or synonym")
        self.clear = QPushButton("Auto")
        self.clear.setToolTip("Match labels to classes by WordNet id, class name or synonym")
        self.file = QLabel("labels matched by WordNet id, name or synonym", wordWrap=True)
        self.file.setMinimumWidth(40)
        self.select_wrong = QPushButton("Select wrong")
        self.select_wrong.setToolTip("Select the images whose top-1 class is wrong for their label")
        lay = QVBoxLayout(self)  # narrow rows: the dock may be 200 px wide
        lay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(self.choose)
        row.addWidget(self.clear)
        row.addStretch(1)
        lay.addLayout(row)
        lay.addWidget(self.file)
        row = QHBoxLayout()
        row.addWidget(self.select_wrong)
        row.addStretch(1)
        lay.addLayout(row)
        self.choose.clicked.connect(self._choose)
        self.clear.clicked.connect(lambda: self.set_path(None))
        self.select_wrong.clicked.connect(self.select_misclassified)

    def _choose(self):
        path, _ = QFileDialog.getOpenFileName(self, "Mapping CSV (label,class per row)", "",
                                              "CSV (*.csv *.txt);;All files (*)")
        if path:
            self.set_path(path)

    def set_path(self, path: str | None, *, quiet: bool = False) -> None:
        self.path = path or None
        self.file.setText(f"mapping: {os.path.basename(path)}" if path else
                          "labels matched by WordNet id, name or synonym")
        if not quiet:
            self.changed.emit()

    def misclassified(self) -> np.ndarray:
        """Rows coloured 'wrong' by the right/wrong colouring on the map (empty when it is not shown)."""
        c = self.session.colour_by
        if c is None or c.spec.get("by") != "prediction" or c.spec.get("what") != "correct":
            return np.zeros(0, np.int64)
        return np.flatnonzero(np.asarray(c.codes) == 1)

    def select_misclassified(self) -> None:
        self.session.select(self.misclassified().tolist())
