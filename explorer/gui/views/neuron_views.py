"""Look inside the network: first-layer kernels, channels, their patches and activation maps.

Everything here reads core results: kernel grids from the loaded model, channel
statistics and maximally activating patches from the run's stored maxima. Only the
activation map of one image runs the network, on a worker thread.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton,
                               QScrollArea, QSpinBox, QSplitter, QTableWidget, QTableWidgetItem, QTabWidget,
                               QVBoxLayout, QWidget)
from superqt.utils import create_worker

from ..state import ExplorerState
from ..thumbnails import pil_to_qimage, thumbnail_grid

PATCH = 88


class KernelsView(QScrollArea):
    """The first convolution's kernels, enlarged without blur; hover names a kernel and its norm."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.grid = None
        self.label = QLabel("The kernels appear once the model is loaded.", alignment=Qt.AlignmentFlag.AlignCenter)
        self.label.setMouseTracking(True)
        self.label.mouseMoveEvent = self._hover
        self.caption = QLabel()
        inner = QWidget()
        lay = QVBoxLayout(inner)
        lay.addWidget(self.caption)
        lay.addWidget(self.label, 0, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        lay.addStretch(1)
        self.setWidget(inner)
        self.setWidgetResizable(True)

    def set_model(self, module, name: str):
        from ...core.model.kernels import kernel_grid

        self.grid = kernel_grid(module)
        g = self.grid
        from PIL import Image

        self.label.setPixmap(QPixmap.fromImage(pil_to_qimage(Image.fromarray(g.image))))
        self.label.setFixedSize(g.image.shape[1], g.image.shape[0])
        kh, kw = g.kernel_size
        self.caption.setText(f"{name} · {g.layer}: {g.n_kernels} kernels of {kh}×{kw} "
                             f"({'RGB' if g.colour else 'grey'}; mid-grey = 0)")

    def _hover(self, event):
        if self.grid is None:
            return
        i = self.grid.tile_at(int(event.position().x()), int(event.position().y()))
        self.label.setToolTip(f"kernel {i} · L2 norm {self.grid.norms[i]:.3f}" if i >= 0 else "")


class ChannelsView(QWidget):
    """Channel table, the selected image's strongest channels, a channel's patches and activation map."""

    overlay_requested = Signal(int, int)  # item index, channel
    patches_shown = Signal()
    table_filled = Signal()

    def __init__(self, state: ExplorerState, parent=None):
        super().__init__(parent)
        self.state = state
        self.channel: int | None = None
        self.patches: list = []  # core Patch objects on display
        self._worker = None

        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["channel", "mean", "max"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setSortingEnabled(True)
        self.strongest = QListWidget()
        self.strongest.setFlow(QListWidget.Flow.LeftToRight)
        self.strongest.setWrapping(True)
        self.strongest.setMaximumHeight(64)
        self.k_spin = QSpinBox(minimum=1, maximum=64, value=12)
        self.colour_button = QPushButton("Colour map by this channel")
        self.colour_button.setCheckable(True)
        self.title = QLabel("Choose a channel")
        self.patch_list = thumbnail_grid(PATCH)
        self.overlay = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.overlay.setMinimumHeight(160)

        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(QLabel("Strongest channels in the selected image"))
        tl.addWidget(self.strongest)
        tl.addWidget(QLabel("All channels of the layer (click a header to sort)"))
        tl.addWidget(self.table, 1)
        bottom = QWidget()
        bl = QVBoxLayout(bottom)
        bl.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(self.title, 1)
        row.addWidget(QLabel("top"))
        row.addWidget(self.k_spin)
        row.addWidget(self.colour_button)
        bl.addLayout(row)
        bl.addWidget(self.patch_list, 2)
        bl.addWidget(self.overlay, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(bottom)
        split.setSizes([300, 500])
        lay = QVBoxLayout(self)
        lay.addWidget(split)

        state.run_changed.connect(self._run_changed)
        state.selection_changed.connect(self._selection_changed)
        self.table.itemSelectionChanged.connect(self._table_clicked)
        self.strongest.itemClicked.connect(lambda item: self.choose(int(item.data(Qt.ItemDataRole.UserRole))))
        self.patch_list.itemClicked.connect(self._patch_clicked)
        self.k_spin.valueChanged.connect(lambda _: self.choose(self.channel) if self.channel is not None else None)
        self.colour_button.toggled.connect(self._colour_toggled)

    # --- channel table ------------------------------------------------------------------------------
    def _run_changed(self):
        from ...core.analysis.patches import channel_stats

        run = self.state.run
        self.channel = None
        self.patch_list.clear()
        self.overlay.clear()
        self.colour_button.setChecked(False)
        self.table.setSortingEnabled(False)
        self.table.setRowCount(0)
        if run is None:
            return
        self.title.setText("Computing channel statistics…")
        worker = create_worker(channel_stats, run, _start_thread=False, _ignore_errors=True)
        worker.returned.connect(lambda stats: self._fill_table(run, *stats))
        self._stats_worker = worker
        worker.start()
        self._selection_changed()

    def _fill_table(self, run, means, maxima):
        if run is not self.state.run:
            return
        self.table.setRowCount(len(means))
        for c, (mean, mx) in enumerate(zip(means, maxima)):
            for col, value in enumerate((c, float(mean), float(mx))):
                item = QTableWidgetItem()
                item.setData(Qt.ItemDataRole.DisplayRole, value if col else int(value))
                self.table.setItem(c, col, item)
        self.table.setSortingEnabled(True)
        self.table.resizeColumnsToContents()
        if self.channel is None:
            self.title.setText(f"{len(means)} channels in {run.manifest['layer']}: choose one")
        self.table_filled.emit()

    def _table_clicked(self):
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.choose(int(self.table.item(rows[0].row(), 0).data(Qt.ItemDataRole.DisplayRole)))

    def _selection_changed(self):
        from ...core.analysis.patches import top_channels

        self.strongest.clear()
        run, sel = self.state.run, self.state.selection
        if run is None or len(sel) != 1 or not run.done_mask[sel[0]]:
            return
        for c, value in top_channels(run, sel[0], 10):
            item = QListWidgetItem(f"{c} ({value:.2f})")
            item.setData(Qt.ItemDataRole.UserRole, c)
            self.strongest.addItem(item)
        if self.channel is not None:
            self.overlay_requested.emit(sel[0], self.channel)

    # --- a channel's patches ------------------------------------------------------------------------
    def choose(self, channel: int):
        from ...core.analysis.patches import crop_patch, top_patches

        run = self.state.run
        if run is None:
            return
        self.channel = channel
        k = self.k_spin.value()
        self.title.setText(f"Channel {channel}: top {k} images (patch = receptive field of the strongest unit)")
        if self.colour_button.isChecked():
            self.state.set_colour_channel(channel)

        def work():
            patches = top_patches(run, channel, k)
            images = []
            for p in patches:
                try:
                    images.append(pil_to_qimage(crop_patch(run, p)))
                except Exception:  # an image that vanished since the embedding
                    images.append(None)
            return channel, patches, images

        worker = create_worker(work, _start_thread=False, _ignore_errors=True)
        worker.returned.connect(self._show_patches)
        worker.errored.connect(lambda exc: self.title.setText(f"Cannot show patches: {exc}"))
        self._worker = worker
        worker.start()
        if len(self.state.selection) == 1:
            self.overlay_requested.emit(self.state.selection[0], channel)

    def _show_patches(self, out):
        channel, patches, images = out
        if channel != self.channel:
            return
        self.patch_list.clear()
        self.patches = patches
        for p, image in zip(patches, images):
            item = QListWidgetItem(f"{p.activation:.2f}\n{self.state.labels[p.index] or '-'}")
            item.setData(Qt.ItemDataRole.UserRole, p.index)
            item.setToolTip(f"{p.path}\nbox {list(p.box)} · unit {p.unit}")
            if image is not None:
                item.setIcon(QPixmap.fromImage(image).scaled(
                    PATCH, PATCH, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation))
            self.patch_list.addItem(item)
        self.patches_shown.emit()

    def _patch_clicked(self, item: QListWidgetItem):
        self.state.set_selection([int(item.data(Qt.ItemDataRole.UserRole))], focus=True)

    def _colour_toggled(self, on: bool):
        self.state.set_colour_channel(self.channel if on and self.channel is not None else None)

    def show_overlay(self, image):
        self.overlay.setPixmap(QPixmap.fromImage(pil_to_qimage(image)).scaled(
            320, 240, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))


class NeuronViews(QTabWidget):
    """Kernels and channels in one dock; the main window feeds it the loaded model."""

    overlay_shown = Signal()

    def __init__(self, state: ExplorerState, parent=None):
        super().__init__(parent)
        self.state = state
        self.channels = ChannelsView(state)
        self.kernels = KernelsView()
        self.addTab(self.channels, "Channels")
        self.addTab(self.kernels, "Kernels")
        self._model = None
        self._extractor = None
        self._overlay_worker = None
        self.channels.overlay_requested.connect(self._overlay)

    def set_model(self, prepared):
        """A loaded model (core Prepared): kernels now; activation maps on request."""
        self._model = prepared.model
        self._graph = prepared.graph
        self._extractor = None
        self.kernels.set_model(prepared.model.module, prepared.model.name)

    def _overlay(self, index: int, channel: int):
        """Run the network on one image (worker thread) and lay the channel's map over it."""
        if self._model is None or self.state.run is None:
            self.channels.overlay.setText("Activation map: waiting for the model")
            return
        run, model, graph, layer = self.state.run, self._model, self._graph, self.state.run.manifest["layer"]

        def work():
            from ...core.analysis.activation import layer_output, overlay
            from ...core.run.images import load_item

            cached = self._extractor  # one read: another overlay worker may replace it meanwhile
            if cached is None or cached[0] != (id(model), layer):
                cached = ((id(model), layer), graph.extractor([layer]))  # cut from the one traced graph
                self._extractor = cached
            image = load_item(run, index)
            out = layer_output(cached[1], model.preprocess, image, layer)
            if out.ndim != 3:
                return index, channel, None
            return index, channel, overlay(image, out[channel], model.preprocess)

        def done(result):
            i, c, image = result
            if image is None:
                self.channels.overlay.setText("This layer has no spatial map to show.")
            elif self.state.selection == [i] and self.channels.channel == c:
                self.channels.show_overlay(image)
                self.overlay_shown.emit()

        worker = create_worker(work, _start_thread=False, _ignore_errors=True)
        worker.returned.connect(done)
        worker.errored.connect(lambda exc: self.channels.overlay.setText(f"Cannot compute the map: {exc}"))
        self._overlay_worker = worker
        worker.start()

