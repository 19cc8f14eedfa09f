"""The left panel: dataset, model, weights, layer, projection, and the class legend.

Controls only emit what the user asked for; the main window turns that into jobs.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout,
                               QLabel, QListWidget, QListWidgetItem, QMenu, QPushButton, QSizePolicy, QSpinBox,
                               QToolButton, QVBoxLayout, QWidget)

from ...core.model.zoo import ZOO
from ...core.session import UNLABELLED, class_colour
from ..bridge import SessionBridge
from .labels import ElidedLabel, WrappedLabel
from .layer_picker import LayerPicker, describe as describe_layer


def swatch(rgb: tuple[int, int, int], size: int = 12) -> QIcon:
    pix = QPixmap(size, size)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setBrush(QColor(*rgb))
    p.setPen(QColor(255, 255, 255))
    p.drawEllipse(1, 1, size - 2, size - 2)
    p.end()
    return QIcon(pix)


class LegendView(QListWidget):
    """One checkable entry per class with its colour and count; unchecking hides the class."""

    def __init__(self, bridge: SessionBridge, parent=None):
        super().__init__(parent)
        self.bridge = bridge  # kept alive as long as the view
        self.session = bridge.session
        self._syncing = False
        bridge.run_changed.connect(self.rebuild)
        bridge.hidden_classes_changed.connect(self._sync)
        bridge.colour_changed.connect(self._recolour)
        self.itemChanged.connect(self._changed)

    def rebuild(self):
        self._syncing = True
        self.clear()
        codes = self.session.label_codes
        k = len(self.session.classes)
        counts = np.bincount(np.where(codes < 0, k, codes), minlength=k + 1)  # one pass, any class count
        for code, name in enumerate(self.session.classes):
            self._add(code, name, int(counts[code]))
        unlabelled = int(counts[k])
        if unlabelled:
            self._add(-1, "no label", unlabelled)
        self._syncing = False

    def _by_class(self) -> bool:
        """Whether the map shows the class colours (not a channel or a metadata colouring)."""
        return self.session.colour_channel is None and getattr(self.session, "colour_by", None) is None

    def _icon(self, code: int) -> QIcon:
        # a swatch only where the map uses it: the classes still hide points under another colouring
        return swatch(UNLABELLED if code < 0 else class_colour(code)) if self._by_class() else QIcon()

    def _recolour(self):
        self._syncing = True
        for row in range(self.count()):
            item = self.item(row)
            item.setIcon(self._icon(int(item.data(Qt.ItemDataRole.UserRole))))
        self._syncing = False

    def _add(self, code: int, name: str, count: int):
        item = QListWidgetItem(self._icon(code), f"{name}  ({count:,})")
        item.setData(Qt.ItemDataRole.UserRole, code)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked)
        self.addItem(item)

    def _changed(self, item: QListWidgetItem):
        if self._syncing:
            return
        code = int(item.data(Qt.ItemDataRole.UserRole))
        hidden = item.checkState() != Qt.CheckState.Checked
        if hidden != (code in self.session.hidden_classes):
            self.session.toggle_class(code)

    def _sync(self):
        self._syncing = True
        for row in range(self.count()):
            item = self.item(row)
            code = int(item.data(Qt.ItemDataRole.UserRole))
            item.setCheckState(Qt.CheckState.Unchecked if code in self.session.hidden_classes
                               else Qt.CheckState.Checked)
        self._syncing = False


class ControlsPanel(QWidget):
    open_requested = Signal()
    model_chosen = Signal(str)
    weights_requested = Signal()  # a weights file: the window opens the file dialog
    weights_chosen = Signal(object)  # None: pretrained, "random": seeded random weights
    layer_chosen = Signal(str)
    projection_chosen = Signal(str, float, int)  # method, perplexity, seed
    thumbnails_toggled = Signal(bool)

    def __init__(self, bridge: SessionBridge, parent=None):
        super().__init__(parent)
        self.bridge = bridge
        self.session = session = bridge.session
        self._filling = False

        self.dataset_label = QLabel(wordWrap=True)
        self.dataset_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        open_button = QPushButton("Open folder…")
        open_button.clicked.connect(self.open_requested)
        self.model_combo = QComboBox()
        self.model_combo.setEditable(True)  # timm:NAME can be typed in
        self.model_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        for name in ZOO:
            self.model_combo.addItem(name, name)
        self.weights_label = ElidedLabel()  # a long file name is elided in the middle, never widens the panel
        # pretrained, random (any model, offline) or a file; a small "…" button (a push button "Set…" is
        # 80 px) leaves the weights' name room to be read in a 250 px dock
        weights_button = QToolButton(text="…", popupMode=QToolButton.ToolButtonPopupMode.InstantPopup)
        weights_button.setToolTip("Choose the weights: pretrained, random (seeded, any model, offline) "
                                  "or a weights file")
        weights_menu = QMenu(weights_button)
        weights_menu.addAction("Pretrained", lambda: self.weights_chosen.emit(None))
        weights_menu.addAction("Random (seeded)", lambda: self.weights_chosen.emit("random"))
        weights_menu.addAction("Load weights file…", self.weights_requested.emit)
        weights_button.setMenu(weights_menu)
        self.weights_menu = weights_menu
        self.layer_picker = LayerPicker()  # a searchable tree by block; the popup is as wide as its columns
        self.layer_combo = self.layer_picker  # answers count / itemData / currentData / currentText
        self.layer_info = WrappedLabel()
        self.layer_info.setStyleSheet("color: #555;")
        self.method_combo = QComboBox()
        self.method_combo.addItem("t-SNE", "tsne")
        self.method_combo.addItem("PCA", "pca")
        self._add_umap()
        self.perplexity = QDoubleSpinBox(minimum=2.0, maximum=200.0, value=session.perplexity, decimals=0)
        self.seed = QSpinBox(minimum=0, maximum=10_000, value=session.seed)
        self.thumbs_box = QCheckBox("Thumbnails when zoomed in")

        data_box = QGroupBox("Dataset")
        dl = QVBoxLayout(data_box)
        dl.addWidget(self.dataset_label)
        dl.addWidget(open_button)
        model_box = QGroupBox("Network")
        ml = QFormLayout(model_box)
        ml.addRow("Model", self.model_combo)
        wrow = QHBoxLayout()
        wrow.addWidget(self.weights_label, 1)
        wrow.addWidget(weights_button)
        ml.addRow("Weights", wrow)
        ml.addRow("Layer", self.layer_picker)
        ml.addRow(self.layer_info)  # full width: shape, receptive field and stride wrap, never cut
        proj_box = QGroupBox("Map")
        pl = QFormLayout(proj_box)
        pl.addRow("Projection", self.method_combo)
        pl.addRow("Perplexity", self.perplexity)
        pl.addRow("Seed", self.seed)
        pl.addRow(self.thumbs_box)
        self.legend = LegendView(bridge)
        self.colour_note = WrappedLabel()  # its lines keep their height in the short Classes box
        self.colour_note.setStyleSheet("color: #444;")
        self.colour_note.hide()
        legend_box = QGroupBox("Classes (click to hide)")
        ll = QVBoxLayout(legend_box)
        ll.addWidget(self.colour_note)
        ll.addWidget(self.legend)

        lay = QVBoxLayout(self)
        for box in (data_box, model_box, proj_box):
            lay.addWidget(box)
        lay.addWidget(legend_box, 1)

        self.model_combo.activated.connect(self._model_activated)
        self.model_combo.lineEdit().editingFinished.connect(self._model_typed)
        self.layer_picker.layer_chosen.connect(self._layer_picked)
        self.method_combo.activated.connect(self._projection_changed)
        self.perplexity.editingFinished.connect(self._projection_changed)
        self.seed.editingFinished.connect(self._projection_changed)
        self.thumbs_box.toggled.connect(self.thumbnails_toggled)
        bridge.settings_changed.connect(self.refresh)
        bridge.run_changed.connect(self.refresh)
        bridge.colour_changed.connect(self._colour_changed)
        self.refresh()

    def set_model_statuses(self, statuses: dict[str, str]) -> None:
        for row in range(self.model_combo.count()):
            name = self.model_combo.itemData(row)
            if name in statuses:
                self.model_combo.setItemText(row, f"{name}  ({statuses[name]})")
        self.refresh()

    def refresh(self):
        self._filling = True
        s = self.session
        self.dataset_label.setText(s.dataset)
        row = self.model_combo.findData(s.model)
        if row < 0:
            self.model_combo.addItem(s.model, s.model)
            row = self.model_combo.count() - 1
        self.model_combo.setCurrentIndex(row)
        # the start of the name in view (an editable box shows the end of a long text), the whole on hover
        self.model_combo.lineEdit().setCursorPosition(0)
        self.model_combo.setToolTip(self.model_combo.currentText())
        self.weights_label.setText("pretrained" if s.weights is None else
                                   "random (seeded)" if s.weights == "random" else s.weights.rsplit("/", 1)[-1])
        self.weights_label.setToolTip("pretrained weights" if s.weights is None else
                                      "random weights (seeded)" if s.weights == "random" else s.weights)
        layers = s.layers or self._run_layer()
        self.layer_picker.set_layers(layers, s.layer)
        info = self.layer_picker.info()
        self.layer_info.setText("" if info is None else
                                f"{info.name}: {describe_layer(info)}"
                                + (" · recommended" if info.name == self.layer_picker.recommended else "")
                                + (f" · {s.device}" if s.device else ""))
        self.method_combo.setCurrentIndex(max(0, self.method_combo.findData(s.projection)))
        self.perplexity.setValue(s.perplexity)
        self.seed.setValue(s.seed)
        self.perplexity.setEnabled(s.projection == "tsne")
        self._filling = False

    def _add_umap(self):
        """UMAP, offered greyed out with the command that installs it when umap-learn is absent."""
        from ...core.analysis.umap_projection import UMAP_MISSING, umap_available

        if umap_available():
            self.method_combo.addItem("UMAP", "umap")
            return
        self.method_combo.addItem("UMAP (not installed)", "umap")
        item = self.method_combo.model().item(self.method_combo.count() - 1)
        item.setEnabled(False)
        item.setToolTip(UMAP_MISSING)

    def _run_layer(self) -> list[SimpleNamespace]:
        """The layer of the run on display, from its manifest: what the Layer box shows while the
        model's own list is unknown (a reopened run whose model is still loading, or was cancelled)."""
        run = self.session.run
        if run is None or run.layer != self.session.layer:
            return []
        stride = run.manifest["layers"][0].get("stride")
        # shaped like a LayerInfo, whose module imports torch (never on the GUI thread)
        return [SimpleNamespace(name=run.layer, shape=run.layer_shape(), receptive_field=run.receptive_field(),
                                stride=stride)]

    def _colour_changed(self):
        c, by = self.session.colour_channel, getattr(self.session, "colour_by", None)
        self.colour_note.setVisible(c is not None or by is not None)
        if c is not None:
            self.colour_note.setText(f"Coloured by channel {c} (measure as in the Neurons tab): dark blue = low, "
                                     "yellow = high. The classes below still hide points.")
        elif by is not None:
            self.colour_note.setText(f"Coloured by {by.title} (legend in the Map tab). The classes below "
                                     "still hide points.")

    def _model_activated(self, row: int):
        if not self._filling:
            self.model_chosen.emit(self.model_combo.itemData(row) or self.model_combo.itemText(row).split()[0])

    def _model_typed(self):
        """A typed name goes to the app whatever it is (timm:NAME, or a name it cannot load, which it names
        in its message before the box goes back to the map's model): a box that kept an ignored name
        showed a model the map was not of. A listed name chosen with Return arrives first (`activated`)."""
        text = self.model_combo.currentText().split()[0] if self.model_combo.currentText().strip() else ""
        if text and text != self.session.model:
            self.model_chosen.emit(text)

    def _layer_picked(self, name: str):
        if not self._filling:
            self.layer_chosen.emit(name)

    def _projection_changed(self, *_):
        if not self._filling:
            self.perplexity.setEnabled(self.method_combo.currentData() == "tsne")
            self.projection_chosen.emit(self.method_combo.currentData(), float(self.perplexity.value()),
                                        int(self.seed.value()))
