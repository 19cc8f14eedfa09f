"""Look inside the network: first-layer kernels, channels, their patches and activation maps.

Everything here reads core results: kernel grids from the loaded model, channel
statistics and maximally activating patches from the run's stored maxima. Only the
activation map of one image runs the network. Statistics, patches, colouring and maps
are computed in the analysis lane; the channel table is a model over three arrays, so
a layer of 25k channels costs what the visible rows cost.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QListWidget, QListWidgetItem,
                               QPushButton, QScrollArea, QSpinBox, QSplitter, QTableView, QTabWidget, QVBoxLayout,
                               QWidget)

from ..bridge import SessionBridge
from ..jobs import JobRunner
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


class ChannelTable(QAbstractTableModel):
    """channel, mean and max activation per channel of the layer, sortable; Qt asks only for visible rows."""

    HEADERS = ("channel", "mean", "max")

    def __init__(self, parent=None):
        super().__init__(parent)
        self._columns = (np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.float32))
        self._order = np.zeros(0, np.int64)  # row -> channel

    def set_stats(self, means: np.ndarray, maxima: np.ndarray) -> None:
        self.beginResetModel()
        self._columns = (np.arange(len(means)), np.asarray(means, np.float32), np.asarray(maxima, np.float32))
        self._order = np.arange(len(means))
        self.endResetModel()

    def channel_at(self, row: int) -> int:
        return int(self._order[row])

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._order)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else 3

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and index.isValid():
            value = self._columns[index.column()][self._order[index.row()]]
            return int(value) if index.column() == 0 else float(value)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return None

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        """Reorder the rows; the selection (persistent indexes) moves with its channel, as in a
        QTableWidget, so the highlighted row always names the channel on display."""
        self.layoutAboutToBeChanged.emit()
        keys = self._columns[column]
        old = self._order
        self._order = np.argsort(keys if order == Qt.SortOrder.AscendingOrder else -keys.astype(np.float64),
                                 kind="stable")
        persistent = self.persistentIndexList()
        if persistent:
            row_of = np.empty(len(self._order), np.int64)  # channel -> its new row
            row_of[self._order] = np.arange(len(self._order))
            self.changePersistentIndexList(persistent, [
                self.index(int(row_of[old[p.row()]]), p.column()) if p.isValid() else p for p in persistent])
        self.layoutChanged.emit()


class ChannelsView(QWidget):
    """Channel table, the selected image's strongest channels, a channel's patches and activation map."""

    overlay_requested = Signal(int, int)  # item index, channel
    patches_shown = Signal()
    table_filled = Signal()

    def __init__(self, bridge: SessionBridge, jobs: JobRunner, parent=None):
        super().__init__(parent)
        self.bridge, self.jobs = bridge, jobs  # kept alive as long as the view
        self.session = bridge.session
        self.lane = jobs.analysis
        self.channel: int | None = None
        self.patches: list = []  # core Patch objects on display
        self._stats_for = None  # the run whose channel statistics are computed (or on their way)

        self.table_model = ChannelTable(self)
        self.table = QTableView()
        self.table.setModel(self.table_model)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setDefaultSectionSize(22)
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
        self.title.setWordWrap(True)  # a line of its own: the channel, the count and any missing files
        bl.addWidget(self.title)
        row = QHBoxLayout()
        row.addStretch(1)
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

        bridge.run_changed.connect(self._run_changed)
        bridge.selection_changed.connect(self._selection_changed)
        self.table.selectionModel().selectionChanged.connect(self._table_clicked)
        self.strongest.itemClicked.connect(lambda item: self.choose(int(item.data(Qt.ItemDataRole.UserRole))))
        self.patch_list.itemClicked.connect(self._patch_clicked)
        self.k_spin.valueChanged.connect(lambda _: self.choose(self.channel) if self.channel is not None else None)
        self.colour_button.toggled.connect(self._colour_toggled)

    # --- channel table ------------------------------------------------------------------------------
    def _run_changed(self):
        run = self.session.run
        self.channel = None
        self.patch_list.clear()
        self.overlay.clear()
        self.colour_button.setChecked(False)
        self.table_model.set_stats(np.zeros(0), np.zeros(0))
        self._stats_for = None
        if run is None:
            return
        self._compute_stats(run)
        self._selection_changed()

    def _compute_stats(self, run):
        self._stats_for = run
        self.title.setText("Computing channel statistics…")

        def stats():
            from ...core.analysis.patches import channel_stats

            return channel_stats(run)

        def cancelled():  # nothing will come: the next selection computes them again
            if self._stats_for is run and self.table_model.rowCount() == 0:
                self._stats_for = None
                self.title.setText("Channel statistics were cancelled; select an image to compute them again.")

        self.lane.start("Channel statistics", stats, lambda out: self._fill_table(run, *out), key="channel-stats",
                        on_error=lambda message: self.title.setText(f"Cannot compute channel statistics: {message}"),
                        on_cancel=cancelled)

    def _fill_table(self, run, means, maxima):
        if run is not self.session.run:
            return
        self.table.setSortingEnabled(False)
        self.table_model.set_stats(means, maxima)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        if self.channel is None:
            self.title.setText(f"{len(means)} channels in {run.layer}: choose one")
        self.table_filled.emit()

    def _table_clicked(self, *_):
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.choose(self.table_model.channel_at(rows[0].row()))

    def _selection_changed(self):
        from ...core.analysis.patches import top_channels

        self.strongest.clear()
        run, sel = self.session.run, self.session.selection
        if run is not None and self._stats_for is not run:  # the last computation was cancelled
            self._compute_stats(run)
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
        from ...core.analysis.patches import MissingPatch, channel_patches, crop_patch

        run = self.session.run
        if run is None:
            return
        self.channel = channel
        k = self.k_spin.value()
        self.title.setText(f"Channel {channel}: top {k} images (patch = receptive field of the strongest unit)")
        if self.colour_button.isChecked():
            self._colour_by(channel)

        def work():
            ranked = channel_patches(run, channel, k).ranked  # unreadable images come as MissingPatch
            images = []
            for i, p in enumerate(ranked):
                if isinstance(p, MissingPatch):
                    images.append(None)
                    continue
                try:
                    images.append(pil_to_qimage(crop_patch(run, p)))
                except Exception as exc:  # unreadable since it was ranked: say which file
                    ranked[i] = MissingPatch(p.index, p.path, p.label, p.activation, str(exc))
                    images.append(None)
            return channel, ranked, images

        def cancelled():  # the list holds another channel's patches, or nothing: say so
            if self.channel == channel and self.session.run is run:
                self.patch_list.clear()
                self.patches = []
                self.title.setText(f"Channel {channel}: finding its top images was cancelled")

        self.lane.start("Top patches", work, self._show_patches, key="patches",
                        on_error=lambda message: self.title.setText(f"Cannot show patches: {message}"),
                        on_cancel=cancelled)
        if len(self.session.selection) == 1:
            self.overlay_requested.emit(self.session.selection[0], channel)

    def _show_patches(self, out):
        channel, patches, images = out
        if channel != self.channel:
            return
        from ...core.analysis.patches import MissingPatch

        self.patch_list.clear()
        self.patches = patches
        missing = [p for p in patches if isinstance(p, MissingPatch)]
        if missing:
            names = ", ".join(p.path for p in missing[:2]) + (" ..." if len(missing) > 2 else "")
            self.title.setText(f"Channel {channel}: top {len(patches)} images; {len(missing)} cannot be read "
                               f"now ({names})")
        for p, image in zip(patches, images):
            gone = isinstance(p, MissingPatch)
            item = QListWidgetItem(f"{p.activation:.2f}\n{'missing' if gone else self.session.labels[p.index] or '-'}")
            item.setData(Qt.ItemDataRole.UserRole, p.index)
            item.setToolTip(p.reason if gone else f"{p.path}\nbox {list(p.box)} · unit {p.unit}")
            if image is not None:
                item.setIcon(QPixmap.fromImage(image).scaled(
                    PATCH, PATCH, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation))
            self.patch_list.addItem(item)
        self.patches_shown.emit()

    def _patch_clicked(self, item: QListWidgetItem):
        self.session.select([int(item.data(Qt.ItemDataRole.UserRole))], focus=True)

    def _colour_toggled(self, on: bool):
        if on and self.channel is not None:
            self._colour_by(self.channel)
        else:
            self.lane.cancel("colour")
            self.session.set_colour_channel(None)

    def _colour_by(self, channel: int):
        """Colour the map by a channel: its column of maxima is read once, in the analysis lane."""
        from ...core.session import channel_colour_codes

        run = self.session.run

        def coloured(codes):
            if run is self.session.run and self.colour_button.isChecked() and self.channel == channel:
                self.session.set_colour_channel(channel, codes)

        def cancelled():  # the map stays as it is: the button must say so
            if run is self.session.run and self.channel == channel and self.colour_button.isChecked() \
                    and self.session.colour_channel != channel:
                self.colour_button.setChecked(False)

        self.lane.start("Colouring the map", lambda: channel_colour_codes(run, channel), coloured, key="colour",
                        on_cancel=cancelled)

    def show_overlay(self, image):
        self.overlay.setPixmap(QPixmap.fromImage(pil_to_qimage(image)).scaled(
            320, 240, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))


class NeuronViews(QTabWidget):
    """Kernels and channels in one dock; the main window feeds it the loaded model."""

    overlay_shown = Signal()

    def __init__(self, bridge: SessionBridge, jobs: JobRunner, parent=None):
        super().__init__(parent)
        self.bridge, self.jobs = bridge, jobs
        self.session = bridge.session
        self.lane = jobs.analysis
        self.channels = ChannelsView(bridge, jobs)
        self.kernels = KernelsView()
        self.addTab(self.channels, "Channels")
        self.addTab(self.kernels, "Kernels")
        self._model = None
        self._extractor = None
        self.channels.overlay_requested.connect(self._overlay)

    def set_model(self, prepared):
        """A loaded model (core Prepared): kernels now; activation maps on request."""
        self._model = prepared.model
        self._graph = prepared.graph
        self._extractor = None
        self.kernels.set_model(prepared.model.module, prepared.model.name)

    def _overlay(self, index: int, channel: int):
        """Run the network on one image (worker thread) and lay the channel's map over it."""
        if self._model is None or self.session.run is None:
            self.channels.overlay.setText("Activation map: waiting for the model")
            return
        run, model, graph, layer = self.session.run, self._model, self._graph, self.session.run.layer

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
            elif self.session.selection == [i] and self.channels.channel == c:
                self.channels.show_overlay(image)
                self.overlay_shown.emit()

        def cancelled():  # the overlay shows another image or channel: say so instead
            if self.session.selection == [index] and self.channels.channel == channel:
                self.channels.overlay.setText("Activation map cancelled.")

        self.lane.start("Activation map", work, done, key="overlay",
                        on_error=lambda message: self.channels.overlay.setText(f"Cannot compute the map: {message}"),
                        on_cancel=cancelled)

