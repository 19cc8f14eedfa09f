"""Stability: sweep the selected image through a perturbation and watch the prediction and the features.

The panel asks core.analysis.invariance for the variants (analysis lane), shows the original, the
variant under the slider (and the amplified perturbation for FGSM/PGD), the invariance curves
(cosine of the features to the original's, the top-1 and the original class's probability, against
the value, as in Zeiler and Fergus's figure 5) and puts the variants' path into the session, which
the map draws (map_path.py).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QGridLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QScrollArea,
                               QSlider, QVBoxLayout, QWidget)

from ...core.analysis.perturb import ADVERSARIAL, KINDS
from ..bridge import SessionBridge
from ..jobs import JobRunner
from ..thumbnails import pil_to_qimage
from .robustness_panel import RobustnessPanel

PROMPT = "Click a point, choose a perturbation and press Sweep."


THUMB = 68  # pixels of each picture: three side by side fit the narrowest dock (220 px)


class Thumb(QLabel):
    """A picture at a fixed size (the variants are squares: the network's input)."""

    def __init__(self, tip: str):
        super().__init__()
        self.setFixedSize(THUMB, THUMB)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setToolTip(tip)
        self.setStyleSheet("background: #f3f3f3;")

    def set_image(self, image) -> None:
        from PySide6.QtGui import QPixmap

        self.setPixmap(QPixmap.fromImage(pil_to_qimage(image)).scaled(
            THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))

    def clear_image(self, text: str = "") -> None:
        from PySide6.QtGui import QPixmap

        self.setPixmap(QPixmap())
        self.setText(text)


def _plot(title: str, y_range=None) -> pg.PlotWidget:
    plot = pg.PlotWidget(background="w")
    plot.setTitle(title, color="#333", size="9pt")
    plot.setMinimumHeight(120)
    plot.setMaximumHeight(170)
    plot.showGrid(x=True, y=True, alpha=0.2)
    plot.setMenuEnabled(False)
    plot.hideButtons()
    plot.getAxis("left").setWidth(44)  # room for 0.995
    if y_range:
        plot.setYRange(*y_range, padding=0.02)
    return plot


class PerturbView(QScrollArea):
    swept = Signal()  # a sweep is on display (tests and screenshots wait for it)

    def __init__(self, bridge: SessionBridge, jobs: JobRunner, parent=None):
        super().__init__(parent)
        self.session = bridge.session
        self.lane = jobs.analysis
        self._model = None
        self._prober = None  # (model, layer, core Prober), built in the worker
        self.result = None  # (index, Sweep) on display

        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.kind = QComboBox()
        self.kind.addItems(list(KINDS))
        self.kind.setToolTip("translate/rotate/scale act on the network's input image; noise, FGSM and PGD on its "
                             "[0, 1] pixels (see the README for each definition)")
        self.values = QLineEdit()
        self.values.setToolTip("START:STOP:STEP (STOP included), A,B,C or one number")
        self.target = QLineEdit(placeholderText="FGSM/PGD: towards class (name or index)")
        self.also = QLineEdit(placeholderText="cosine also at layers, e.g. layer1,layer2")
        self.also.setToolTip("Further layers (or blocks) whose cosine curves are drawn too: how invariance grows "
                             "with depth. One forward pass for all.")
        self.sweep_button = QPushButton("Sweep")
        self.status = QLabel(PROMPT, wordWrap=True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.original = Thumb("the network's input")
        self.variant = Thumb("the variant at the slider's value")
        self.difference = Thumb("FGSM/PGD: the perturbation, amplified (grey: 0)")
        self.slider = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=0)
        self.variant_caption = QLabel(wordWrap=True)
        for label in (self.status, self.variant_caption):  # wrapped labels in a scroll area: keep 3 lines
            label.setMinimumHeight(3 * label.fontMetrics().lineSpacing() + 4)
            label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.cosine_plot = _plot("cosine to the original's features", (0, 1))
        self.probability_plot = _plot("p of top-1 (blue), of original (orange)", (0, 1))
        self.cosine_curve = self.cosine_plot.plot(pen=pg.mkPen(40, 40, 40, width=2), symbol="o", symbolSize=5)
        self.layer_curves: list = []  # the cosine at the further layers, light to dark with depth
        self.layer_key = QLabel(wordWrap=True)  # which curve is which layer (a title would widen the dock)
        self.layer_key.setStyleSheet("font-size: 10px; color: #444;")
        self.layer_key.hide()
        self.top_curve = self.probability_plot.plot(pen=pg.mkPen(30, 90, 200, width=2), symbol="o", symbolSize=5)
        self.orig_curve = self.probability_plot.plot(pen=pg.mkPen(230, 110, 0, width=2), symbol="t", symbolSize=6)
        self.marker = [p.addLine(x=0, pen=pg.mkPen(150, 150, 150, style=Qt.PenStyle.DashLine))
                       for p in (self.cosine_plot, self.probability_plot)]

        self.dataset = RobustnessPanel(self.session, self.lane, self._chosen, lambda: self._model)

        form = QGridLayout()
        form.addWidget(QLabel("Kind"), 0, 0)
        form.addWidget(self.kind, 0, 1)
        form.addWidget(QLabel("Values"), 1, 0)
        form.addWidget(self.values, 1, 1)
        form.addWidget(self.target, 2, 0, 1, 2)
        form.addWidget(self.also, 3, 0, 1, 2)
        form.addWidget(self.sweep_button, 4, 0, 1, 2)
        form.setColumnStretch(1, 1)
        pictures = QHBoxLayout()
        for pic in (self.original, self.variant, self.difference):
            pictures.addWidget(pic)
        pictures.addStretch(1)
        inner = QWidget()
        lay = QVBoxLayout(inner)
        lay.addLayout(form)
        lay.addWidget(self.status)
        lay.addLayout(pictures)
        lay.addWidget(self.slider)
        lay.addWidget(self.variant_caption)
        lay.addWidget(self.cosine_plot)
        lay.addWidget(self.layer_key)
        lay.addWidget(self.probability_plot)
        lay.addWidget(self.dataset)
        lay.addStretch(1)
        self.setWidget(inner)
        self.setWidgetResizable(True)
        self.setMinimumWidth(220)

        self.kind.currentTextChanged.connect(self._kind_changed)
        self.values.returnPressed.connect(self.sweep)
        self.target.returnPressed.connect(self.sweep)
        self.sweep_button.clicked.connect(self.sweep)
        self.slider.valueChanged.connect(self._show_variant)
        bridge.run_changed.connect(self._clear)
        bridge.selection_changed.connect(self._selection_changed)
        self.kind.setCurrentText("rotate")
        self._kind_changed("rotate")

    def set_model(self, prepared) -> None:
        self._model = prepared.model
        self._prober = None

    def _kind_changed(self, kind: str):
        self.values.setText(KINDS[kind].default)
        self.target.setEnabled(kind in ADVERSARIAL)

    def _selection_changed(self):
        if self.result is not None and list(self.session.selection) != [self.result[0]]:
            self.status.setText("Another image is selected: press Sweep to follow it.")

    def _chosen(self):
        """(kind, values) as typed, or None (the error is shown) when the values do not parse."""
        from ...core.analysis.perturb import parse_values
        from ...core.errors import ExplorerError

        kind = self.kind.currentText()
        try:
            return kind, parse_values(self.values.text(), kind)
        except ExplorerError as exc:
            self.status.setText(str(exc))
            return None

    def _clear(self):
        self.dataset.clear()
        self.result = None
        for pic in (self.original, self.variant, self.difference):
            pic.clear_image("")
        for curve in (self.cosine_curve, self.top_curve, self.orig_curve):
            curve.setData([], [])
        self.variant_caption.setText("")
        self.status.setText(PROMPT)

    # --- computing ----------------------------------------------------------------------------------
    def sweep(self):
        """Sweep the selected image with the chosen kind and values, off the GUI thread."""
        from ...core.analysis.perturb import parse_values
        from ...core.errors import ExplorerError

        run, selection = self.session.run, list(self.session.selection)
        if run is None or len(selection) != 1:
            self.status.setText(PROMPT)
            return
        if self._model is None:
            self.status.setText("Waiting for the model to load…")
            return
        kind = self.kind.currentText()
        try:
            values = parse_values(self.values.text(), kind)
        except ExplorerError as exc:
            self.status.setText(str(exc))
            return
        target = self.target.text().strip() or None if kind in ADVERSARIAL else None
        index, model, layer = selection[0], self._model, run.layer
        also = tuple(a.strip() for a in self.also.text().split(",") if a.strip())
        settings = (self.session.projection, self.session.perplexity, self.session.seed)

        def work():
            from ...core.analysis.invariance import place_on_map, sweep
            from ...core.run.images import load_item

            prober = self._prober_for(model, layer, also)
            result = yield from sweep(model, load_item(run, index), kind, values, target=target, prober=prober)
            note = ""
            try:
                place_on_map(_projector(run, *settings), result)
            except ExplorerError as exc:
                note = str(exc)
            return index, result, note

        self.status.setText(f"Sweeping {kind} over {len(values)} values…")
        self.lane.start(f"Stability ({kind})", work(), self._show, key="perturb",
                        on_error=lambda message: self.status.setText(f"Cannot sweep this image: {message}"))

    def _prober_for(self, model, layer, also=()):
        """Runs in the worker: one cut of the model per (model, layers)."""
        from ...core.analysis.invariance import Prober

        cached = self._prober
        if cached is None or cached[0] is not model or cached[1] != (layer, also):
            cached = (model, (layer, also), Prober(model, layer, also=also))
            self._prober = cached
        return cached[2]

    # --- showing ------------------------------------------------------------------------------------
    def _show(self, out):
        from ...core.analysis.invariance import MapPath

        index, result, note = out
        self.result = (index, result)
        x = np.asarray(result.values, np.float64)
        self.cosine_curve.setData(x, [v.cosine_to_original for v in result.variants])
        self.top_curve.setData(x, [v.top1_probability for v in result.variants])
        self.orig_curve.setData(x, [v.original_class_probability for v in result.variants])
        self._draw_layers(x, result)
        low = min([v.cosine_to_original for v in result.variants]
                  + [c for v in result.variants for c in (v.cosine_by_layer or {}).values()])
        self.cosine_plot.setYRange(min(0.0, low) if low < 0 else low - 0.1 * (1 - low) - 0.01, 1.0, padding=0.02)
        for plot in (self.cosine_plot, self.probability_plot):
            plot.setXRange(float(x.min()), float(x.max()) if x.max() > x.min() else float(x.min()) + 1, padding=0.05)
        self.original.set_image(result.original_image)
        o = result.original
        towards = f", towards {result.target_name}" if result.target_name else ""
        self.status.setText(f"#{index} at {result.layer}{towards}: the original is {o.top1_name} "
                            f"(p={o.top1_probability:.2f})." + (f" Not in the map: {note}" if note else
                                                                " Its path is drawn in the map."))
        if result.path is not None and self.session.run is not None:
            self.session.variant_path = MapPath.of(index, result)
        self.slider.blockSignals(True)
        self.slider.setMaximum(len(result.variants) - 1)
        self.slider.setValue(len(result.variants) - 1)
        self.slider.blockSignals(False)
        self._show_variant(self.slider.value())
        self.swept.emit()

    def _draw_layers(self, x, result):
        for curve in self.layer_curves:
            self.cosine_plot.removeItem(curve)
        self.layer_curves = []
        names = [n for n in (result.variants[0].cosine_by_layer or {}) if n != result.layer]
        for k, name in enumerate(names):
            shade = int(200 - 120 * k / max(1, len(names)))  # shallower layers lighter
            curve = self.cosine_plot.plot(x, [v.cosine_by_layer[name] for v in result.variants],
                                          pen=pg.mkPen(80, shade, 220 - shade // 2, width=1.5))
            self.layer_curves.append(curve)
        self.layer_key.setText(f"black: {result.layer}; coloured, lighter for shallower layers: {', '.join(names)}")
        self.layer_key.setVisible(bool(names))

    def _show_variant(self, i: int):
        if self.result is None:
            return
        result = self.result[1]
        v = result.variants[i]
        self.variant.set_image(result.images[i])
        for line in self.marker:
            line.setValue(v.value)
        if result.perturbations is not None:
            from PIL import Image

            p = result.perturbations[i]
            scale = float(np.abs(p).max()) or 1.0
            self.difference.set_image(Image.fromarray(((0.5 + p / (2 * scale)) * 255).round().clip(0, 255)
                                                      .astype(np.uint8)))
            self.difference.setToolTip(f"the perturbation, amplified {0.5 / scale:.0f}x (grey: 0)")
        else:
            self.difference.clear_image("")
        self.variant_caption.setText(f"{result.kind} {v.value:g}: {v.top1_name} (p={v.top1_probability:.2f}), "
                                     f"original class p={v.original_class_probability:.2f}, "
                                     f"cosine {v.cosine_to_original:.3f}")


def _projector(run, method: str, perplexity: float, seed: int):
    """The fitted projection the map shows (the session's settings), else the run's newest."""
    from ...core.analysis.invariance import run_projector
    from ...core.analysis.kept_projections import load_projector

    return load_projector(run, method, perplexity=perplexity, seed=seed) or run_projector(run)
