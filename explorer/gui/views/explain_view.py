"""Explain: why the network scored a class for the selected image, and for its neighbours.

A click on the map selects an image; this panel asks core.analysis.attribution for the chosen
method's map in the analysis lane (occlusion streams partial maps) and lays it over the image
at the image's true aspect ratio, with a colour scale and a caption. The selection's neighbours
(as the gallery lists them) get the same method and the same target class, side by side.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QCheckBox, QComboBox, QGridLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton,
                               QScrollArea, QSizePolicy, QSlider, QVBoxLayout, QWidget)

from ...core.analysis.attribution import LAYER_METHODS, METHODS
from ..bridge import SessionBridge
from ..jobs import JobRunner
from ..thumbnails import pil_to_qimage
from ..widgets.colour_bar import ColourBar

AUTO_LAYER = "last spatial layer"
NEIGHBOURS_SHOWN = 4
DISPLAY_SIDE = 720  # the image is decoded at most this large for display; the network sees the full file


class ImageLabel(QLabel):
    """A picture scaled to the label's width, keeping its aspect ratio."""

    def __init__(self, text: str = "", parent=None):
        super().__init__(text, parent)
        self._pixmap: QPixmap | None = None
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(120, 90)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setWordWrap(True)

    def set_image(self, image) -> None:
        self._pixmap = QPixmap.fromImage(pil_to_qimage(image))
        self._fit()

    def clear_image(self, text: str) -> None:
        self._pixmap = None
        self.setPixmap(QPixmap())
        self.setText(text)

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._fit()

    def _fit(self):
        if self._pixmap is None or self._pixmap.isNull():
            return
        w = max(1, self.width())
        scaled = self._pixmap.scaledToWidth(w, Qt.TransformationMode.SmoothTransformation)
        self.setPixmap(scaled)
        self.setMinimumHeight(scaled.height())


