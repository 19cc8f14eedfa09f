"""Colour the map by metadata: the label, a regular-expression group of the file name, or a CSV column.

The colourings are core's (analysis.metadata), computed in the analysis lane; bad input (a regex
without a group, a CSV row with too many fields …) is one line in this panel, never a banner.
"""

from __future__ import annotations

import os

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QListWidgetItem, QPushButton, QSpinBox, QStackedWidget, QVBoxLayout,
                               QWidget)

from ...core.analysis import metadata
from ...core.errors import ExplorerError
from ..bridge import SessionBridge
from .compact_list import CompactList
from ..jobs import JobRunner
from .controls import swatch
from .mapping_picker import MappingPicker

LEGEND_LIMIT = 200


def _compute(spec: dict, run):
    """In the lane: (Colouring or None, error message or '')."""
    paths = [r.path for r in run.rows]
    try:
        if spec.get("by") == "prediction":  # the run's stored predictions (issue 12)
            from ...core.analysis.prediction_colours import colour_by_prediction

            return colour_by_prediction(run, spec.get("what", "class"), spec.get("mapping")), ""
        return metadata.colouring_from_spec(spec, paths, None, getattr(run, "dataset_root", None)), ""
    except (metadata.MetadataError, ExplorerError) as e:
        return None, str(e)


