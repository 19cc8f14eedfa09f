"""Probes: which layer separates the classes (accuracy vs depth, one line per classifier), possible label
errors and near duplicates of the run on the map.

The work is core's (analysis.layer_probe, probe, label_issues, duplicates). Probing the blocks embeds a
sample and fits dozens of classifiers (minutes), so it runs in the training lane, beside the maps and
apart from the analysis lane's quick jobs, with its progress and Cancel here; the lists use the
analysis lane. A click
on a point of the chart only emits `layer_chosen` (the main window switches the map through its
set_layer path); a row of the lists only sets the session's selection. Views never call each other.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDoubleSpinBox, QHBoxLayout, QHeaderView, QLabel,
                               QPushButton, QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from ..bridge import SessionBridge
from ..jobs import JobRunner

COLOURS = {"knn": (31, 119, 180), "logreg": (214, 39, 40), "svm": (44, 160, 44)}
NAMES = {"knn": "kNN (10)", "logreg": "logistic regression", "svm": "linear SVM"}
ISSUES, DUPLICATES = "Label errors", "Duplicates"


def common_prefix(names: list[str]) -> str:
    """The dotted prefix all names share ('blocks.' of blocks.0..blocks.6), so the ticks can be short."""
    parts = [n.split(".") for n in names]
    shared = []
    for level in zip(*parts):
        if len(set(level)) != 1:
            break
        shared.append(level[0])
    if len(names) < 2 or any(len(p) <= len(shared) for p in parts):
        return ""
    return ".".join(shared) + "." if shared else ""


class ProbeView(QWidget):
    layer_chosen = Signal(str)  # a point of the chart was clicked: show the map of that layer
    probed = Signal()  # the chart was drawn (tests wait on it)
    listed = Signal()  # a list was filled

    def __init__(self, bridge: SessionBridge, jobs: JobRunner, parent=None):
        super().__init__(parent)
        self.bridge, self.jobs, self.session = bridge, jobs, bridge.session
        self.results = []  # ProbeResults of the chart
        self.blocks: dict[str, str] = {}  # block name -> layer
        self.layers: list[str] = []
        self.rows: list[tuple[int, ...]] = []  # per list row, the run rows it selects
        self.probe_result = None  # the probe behind the label-error list (colours the map)
        self._probed_key = None

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        head = QLabel("<b>Which layer separates the classes?</b> 5-fold cross-validated probes on the "
                      "model's block outputs; click a point to map that layer.", wordWrap=True)
        lay.addWidget(head)
        row = QHBoxLayout()
        self.sample = QSpinBox(minimum=20, maximum=1_000_000, value=1000, singleStep=500, suffix=" images")
        self.sample.setToolTip("A stratified sample of the dataset is embedded once at every block")
        self.probe_button = QPushButton("Probe the blocks")
        self.probe_button.clicked.connect(self.probe_blocks)
        row.addWidget(self.sample)
        row.addWidget(self.probe_button)
        lay.addLayout(row)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMinimumHeight(160)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setLabel("left", "accuracy")
        self.plot.showGrid(y=True, alpha=0.2)
        self.plot.setYRange(0, 1)
        self.plot.getAxis("bottom").setTicks([[]])
        self.placeholder = pg.TextItem("accuracy vs depth\nappears here", color=(140, 140, 140), anchor=(0.5, 0.5))
        self.placeholder.setPos(0.5, 0.5)
        self.plot.setXRange(0, 1, padding=0)
        self.plot.addItem(self.placeholder)
        self.legend = self.plot.addLegend(offset=(-4, -4), labelTextSize="8pt")
        self.marker = pg.InfiniteLine(angle=90, pen=pg.mkPen((120, 120, 120), style=Qt.PenStyle.DashLine))
        self.marker.hide()
        self.plot.addItem(self.marker)
        lay.addWidget(self.plot, 2)
        self.chart_note = QLabel("", wordWrap=True)
        self.chart_note.setStyleSheet("color: #555;")
        lay.addWidget(self.chart_note)

        row = QHBoxLayout()
        self.kind = QComboBox()
        self.kind.addItems([ISSUES, DUPLICATES])
        self.kind.currentTextChanged.connect(self._kind_changed)
        self.threshold = QDoubleSpinBox(decimals=3, minimum=0.0, maximum=2.0, singleStep=0.005, value=0.01)
        self.threshold.setToolTip("Largest cosine distance (1 - cos) of a near-duplicate pair")
        self.threshold.hide()
        self.find_button = QPushButton("Find")
        self.find_button.clicked.connect(self.find)
        row.addWidget(self.kind, 1)
        row.addWidget(self.threshold)
        row.addWidget(self.find_button)
        lay.addLayout(row)
        self.table = QTableWidget(0, 3)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)  # rows show indices: paths are tooltips
        self.table.itemSelectionChanged.connect(self._rows_selected)
        lay.addWidget(self.table, 3)
        row = QVBoxLayout()  # stacked: the dock may be 200 px wide
        self.select_all = QPushButton("Select all listed on the map")
        self.select_all.clicked.connect(lambda: self.session.select(sorted({i for r in self.rows for i in r})))
        self.colour = QPushButton("Colour map: right / wrong")
        self.colour.setToolTip("Colour the map by whether the probe's out-of-fold prediction matches the label")
        self.colour.clicked.connect(lambda: self.colour_by_probe("right"))
        self.colour_class = QPushButton("Colour map: probe's class")
        self.colour_class.setToolTip("Colour the map by the class the probe predicts for each image, out of fold")
        self.colour_class.clicked.connect(lambda: self.colour_by_probe("class"))
        row.addWidget(self.select_all)
        row.addWidget(self.colour)
        row.addWidget(self.colour_class)
        lay.addLayout(row)
        self.list_note = QLabel("", wordWrap=True)
        self.list_note.setStyleSheet("color: #555;")
        lay.addWidget(self.list_note)
        self._enable()

        jobs.training.progressed.connect(self._progressed)
        bridge.run_changed.connect(self._run_changed)
        bridge.settings_changed.connect(self._settings_changed)

    # --- which layer ----------------------------------------------------------------------------
    def probe_blocks(self):
        s = self.session
        lane = self.jobs.training
        if lane.status("probe-layers").running:  # the button reads Cancel while probing
            lane.cancel("probe-layers")
            return
        if not s.dataset:
            return
        dataset, model, weights, sample = s.dataset, s.model, s.weights, self.sample.value()
        self._probed_key = (dataset, model, weights)
        self.chart_note.setText(f"Probing {model}'s blocks on {sample:,} images of {dataset}…")

        def work():
            from ...core.analysis.layer_probe import probe_dataset
            from ...core.analysis.probe import CLASSIFIERS

            return (yield from probe_dataset(dataset, model, weights=weights, blocks=True, classifiers=CLASSIFIERS,
                                             sample=sample, batch_size=None))

        def ended(text: str):
            self.chart_note.setText(text)
            self.probe_button.setText("Probe the blocks")

        self.probe_button.setText("Cancel")
        lane.start("Probing the layers", work(), self.show_probes, key="probe-layers", on_error=ended,
                   on_cancel=lambda: ended("Probing cancelled; embedded images are kept for the next try."))

    def _progressed(self, name: str, done: int, total: int, label: str):
        if name == "Probing the layers":
            self.chart_note.setText(f"Probing the blocks: {label}" + (f" ({done:,} / {total:,})" if total else ""))

    def show_probes(self, done) -> None:
        """Draw a LayerProbe (core.analysis.layer_probe): accuracy vs depth, one line per classifier."""
        self.probe_button.setText("Probe the blocks")
        self.results, self.layers = list(done.results), list(done.layers)
        self.blocks = {layer: block for block, layer in done.blocks.items()}
        for item in list(self.plot.listDataItems()):
            self.plot.removeItem(item)
        self.legend.clear()
        self.placeholder.setVisible(not self.results)
        x = {layer: i for i, layer in enumerate(self.layers)}
        for classifier in dict.fromkeys(r.classifier for r in self.results):
            rs = [r for r in self.results if r.classifier == classifier]
            colour = COLOURS.get(classifier, (90, 90, 90))
            item = pg.PlotDataItem([x[r.layer] for r in rs], [r.accuracy for r in rs], pen=pg.mkPen(colour, width=2),
                                   symbol="o", symbolSize=9, symbolBrush=colour, symbolPen="w",
                                   data=[r.layer for r in rs], name=NAMES.get(classifier, classifier))
            item.sigPointsClicked.connect(self._point_clicked)
            self.plot.addItem(item)
        names = [self.blocks.get(layer, layer) for layer in self.layers]
        prefix = common_prefix(names)
        self.plot.setLabel("bottom", f"{prefix}…" if prefix else "")
        self.plot.getAxis("bottom").setTicks([[(i, name[len(prefix):]) for i, name in enumerate(names)]])
        self.plot.setXRange(-0.3, max(0.3, len(self.layers) - 0.7), padding=0)
        self.plot.setYRange(0, 1, padding=0.02)
        best = max(self.results, key=lambda r: r.accuracy) if self.results else None
        if best is not None:
            n = len(best.rows)
            self.chart_note.setText(f"Best: {self.blocks.get(best.layer, best.layer)} with {NAMES[best.classifier]}, "
                                    f"{best.accuracy:.1%} ± {best.std:.1%} ({n:,} images, {best.folds} folds).")
        self._mark_layer()
        self.probed.emit()

    def _point_clicked(self, item, points, *_):
        if len(points):
            self.layer_chosen.emit(str(points[0].data()))

    def _mark_layer(self):
        layer = self.session.layer
        if layer in self.layers:
            self.marker.setValue(self.layers.index(layer))
            self.marker.show()
        else:
            self.marker.hide()

    def _settings_changed(self):
        s = self.session
        if self._probed_key is not None and self._probed_key != (s.dataset, s.model, s.weights):
            self._probed_key, self.results, self.layers = None, [], []
            for item in list(self.plot.listDataItems()):
                self.plot.removeItem(item)
            self.legend.clear()
            self.plot.getAxis("bottom").setTicks([[]])
            self.placeholder.show()
            self.chart_note.setText("")
        self._mark_layer()

    # --- label errors and duplicates of the run on the map ----------------------------------------
    def _kind_changed(self, kind: str):
        self.threshold.setVisible(kind == DUPLICATES)
        self._clear_list()

    def find(self):
        run = self.session.run
        if run is None:
            return
        kind = self.kind.currentText()
        self.list_note.setText(f"{kind}: working…")
        if kind == ISSUES:
            def work():
                from ...core.analysis.label_issues import find_label_issues
                from ...core.analysis.probe import probe_run
                from ...core.analysis.probe_files import load_probe

                result = load_probe(run, run.layer, "logreg")
                if result is None:
                    (result,) = yield from probe_run(run, [run.layer], ("logreg",))
                return run, result, find_label_issues(result)

            self.jobs.analysis.start("Finding label errors", work(), self.show_issues, key="probe-list",
                                     on_error=self.list_note.setText)
        else:
            threshold = self.threshold.value()

            def work():
                from ...core.analysis.duplicates import near_duplicates

                pairs = yield from near_duplicates(run.features, threshold, valid=run.done_mask)
                return run, threshold, pairs

            self.jobs.analysis.start("Finding near duplicates", work(), self.show_duplicates, key="probe-list",
                                     on_error=self.list_note.setText)

    def show_issues(self, out) -> None:
        run, result, issues = out
        if run is not self.session.run:
            return  # the map moved on meanwhile
        self.probe_result = result
        self._fill(["image", "label → probe", "p(label)"],
                   [(f"#{i.index}", f"{i.label} → {i.predicted}",
                     f"{i.self_confidence:.2f}") for i in issues], [(i.index,) for i in issues],
                   [f"#{i.index} {run.rows[i.index].path}" for i in issues])
        self.list_note.setText(f"{len(issues):,} of {len(result.rows):,} labelled images are predicted as another "
                               f"class by a logistic-regression probe on {run.layer} ({result.folds}-fold, "
                               f"accuracy {result.accuracy:.1%}); least sure of their label first.")
        self._enable()

    def show_duplicates(self, out) -> None:
        run, threshold, pairs = out
        if run is not self.session.run:
            return
        self._fill(["image", "near duplicate", "distance"],
                   [(f"#{p.a}", f"#{p.b}", f"{p.distance:.4f}") for p in pairs], [(p.a, p.b) for p in pairs],
                   [f"#{p.a} {run.rows[p.a].path}\n#{p.b} {run.rows[p.b].path}" for p in pairs])
        self.list_note.setText(f"{len(pairs):,} {'pair' if len(pairs) == 1 else 'pairs'} within cosine distance "
                               f"{threshold:g} at {run.layer}.")
        self._enable()

    def _fill(self, headers, cells, rows, tips=None):
        self.table.blockSignals(True)
        self.table.clearContents()
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(cells))
        for r, values in enumerate(cells):
            for c, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setToolTip(tips[r] if tips else text)
                self.table.setItem(r, c, item)
        self.table.blockSignals(False)
        self.rows = rows
        self.listed.emit()

    def _rows_selected(self):
        picked = sorted({i for r in self.table.selectionModel().selectedRows() for i in self.rows[r.row()]})
        if picked:
            self.session.select(picked, focus=len(self.table.selectionModel().selectedRows()) == 1)

    def colour_by_probe(self, what: str = "right"):
        """Colour the map by the label-error probe: "right" (its out-of-fold verdict) or "class" (its class)."""
        from ...core.analysis.probe_files import probe_colouring

        if self.session.run is not None and self.probe_result is not None:
            self.session.set_colour_by(probe_colouring(self.session.run, self.probe_result, what))

    def _run_changed(self):
        self._clear_list()

    def _clear_list(self):
        self.probe_result = None
        self._fill(["image", "", ""], [], [])
        self.list_note.setText("")
        self._enable()

    def _enable(self):
        self.select_all.setEnabled(bool(self.rows))
        self.colour.setEnabled(self.probe_result is not None)
        self.colour_class.setEnabled(self.probe_result is not None)
