"""The dataset side of the Stability dock: the robustness table of a sample of the run, drawn as curves.

Per level of the chosen perturbation: the share of images whose top-1 is still the clean prediction
(for FGSM/PGD one minus it is the attack's success rate), the accuracy where labels map to the head's
classes, and the mean cosine of the features to the clean ones (core.analysis.robustness).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget


class RobustnessPanel(QWidget):
    measured = Signal()  # a table is on display

    def __init__(self, session, lane, settings: Callable[[], tuple | None], model: Callable[[], object], parent=None):
        super().__init__(parent)
        self.session, self.lane, self.settings, self.model = session, lane, settings, model
        self.table = None
        self.sample = QSpinBox(minimum=2, maximum=100_000, value=50, suffix=" images")
        self.sample.setToolTip("A seeded sample of the run's images (all of them when the run is smaller)")
        self.button = QPushButton("Dataset")
        self.button.setToolTip("The same values over a sample of the run's images: agreement with the clean "
                               "prediction, accuracy, feature similarity")
        self.note = QLabel(wordWrap=True)
        self.note.setMinimumHeight(4 * self.note.fontMetrics().lineSpacing() + 4)
        self.note.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setTitle("over the dataset", color="#333", size="9pt")
        self.plot.setToolTip("blue: agreement with the clean top-1 · green: accuracy · grey: mean cosine")
        self.plot.setMinimumHeight(120)
        self.plot.setMaximumHeight(170)
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.getAxis("left").setWidth(44)
        self.plot.setYRange(0, 1, padding=0.02)
        self.agreement = self.plot.plot(pen=pg.mkPen(30, 90, 200, width=2), symbol="o", symbolSize=5)
        self.accuracy = self.plot.plot(pen=pg.mkPen(40, 150, 60, width=2), symbol="s", symbolSize=5)
        self.cosine = self.plot.plot(pen=pg.mkPen(90, 90, 90, width=2), symbol="t", symbolSize=5)
        row = QHBoxLayout()
        row.addWidget(self.button, 1)
        row.addWidget(QLabel("over"))
        row.addWidget(self.sample)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(row)
        lay.addWidget(self.note)
        lay.addWidget(self.plot)
        self.button.clicked.connect(self.measure)

    def clear(self):
        self.table = None
        for curve in (self.agreement, self.accuracy, self.cosine):
            curve.setData([], [])
        self.note.setText("")

    def measure(self):
        run, model, chosen = self.session.run, self.model(), self.settings()
        if run is None or model is None or chosen is None:
            self.note.setText("Open a dataset and wait for the model to load.")
            return
        kind, values = chosen
        sample = self.sample.value()

        def work():
            from ...core.analysis.robustness import robustness

            return (yield from robustness(run, kind, values, loaded=model, sample=sample, layer=run.layer))

        self.note.setText(f"Measuring {kind} over {min(sample, int(run.done_mask.sum()))} images…")
        self.lane.start(f"Robustness ({kind})", work(), self._show, key="robustness",
                        on_error=lambda message: self.note.setText(f"Cannot measure: {message}"))

    def _show(self, table):
        self.table = table
        x = np.array([level.value for level in table.levels])
        self.agreement.setData(x, [level.agreement for level in table.levels])
        self.cosine.setData(x, [level.mean_cosine for level in table.levels])
        if table.clean_accuracy is not None:
            self.accuracy.setData(x, [level.accuracy for level in table.levels])
        else:
            self.accuracy.setData([], [])
        self.plot.setXRange(float(x.min()), float(x.max()) if x.max() > x.min() else float(x.min()) + 1, padding=0.05)
        worst = min(table.levels, key=lambda level: level.agreement)
        attack = table.kind in ("fgsm", "pgd")
        said = (f"success rate up to {1 - worst.agreement:.0%} (at {worst.value:g})" if attack else
                f"lowest agreement {worst.agreement:.0%} (at {worst.value:g})")
        acc = (f"; accuracy clean {table.clean_accuracy:.0%}" if table.clean_accuracy is not None
               else "; no label maps to the head's classes (no accuracy)")
        self.note.setText(f"{table.kind} on {table.n_images} images at {table.layer}: {said}{acc}. Blue: agreement "
                          "with the clean top-1, green: accuracy, grey: mean cosine.")
        self.measured.emit()