class ExplainView(QScrollArea):
    explained = Signal()  # the selection's map is on display (tests and screenshots wait for it)
    checked = Signal()  # a sanity or faithfulness result is on display

    def __init__(self, bridge: SessionBridge, jobs: JobRunner, parent=None):
        super().__init__(parent)
        self.session = bridge.session
        self.lane = jobs.analysis
        self._model = None
        self._graph = None
        self._explainer = None  # (model id, core Explainer), built in the worker
        self.shown = None  # (index, Attribution, display image) on screen
        self.neighbour_maps: list = []  # (index, Attribution) beside it
        self._stale = True

        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # fit the dock's width
        self.method = QComboBox()
        self.method.addItems(METHODS)
        self.layer = QComboBox()
        self.layer.setToolTip("The layer Grad-CAM reads (deeper: coarser and more about the class)")
        self.target = QComboBox()
        self.target.addItem("predicted class (top-1)", "top1")
        self.target.setToolTip("Which class the map explains; the score is its logit")
        self.target_edit = QLineEdit(placeholderText="or type a class name or index, Enter")
        self.opacity = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100, value=60)
        self.original = QCheckBox("Original")
        self.original.setToolTip("Show the image without the map")
        self.with_neighbours = QCheckBox(f"Same map for {NEIGHBOURS_SHOWN} neighbours")
        self.with_neighbours.setChecked(True)
        self.sanity_button = QPushButton("Sanity check")
        self.sanity_button.setToolTip("Randomise the top layers one by one and compare the maps (Adebayo et al.)")
        self.faithful_button = QPushButton("Deletion / insertion")
        self.faithful_button.setToolTip("Hide or reveal pixels in the map's order and follow the probability")

        for box in (self.method, self.layer, self.target):  # long layer and class names must not widen the dock
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(6)
        self.target_edit.setMinimumWidth(60)
        form = QGridLayout()
        form.addWidget(QLabel("Method"), 0, 0)
        form.addWidget(self.method, 0, 1)
        form.addWidget(QLabel("Layer"), 1, 0)
        form.addWidget(self.layer, 1, 1)
        form.addWidget(QLabel("Target"), 2, 0)
        form.addWidget(self.target, 2, 1)
        form.addWidget(self.target_edit, 3, 0, 1, 2)
        form.addWidget(QLabel("Opacity"), 4, 0)
        row = QHBoxLayout()
        row.addWidget(self.opacity, 1)
        row.addWidget(self.original)
        form.addLayout(row, 4, 1)
        form.setColumnStretch(1, 1)

        self.image = ImageLabel("Click a point to see why the network scored its class.")
        self.colour_bar = ColourBar()
        self.caption = QLabel(wordWrap=True)
        self.caption.setMinimumWidth(60)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.neighbour_row = QGridLayout()  # two columns: the dock is often narrow
        self.neighbour_cells: list[tuple[ImageLabel, QLabel]] = []
        for i in range(NEIGHBOURS_SHOWN):
            cell = QVBoxLayout()
            pic, text = ImageLabel(""), QLabel(wordWrap=True)
            pic.setMinimumSize(60, 45)
            text.setStyleSheet("font-size: 10px;")
            cell.addWidget(pic)
            cell.addWidget(text)
            self.neighbour_row.addLayout(cell, i // 2, i % 2)
            self.neighbour_cells.append((pic, text))
        self.faithful_button.setText("Deletion/insertion")
        buttons = QVBoxLayout()
        buttons.addWidget(self.sanity_button)
        buttons.addWidget(self.faithful_button)
        self.check_result = QLabel(wordWrap=True)
        self.check_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.check_plot = QLabel()

        inner = QWidget()
        lay = QVBoxLayout(inner)
        lay.addLayout(form)
        lay.addWidget(self.image)
        lay.addWidget(self.colour_bar)
        lay.addWidget(self.caption)
        lay.addWidget(self.with_neighbours)
        lay.addLayout(self.neighbour_row)
        lay.addLayout(buttons)
        lay.addWidget(self.check_result)
        lay.addWidget(self.check_plot)
        lay.addStretch(1)
        self.setWidget(inner)
        self.setWidgetResizable(True)
        self.setMinimumWidth(220)

        self.method.currentTextChanged.connect(self._method_changed)
        self.layer.activated.connect(lambda _i: self.refresh())
        self.target.activated.connect(lambda _i: self.refresh())
        self.target_edit.returnPressed.connect(self._target_typed)
        self.opacity.valueChanged.connect(self._restyle)
        self.original.toggled.connect(self._restyle)
        self.with_neighbours.toggled.connect(lambda _on: self.refresh())
        self.sanity_button.clicked.connect(self.run_sanity)
        self.faithful_button.clicked.connect(self.run_faithfulness)
        bridge.selection_changed.connect(self.refresh)
        bridge.neighbours_changed.connect(self._neighbours_changed)
        bridge.run_changed.connect(self._run_changed)
        self._method_changed(self.method.currentText())

    # --- inputs -----------------------------------------------------------------------------------
    def set_model(self, prepared) -> None:
        """A loaded model (core Prepared): its spatial layers fill the Layer box."""
        self._model, self._graph = prepared.model, prepared.graph
        self.layer.clear()
        self.layer.addItem(AUTO_LAYER, None)
        for info in reversed(prepared.graph.layers):  # deepest first: the usual choice on top
            if len(info.shape) == 3 and info.shape[1] * info.shape[2] > 1:
                self.layer.addItem(f"{info.name}  {info.shape[1]}×{info.shape[2]}", info.name)
        self._explainer = None
        self.refresh()

    def _run_changed(self):
        self.shown = None
        self.neighbour_maps = []
        self.image.clear_image("Click a point to see why the network scored its class.")
        self.colour_bar.hide()
        self.caption.setText("")
        self._clear_neighbours()

    def _method_changed(self, method: str):
        self.layer.setEnabled(method in LAYER_METHODS)
        self.refresh()

    def _target_typed(self):
        text = self.target_edit.text().strip()
        if not text:
            return
        i = self.target.findData(text)
        if i < 0:
            self.target.addItem(f"class: {text}", text)
            i = self.target.count() - 1
        self.target.setCurrentIndex(i)
        self.refresh()

    def _neighbours_changed(self):
        """The gallery found the selection's neighbours (usually after this panel asked for the map)."""
        wanted = list(self.session.neighbours)[:NEIGHBOURS_SHOWN]
        if self.with_neighbours.isChecked() and wanted != [n for n, _ in self.neighbour_maps]:
            self.refresh()

    def on_screen(self) -> bool:
        """Shown and not covered: a dock tabbed behind another is 'visible' to Qt but shows nothing."""
        return self.isVisible() and not self.visibleRegion().isEmpty()

    def showEvent(self, event):
        super().showEvent(event)
        if self._stale:
            self.refresh()

    def dock_shown(self, visible: bool) -> None:
        """Its dock's tab came to the front (QDockWidget.visibilityChanged): compute what was put off."""
        if visible and self._stale:
            from PySide6.QtCore import QTimer

            QTimer.singleShot(0, self.refresh)  # after the tab switch has laid the panel out

    # --- computing --------------------------------------------------------------------------------
    def refresh(self):
        """Explain the selected image (and its neighbours) with the chosen settings, off the GUI thread."""
        run, selection = self.session.run, list(self.session.selection)
        if len(selection) != 1 or run is None:
            return
        if not self.on_screen():  # computed when the tab is shown
            self._stale = True
            return
        self._stale = False
        if self._model is None:
            self.image.clear_image("Waiting for the model to load…")
            return
        index = selection[0]
        neighbours = list(self.session.neighbours)[:NEIGHBOURS_SHOWN] if self.with_neighbours.isChecked() else []
        model, options = self._model, self._options()
        method = self.method.currentText()

        def work():
            from ...core.analysis.attribution import explain
            from ...core.run.images import load_item

            explainer = self._explainer_for(model)
            full = load_item(run, index)
            shown = _display_copy(full)
            steps = explain(explainer, explainer.inputs(full), method, options)
            att = yield from _forward(steps, lambda partial: (index, shown, partial))
            found = []
            for n in neighbours:
                from dataclasses import replace

                try:
                    image = load_item(run, n)
                except Exception:  # an unreadable neighbour is left out; the others are shown
                    continue
                same = replace(options, target=att.target)  # the same class, so reasons compare
                found.append((n, _display_copy(image),
                              (yield from _forward(explain(explainer, explainer.inputs(image), method, same)))))
            return index, shown, att, found

        if self.shown is not None and (self.shown[0], self.shown[1].method) != (index, method):
            self._clear_neighbours()  # their maps are of another image or method until the new ones arrive
        self.caption.setText(f"Computing {method}…")
        self.lane.start(f"Explain ({method})", work(), self._show, key="explain", on_partial=self._show_partial,
                        on_error=lambda message: self._failed(index, message))

    def _options(self):
        from ...core.analysis.attribution import Options

        return Options(layer=self.layer.currentData(), target=self.target.currentData() or "top1")

    def _explainer_for(self, model):
        """Runs in the worker: one Explainer per model (its gradient models are cut once)."""
        from ...core.analysis.attribution import Explainer

        cached = self._explainer
        if cached is None or cached[0] is not model:
            cached = (model, Explainer(model))
            self._explainer = cached
        return cached[1]

    def _failed(self, index: int, message: str):
        if self.session.selection == [index]:
            self.image.clear_image(f"Cannot explain this image: {message}")
            self.colour_bar.hide()
            self.caption.setText("")

    # --- showing ----------------------------------------------------------------------------------
    def _show_partial(self, partial):
        index, image, att = partial
        if self.session.selection == [index]:
            self._draw(image, att)
            self.caption.setText("occlusion: the map fills in as windows are hidden…")

    def _show(self, result):
        index, image, att, found = result
        if self.session.selection != [index]:
            return
        self.shown = (index, att, image)
        self.neighbour_maps = [(n, a) for n, _img, a in found]
        self._draw(image, att)
        from ...core.analysis.attribution.render import caption

        self.caption.setText(caption(att))
        self._fill_targets(att)
        self._clear_neighbours()
        for (pic, text), (n, img, a) in zip(self.neighbour_cells, found):
            pic.set_image(self._composite(img, a, self.opacity.value() / 100))
            name = self.session.run.rows[n].path.rsplit("/", 1)[-1]
            text.setText(f"#{n} {name}\np={a.probability:.2f}")
        self.check_result.setText("")
        self.check_plot.clear()
        self.explained.emit()

    def _clear_neighbours(self):
        for pic, text in self.neighbour_cells:
            pic.clear_image("")
            text.setText("")

    def _fill_targets(self, att):
        """top-1 .. top-5 of the image on screen, with probabilities; a typed class stays listed."""
        current = self.target.currentData()
        typed = [(self.target.itemText(i), self.target.itemData(i)) for i in range(self.target.count())
                 if str(self.target.itemData(i)).startswith("top") is False]
        self.target.blockSignals(True)
        self.target.clear()
        for k, p in enumerate(att.top5, 1):
            self.target.addItem(f"top-{k}: {p.name}  {p.probability:.1%}", f"top{k}")
        for text, data in typed:
            self.target.addItem(text, data)
        i = self.target.findData(current)
        self.target.setCurrentIndex(max(0, i))
        self.target.blockSignals(False)

    def _composite(self, image, att, alpha: float):
        from ...core.analysis.attribution.render import overlay_map

        if self.original.isChecked():
            return image
        return overlay_map(image, att, self._model.preprocess, alpha=alpha)

    def _draw(self, image, att):
        from ...core.analysis.attribution.render import display_range

        self.image.set_image(self._composite(image, att, self.opacity.value() / 100))
        low, high = display_range(att)
        self.colour_bar.set_range(low, high, "p drop" if att.method == "occlusion" else
                                  "|grad|" if att.map.ndim == 3 else "")

    def _restyle(self, *_):
        if self.shown is not None:
            _index, att, image = self.shown
            self.image.set_image(self._composite(image, att, self.opacity.value() / 100))

    # --- checks -----------------------------------------------------------------------------------
    def run_sanity(self):
        self._check("sanity")

    def run_faithfulness(self):
        self._check("faithfulness")

    def _check(self, kind: str):
        if self.shown is None or self._model is None:
            self.check_result.setText("Select an image and wait for its map first.")
            return
        index, att, _image = self.shown
        run, model = self.session.run, self._model

        def work():
            from ...core.analysis.attribution import faithfulness, sanity_check
            from ...core.run.images import load_item

            explainer = self._explainer_for(model)
            x = explainer.inputs(load_item(run, index))
            if kind == "sanity":
                return kind, (yield from sanity_check(explainer, x, att))
            return kind, (yield from faithfulness(explainer, x, att))

        self.check_result.setText("Checking…")
        self.lane.start("Sanity check" if kind == "sanity" else "Deletion/insertion", work(), self._checked,
                        key="explain-check", on_error=lambda m: self.check_result.setText(f"The check failed: {m}"))

    def _checked(self, result):
        kind, value = result
        if kind == "sanity":
            pairs = " · ".join(f"{u} {r:+.2f}" for u, r in zip(value.units, value.rank_corr))
            self.check_result.setText(
                "Rank correlation with the original map as the top units are randomised, one more at a time: "
                f"{pairs}. A map that stays near +1 does not depend on what the model learnt.")
        else:
            from ...core.analysis.attribution.render import faithfulness_plot

            self.check_result.setText(
                f"Deletion AUC {value.deletion_auc:.3f} (lower: the map found what matters) · insertion AUC "
                f"{value.insertion_auc:.3f} (higher is better); target probability against the share of pixels.")
            self.check_plot.setPixmap(QPixmap.fromImage(pil_to_qimage(faithfulness_plot(value))))
        self.checked.emit()


def _display_copy(image):
    """A copy at most DISPLAY_SIDE pixels on a side, from the image already decoded for the network."""
    from PIL import Image

    shown = image.copy()
    shown.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE), Image.Resampling.LANCZOS)
    return shown


def _forward(steps, wrap=None):
    """Re-yield a core generator's Steps (partial maps wrapped for the view) and return its result."""
    from dataclasses import replace

    while True:
        try:
            step = next(steps)
        except StopIteration as stop:
            return stop.value
        if wrap is not None and step.partial is not None:
            step = replace(step, partial=wrap(_PartialMap(step.partial)))
        elif step.partial is not None:
            step = replace(step, partial=None)
        yield step


class _PartialMap:
    """An occlusion map still being filled, shaped like an Attribution for drawing."""

    method = "occlusion"

    def __init__(self, values):
        self.map = values
        self.settings = {}

    def heat(self):
        return self.map