class ColourPanel(QWidget):
    coloured = Signal()  # a colouring was applied or refused (tests wait on it)

    def __init__(self, bridge: SessionBridge, jobs: JobRunner, parent=None):
        super().__init__(parent)
        self.bridge, self.jobs = bridge, jobs
        self.session = bridge.session
        self.by = QComboBox()
        self.by.addItem("Label", "label")
        self.by.addItem("File-name regex", "regex")
        self.by.addItem("CSV column", "csv")
        for what, text in (("class", "Predicted class"), ("confidence", "Confidence"), ("entropy", "Entropy"),
                           ("correct", "Right / wrong")):
            self.by.addItem(text, f"prediction:{what}")  # the model's stored predictions (issue 12)
        self.by.setToolTip("Label: the class folder; File-name regex: the text a group of a regular expression "
                           "captures in each file name; CSV column: a column of your CSV (path, values…)")
        self.pattern = QLineEdit(r"^([A-Za-z]+)_")
        self.pattern.setToolTip("A regular expression; the text its group captures is the category, "
                                "e.g. ^([a-z]+)_ takes the file-name prefix before the first _")
        self.group = QSpinBox(minimum=0, maximum=20, value=1, toolTip="Which group (0: the whole match)")
        self.whole_path = QCheckBox("path")
        self.whole_path.setToolTip("Match the path under the dataset folder, not only the file name")
        self.csv_button = QPushButton("Choose CSV…")
        self.csv_label = QLabel(wordWrap=True)
        self.column = QComboBox()
        self.apply_button = QPushButton("Colour")
        self.message = QLabel(wordWrap=True)
        self.legend = CompactList()

        self.pattern.setMinimumWidth(60)
        regex_page = QWidget()  # narrow rows: the dock may be 200 px wide
        rl = QVBoxLayout(regex_page)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.pattern)
        row = QHBoxLayout()
        row.addWidget(QLabel("group"))
        row.addWidget(self.group)
        row.addWidget(self.whole_path)
        row.addStretch(1)
        rl.addLayout(row)
        csv_page = QWidget()
        cl = QFormLayout(csv_page)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.csv_label.setMinimumWidth(40)
        self.column.setMinimumContentsLength(6)
        self.column.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        cl.addRow(self.csv_button, self.csv_label)
        cl.addRow("Column", self.column)
        self.pages = QStackedWidget()
        self.pages.addWidget(QWidget())
        self.pages.addWidget(regex_page)
        self.pages.addWidget(csv_page)
        for _ in range(3):  # the prediction colourings need no settings, but right/wrong its mapping
            self.pages.addWidget(QWidget())
        self.mapping = MappingPicker(bridge, jobs)
        self.pages.addWidget(self.mapping)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.by)
        lay.addWidget(self.pages)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.apply_button)
        lay.addLayout(row)
        lay.addWidget(self.message)
        lay.addWidget(self.legend, 1)

        self._csv: str = ""
        self.by.currentIndexChanged.connect(self._by_changed)
        self.apply_button.clicked.connect(self.apply)
        self.pattern.returnPressed.connect(self.apply)
        self.csv_button.clicked.connect(self.choose_csv)
        self.mapping.changed.connect(self.apply)
        self.column.activated.connect(lambda _: self.apply())  # another column: colour by it at once
        bridge.colour_changed.connect(self._show)
        bridge.run_changed.connect(self._show)
        self._by_changed()
        self._show()

    # --- what the user asks for -----------------------------------------------------------------
    def spec(self) -> dict:
        by = self.by.currentData()
        if by == "regex":
            return {"by": "regex", "pattern": self.pattern.text(), "group": self.group.value(),
                    "whole_path": self.whole_path.isChecked()}
        if by == "csv":
            return {"by": "csv", "file": self._csv, "column": self.column.currentText() or None}
        if by.startswith("prediction:"):
            what = by.split(":", 1)[1]
            return {"by": "prediction", "what": what, "mapping": self.mapping.path if what == "correct" else None}
        return {"by": "label"}

    def _by_changed(self, *_):
        self.pages.setCurrentIndex(self.by.currentIndex())
        if self.by.currentData() == "label" or self.by.currentData().startswith("prediction:"):
            self.apply()

    def choose_csv(self):
        path, _ = QFileDialog.getOpenFileName(self, "CSV of metadata (a path column and value columns)", "",
                                              "CSV (*.csv *.tsv *.txt);;All files (*)")
        if path and self.set_csv(path):
            self.by.setCurrentIndex(self.by.findData("csv"))
            self.apply()

    def set_csv(self, path: str) -> bool:
        """Read the CSV's header for its columns; a bad file is said here."""
        self._csv = path
        self.csv_label.setText(os.path.basename(path))
        self.column.clear()
        try:
            table = metadata.read_metadata_csv(path)
        except metadata.MetadataError as e:
            self._say(str(e), error=True)
            return False
        self.column.addItems(table.columns)
        self._say(f"{len(table.rows):,} rows; columns: {', '.join(table.columns)}")
        return True

    def apply(self, spec: dict | None = None):
        """Colour by `spec` (default: what the panel shows), computed in the analysis lane."""
        spec = spec or self.spec()
        run = self.session.run
        if spec.get("by") == "label" or run is None:
            self.session.set_colour_by(None)
            self.coloured.emit()
            return
        if spec.get("by") == "csv" and not spec.get("file"):
            self._say("Choose a CSV file first: a header with a path column (paths relative to the dataset "
                      "folder, or absolute) and one or more value columns.", error=True)
            self.coloured.emit()
            return
        self._say("Colouring…")

        def done(out):
            colouring, error = out
            if run is not self.session.run:
                return
            if error:
                self._say(error, error=True)
            else:
                self.session.set_colour_by(colouring)
            self.coloured.emit()

        self.jobs.analysis.start("Colouring the map", lambda: _compute(spec, run), done, key="colour-by")

    # --- what is shown --------------------------------------------------------------------------
    def _show_spec(self, spec: dict):
        """The controls show the colouring on the map (also one restored from a session file)."""
        widgets = (self.by, self.pattern, self.group, self.whole_path, self.column)
        for w in widgets:
            w.blockSignals(True)
        by = spec.get("by", "label")
        by = f"prediction:{spec.get('what')}" if by == "prediction" else by
        if by == "prediction:correct":
            self.mapping.set_path(spec.get("mapping"), quiet=True)
        self.by.setCurrentIndex(max(0, self.by.findData(by)))
        self.pages.setCurrentIndex(self.by.currentIndex())
        if spec.get("by") == "regex":
            self.pattern.setText(str(spec.get("pattern", "")))
            group = spec.get("group", 1)
            self.group.setValue(group if isinstance(group, int) else 1)
            self.whole_path.setChecked(bool(spec.get("whole_path")))
        elif spec.get("by") == "csv" and spec.get("file") != self._csv:
            self._csv = str(spec.get("file", ""))
            self.csv_label.setText(os.path.basename(self._csv))
            self.column.clear()
            self.column.addItem(str(spec.get("column") or ""))
        for w in widgets:
            w.blockSignals(False)

    def _say(self, text: str, *, error: bool = False):
        self.message.setStyleSheet("color: #b00020;" if error else "color: #444;")
        self.message.setText(text)

    def _show(self):
        c = self.session.colour_by
        self.legend.clear()
        if self.session.colour_channel is not None:
            self._say(f"Coloured by channel {self.session.colour_channel} (Neurons tab)")
            return
        self._show_spec({"by": "label"} if c is None else c.spec)
        if c is None:
            if not self.message.styleSheet().startswith("color: #b00020"):
                self._say("Coloured by label: see Classes in the Controls panel.")
            return
        kind = "numbers: a ramp from low to high" if c.numeric else f"{len(c.legend) - (c.missing > 0)} categories"
        notes = "".join(f"<br>{n}" for n in c.notes)
        self._say(f"Coloured by {c.title}: {kind}" + (f"; {c.missing:,} without a value (grey)" if c.missing else "")
                  + notes)
        for text, rgb, count in c.legend[:LEGEND_LIMIT]:
            self.legend.addItem(QListWidgetItem(swatch(rgb), f"{text}  ({count:,})"))
        if len(c.legend) > LEGEND_LIMIT:
            self.legend.addItem(f"… {len(c.legend) - LEGEND_LIMIT:,} more")
