"""The settings of the 'Right / wrong' colouring: which mapping CSV says what each label means, a
button that selects the misclassified images (the map's 'misclassified only'), and the most confused
(label -> predicted class) pairs, a click on one selecting its images. The pairs are found in the
analysis lane (core.analysis.accuracy.confused_images)."""

from __future__ import annotations

import os

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QFileDialog, QHBoxLayout, QLabel, QListWidgetItem, QPushButton,
                               QToolButton, QVBoxLayout, QWidget)

from .compact_list import CompactList


class MappingPicker(QWidget):
    changed = Signal()  # another mapping CSV was chosen (or cleared)

    pairs_shown = Signal()  # the confused pairs of the colouring on the map are listed (tests wait on it)

    def __init__(self, bridge, jobs, parent=None):
        super().__init__(parent)
        self.session = bridge.session
        self.jobs = jobs
        self.path: str | None = None
        self.choose = QPushButton("Mapping…")
        self.choose.setToolTip("A CSV of label,class rows (a class index, several joined by ';', a WordNet id or "
                               "a class name) saying which of the model's classes each folder label means; without "
                               "one, labels are matched by WordNet id, class name or synonym")
        self.clear = QToolButton(text="×")  # narrow: the dock may be 200 px wide
        self.clear.setToolTip("No mapping CSV: match labels to classes by WordNet id, class name or synonym")
        self.file = QLabel("labels matched by WordNet id, name or synonym", wordWrap=True)
        self.file.setMinimumWidth(40)
        self.select_wrong = QPushButton("Select wrong")
        self.select_wrong.setToolTip("Select the images whose top-1 class is wrong for their label")
        self.only_wrong = QCheckBox("Misclassified only")
        self.only_wrong.setToolTip("Draw only the images whose top-1 class is wrong for their label")
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
        lay.addWidget(self.only_wrong)
        self.pairs_title = QLabel("Most confused (click: select):")
        self.pairs = CompactList()
        self.pairs.setToolTip("Label → the class predicted instead (images); a click selects them")
        lay.addWidget(self.pairs_title)
        lay.addWidget(self.pairs)
        self.pairs_title.hide()
        self.pairs.hide()
        self.choose.clicked.connect(self._choose)
        self.clear.clicked.connect(lambda: self.set_path(None))
        self.select_wrong.clicked.connect(self.select_misclassified)
        self.only_wrong.toggled.connect(self._filter)
        self.pairs.itemClicked.connect(lambda item: self.session.select(item.data(Qt.ItemDataRole.UserRole)))
        bridge.colour_changed.connect(self._colouring_changed)
        bridge.run_changed.connect(self._colouring_changed)

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

    def _filter(self, on: bool) -> None:
        from ...core.session import RowFilter

        wrong = self.misclassified()
        if on and self.session.run is not None and len(wrong):
            mask = np.zeros(len(self.session.run), bool)
            mask[wrong] = True
            self.session.row_filter = RowFilter(mask, "misclassified only")
        else:
            self.session.row_filter = None

    def _colouring_changed(self):
        if self.only_wrong.isChecked():  # the filter belongs to the right/wrong colouring it came from
            self.only_wrong.setChecked(False)
        self.pairs.clear()
        self.pairs.hide()
        self.pairs_title.hide()
        c, run = self.session.colour_by, self.session.run
        if run is None or c is None or c.spec.get("by") != "prediction" or c.spec.get("what") != "correct":
            return
        from ...core.analysis.accuracy import confused_images

        mapping = c.spec.get("mapping")

        def shown(pairs):
            if self.session.colour_by is not c:
                return  # another colouring since
            for p in pairs:
                item = QListWidgetItem(f"{p['label']} → {p['name']}  ({p['count']:,})")
                item.setData(Qt.ItemDataRole.UserRole, p["indices"])
                self.pairs.addItem(item)
            self.pairs.setVisible(bool(pairs))
            self.pairs_title.setVisible(bool(pairs))
            self.pairs_shown.emit()

        self.jobs.analysis.start("Finding the most confused pairs", lambda: confused_images(run, mapping, limit=20),
                                 shown, key="confused-pairs")
