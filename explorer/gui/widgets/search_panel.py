"""Search the file names: matches ringed on the map, counted and listed; a listed match selects it.

The matching is core's (analysis.metadata.search_paths); this panel only types, shows the count or
the one-line error, and lists the matches. Up to SYNC_LIMIT images are searched at once (~30 ms);
a bigger run is searched in the analysis lane (1M paths: ~0.6 s) so typing never stalls the window.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QLabel, QLineEdit, QListWidgetItem,
                               QPushButton, QVBoxLayout, QWidget)

from ...core.analysis.metadata import MetadataError, compile_pattern, file_name, search_paths
from ..bridge import SessionBridge
from ..jobs import JobRunner
from .compact_list import CompactList

LIST_LIMIT = 1000  # names listed; the map rings every match
SYNC_LIMIT = 50_000  # runs up to this size are searched on the spot, bigger ones in the analysis lane


class SearchPanel(QWidget):
    searched = Signal()  # a search finished (tests wait on it)

    def __init__(self, bridge: SessionBridge, jobs: JobRunner, parent=None):
        super().__init__(parent)
        self.bridge, self.jobs = bridge, jobs
        self.session = bridge.session
        self.query = QLineEdit(placeholderText="Search file names…", clearButtonEnabled=True)
        self.regex = QCheckBox("regex")
        self.regex.setToolTip("A Python regular expression, found anywhere in the name (^ anchors at its start)")
        self.whole_path = QCheckBox("path")
        self.whole_path.setToolTip("Search the path under the dataset folder (class folders included), "
                                   "not only the file name")
        self.message = QLabel(wordWrap=True)  # the count, or why the search cannot run
        self.select_all = QPushButton("Select all")
        self.select_all.setToolTip("Select the matches (with the map's selection mode: replace, add, …)")
        self.list = CompactList()
        self.list.setUniformItemSizes(True)

        row = QHBoxLayout()  # narrow rows: the dock may be 200 px wide
        row.addWidget(self.regex)
        row.addWidget(self.whole_path)
        row.addStretch(1)
        count_row = QHBoxLayout()
        count_row.addWidget(self.message, 1)
        count_row.addWidget(self.select_all)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.query)
        lay.addLayout(row)
        lay.addLayout(count_row)
        lay.addWidget(self.list, 1)

        self._timer = QTimer(self, singleShot=True, interval=200)  # search once typing pauses
        self._timer.timeout.connect(self.apply)
        self.query.textChanged.connect(lambda _: self._timer.start())
        self.query.returnPressed.connect(self.apply)
        self.regex.toggled.connect(lambda _: self.apply())
        self.whole_path.toggled.connect(lambda _: self.apply())
        self.select_all.clicked.connect(self._select_all)
        self.list.itemClicked.connect(self._clicked)
        self.list.itemActivated.connect(self._clicked)
        bridge.run_changed.connect(self.apply)
        bridge.matches_changed.connect(self._show)
        self._error = ""
        self._show()

    def apply(self):
        """Run the search typed now (also when a new run arrives: its paths may differ)."""
        self._timer.stop()
        s, query, regex, whole = self.session, self.query.text().strip(), self.regex.isChecked(), \
            self.whole_path.isChecked()
        self._error = ""
        try:
            if regex and query:
                compile_pattern(query)  # a bad pattern is said at once, whatever the run's size
        except MetadataError as e:
            self._error = str(e)
            s.update(search=query, matches=None)
            self._show()
            self.searched.emit()
            return
        run = s.run
        if run is None or not query or len(run.rows) <= SYNC_LIMIT:
            s.set_search(query, regex=regex, whole_path=whole)
            self._show()
            self.searched.emit()
            return
        self.message.setStyleSheet("color: #444;")
        self.message.setText("Searching…")

        def found(matches):
            if run is s.run and (query, regex, whole) == (self.query.text().strip(), self.regex.isChecked(),
                                                           self.whole_path.isChecked()):
                s.update(search=query, matches=matches)
                self._show()
                self.searched.emit()

        self.jobs.analysis.start("Searching file names", lambda: search_paths([r.path for r in run.rows], query,
                                                                              regex=regex, whole_path=whole),
                                 found, key="search")

    def _show(self):
        s = self.session
        matches = s.matches
        self.list.clear()
        self.select_all.setEnabled(matches is not None and len(matches) > 0)
        if self._error:
            self.message.setStyleSheet("color: #b00020;")
            self.message.setText(self._error)
            return
        self.message.setStyleSheet("color: #444;")
        if matches is None:
            self.message.setText("")
            return
        n = len(matches)
        self.message.setText(f"{n:,} match{'es' if n != 1 else ''}" + (f" (first {LIST_LIMIT:,} listed)"
                                                                         if n > LIST_LIMIT else ""))
        self.message.setToolTip("Matches are ringed in crimson on the map")
        rows = s.run.rows if s.run is not None else []
        for i in matches[:LIST_LIMIT]:
            i = int(i)
            item = QListWidgetItem(file_name(rows[i].path))
            item.setToolTip(s.describe(i))
            item.setData(Qt.ItemDataRole.UserRole, i)
            self.list.addItem(item)

    def _clicked(self, item: QListWidgetItem):
        self.session.select([int(item.data(Qt.ItemDataRole.UserRole))], focus=True)

    def _select_all(self):
        if self.session.matches is not None:
            self.session.select(self.session.matches.tolist(), mode=self.session.selection_mode)
