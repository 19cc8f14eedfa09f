"""Fine-tune a head for the dataset's classes: settings, progress, accuracy per epoch, then embed with it.

The training is core.engine.finetune's generator in the jobs' training lane (Cancel stops it and
writes nothing); each finished epoch lands on the chart. "Embed with this model" hands the
checkpoint to the main window, which re-embeds the dataset with it like any weights file.
"""

from __future__ import annotations

import os
import re

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import (QDialog, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QPushButton, QSizePolicy, QSpinBox, QVBoxLayout, QWidget)

from ...core.session import Session
from ..jobs import Lane
from ..widgets.job_bar import JobBar

TRAIN, VAL, PROBE = QColor(31, 119, 180), QColor(214, 39, 40), QColor(120, 120, 120)


class AccuracyChart(QWidget):
    """Train and validation accuracy per epoch (0..1), and the frozen probe's as a dashed line."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.epochs: list = []  # core Epoch reports
        self.probe: float | None = None
        self.setMinimumSize(320, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def clear(self):
        self.epochs, self.probe = [], None
        self.update()

    def add(self, epoch) -> None:
        self.epochs.append(epoch)
        self.update()

    def paintEvent(self, _event):
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        fm = p.fontMetrics()
        plot = QRectF(36, 8, max(10, self.width() - 46), max(10, self.height() - 8 - 2 * fm.height() - 6))
        p.fillRect(self.rect(), self.palette().base())
        p.setPen(QPen(QColor(170, 170, 170)))
        p.drawRect(plot)
        p.setPen(self.palette().text().color())
        for value in (0.0, 0.5, 1.0):
            y = plot.bottom() - value * plot.height()
            p.drawText(QRectF(0, y - fm.height() / 2, 32, fm.height()), Qt.AlignmentFlag.AlignRight, f"{value:.1f}")
        n = max(2, len(self.epochs))
        x_of = lambda e: plot.left() + (e - 1) / (n - 1) * plot.width()  # noqa: E731
        y_of = lambda v: plot.bottom() - v * plot.height()  # noqa: E731
        if self.probe is not None:
            p.setPen(QPen(PROBE, 1.5, Qt.PenStyle.DashLine))
            p.drawLine(QPointF(plot.left(), y_of(self.probe)), QPointF(plot.right(), y_of(self.probe)))
        for colour, attr in ((TRAIN, "train_accuracy"), (VAL, "val_accuracy")):
            p.setPen(QPen(colour, 2))
            points = [QPointF(x_of(e.epoch), y_of(getattr(e, attr))) for e in self.epochs]
            for a, b in zip(points, points[1:]):
                p.drawLine(a, b)
            for pt in points:
                p.drawEllipse(pt, 2.5, 2.5)
        legend_y = plot.bottom() + 4
        x = plot.left()
        entries = [(TRAIN, "train"), (VAL, "validation")] + ([(PROBE, "frozen linear probe")]
                                                              if self.probe is not None else [])
        for colour, text in entries:
            p.setPen(QPen(colour, 2))
            p.drawLine(QPointF(x, legend_y + fm.height() / 2), QPointF(x + 14, legend_y + fm.height() / 2))
            p.setPen(self.palette().text().color())
            p.drawText(QPointF(x + 18, legend_y + fm.ascent()), text)
            x += 28 + fm.horizontalAdvance(text)
        p.drawText(QRectF(plot.left(), legend_y + fm.height(), plot.width(), fm.height()),
                   Qt.AlignmentFlag.AlignHCenter, f"accuracy per epoch ({len(self.epochs)} so far)")
        p.end()


def _breakable(path: str) -> str:
    """A long path that a word-wrapped label may break after each separator (it would widen the dialog)."""
    return path.replace(os.sep, os.sep + "\u200b")


def default_checkpoint(session: Session) -> str:
    """<cache>/finetuned/<dataset folder>-<model>.pt: somewhere the user can find again."""
    from ...core.run.cache import cache_root

    name = os.path.basename(os.path.normpath(str(session.dataset))) or "dataset"
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{name}-{session.model}")
    return str(cache_root() / "finetuned" / f"{safe}.pt")


class FinetuneDialog(QDialog):
    finished_training = Signal()  # a result (or an error) is on display
    use_checkpoint = Signal(str, str, str)  # model name, checkpoint path, layer to embed ("": the default)
    compare_requested = Signal(str, str)  # model name, checkpoint path: its map beside the main one

    def __init__(self, session: Session, lane: Lane, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Fine-tune a head for these classes")
        self.session, self.lane = session, lane
        self.result = None
        self.epochs = QSpinBox(minimum=1, maximum=1000, value=20)
        self.unfreeze = QSpinBox(minimum=0, maximum=50, value=0)
        self.unfreeze.setToolTip("Also train the last N blocks (at a tenth of the head's learning rate)")
        self.lr = QDoubleSpinBox(decimals=5, minimum=0.00001, maximum=1.0, singleStep=0.0005, value=0.001)
        self.val_fraction = QDoubleSpinBox(decimals=2, minimum=0.05, maximum=0.9, singleStep=0.05, value=0.2)
        self.patience = QSpinBox(minimum=1, maximum=100, value=5)
        self.out = QLineEdit(default_checkpoint(session))
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
        where = QHBoxLayout()
        where.addWidget(self.out, 1)
        where.addWidget(browse)
        form = QFormLayout()
        form.addRow("Model", QLabel(f"{session.model} ({'pretrained' if not session.weights else session.weights})"))
        form.addRow("Epochs", self.epochs)
        form.addRow("Unfreeze last blocks", self.unfreeze)
        form.addRow("Learning rate", self.lr)
        form.addRow("Validation share", self.val_fraction)
        form.addRow("Stop after epochs without progress", self.patience)
        form.addRow("Checkpoint", where)
        self.start_button = QPushButton("Train")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.use_button = QPushButton("Embed with this model")
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(self._use)
        self.compare_button = QPushButton("Compare maps")
        self.compare_button.setToolTip("The fine-tuned model's map of the same layer in a window of its own, "
                                       "its selection linked with the main map")
        self.compare_button.setEnabled(False)
        self.compare_button.clicked.connect(self._compare)
        self.chart = AccuracyChart()
        self.bar = JobBar(lane)
        self.bar.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # long labels: no wider
        self.bar.setMinimumWidth(120)
        self.status = QLabel("Trains a new output layer on the dataset's class folders; the rest of the network "
                             "stays as it is (unless blocks are unfrozen).", wordWrap=True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QHBoxLayout()
        buttons.addWidget(self.bar, 1)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.compare_button)
        buttons.addWidget(self.use_button)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.chart, 1)
        lay.addWidget(self.status)
        lay.addLayout(buttons)
        self.resize(560, 560)

    def _browse(self):
        path, _ = QFileDialog.getSaveFileName(self, "Save the checkpoint", self.out.text(), "Checkpoint (*.pt)")
        if path:
            self.out.setText(path)

    def start(self):
        s = self.session
        if s.dataset is None:
            self.status.setText("Open a dataset first.")
            return
        from ...core.engine.finetune import FinetuneConfig

        dataset_spec, model_name, weights, out = s.dataset, s.model, s.weights, self.out.text().strip()
        config = FinetuneConfig(epochs=self.epochs.value(), unfreeze=self.unfreeze.value(), lr=self.lr.value(),
                                val_fraction=self.val_fraction.value(), patience=self.patience.value())

        def work():
            from ...core.data.datasets import scan_dataset
            from ...core.engine.finetune import finetune
            from ...core.model.zoo import load_model

            os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
            dataset = yield from scan_dataset(dataset_spec)
            model = load_model(model_name, weights)
            return (yield from finetune(dataset, model, out=out, config=config))

        self.chart.clear()
        self.result = None
        self.use_button.setEnabled(False)
        self.compare_button.setEnabled(False)
        self.start_button.setEnabled(False)
        self.status.setText(f"Training {model_name}'s head on {dataset_spec}…")
        self.lane.start("Fine-tuning", work(), self._done, key="finetune", on_partial=self._epoch,
                        on_error=self._failed, on_cancel=self._cancelled)

    def _epoch(self, epoch):
        if hasattr(epoch, "val_accuracy"):
            self.chart.add(epoch)

    def _done(self, result):
        self.result = result
        self.chart.probe = result.probe_val_accuracy
        self.chart.update()
        probe = "" if result.probe_val_accuracy is None else \
            f" (frozen linear probe: {result.probe_val_accuracy:.1%})"
        self.status.setText(f"Best epoch {result.best_epoch} of {len(result.epochs)}: validation accuracy "
                            f"{result.val_accuracy:.1%} on {result.n_val} images{probe}"
                            + (", stopped early" if result.stopped_early else "") + f". Saved {_breakable(result.checkpoint)}."
                            + (f"\n{result.note}" if result.note else "")
                            + ("" if result.trained else f"\nOnly {result.head} changed, so the layers below it embed "
                               f"as before: 'Embed with this model' maps the new head's outputs ({result.head})."))
        self.start_button.setEnabled(True)
        self.use_button.setEnabled(True)
        self.compare_button.setEnabled(True)
        self.finished_training.emit()

    def _failed(self, message: str):
        self.status.setText(f"Fine-tuning failed: {message}")
        self.start_button.setEnabled(True)
        self.finished_training.emit()

    def _cancelled(self):
        self.status.setText("Cancelled: no checkpoint was written.")
        self.start_button.setEnabled(True)

    def _use(self):
        if self.result is not None:
            layer = "" if self.result.trained else self.result.head  # a frozen backbone: only the head moved
            self.use_checkpoint.emit(self.session.model, self.result.checkpoint, layer)
            self.accept()

    def _compare(self):
        if self.result is not None:
            self.compare_requested.emit(self.session.model, self.result.checkpoint)

    def closeEvent(self, event):
        self.lane.cancel("finetune")
        super().closeEvent(event)
