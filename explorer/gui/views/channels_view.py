"""The Channels tab: every channel of the layer, an image's strongest channels, a channel's top patches.

Channel statistics, patches and colouring are computed in the analysis lane from the run's stored
arrays; the channel table is a model over four arrays, so a layer of 25k channels costs what the
visible rows cost. One measure (core/analysis/measures.py) ranks, labels and colours everything, and
the tab says which: the mean over the map where a capped activation (ReLU6) saturates the maxima.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QListWidget,
                               QListWidgetItem, QPushButton, QScrollArea, QSizePolicy, QSpinBox, QSplitter,
                               QTableView, QVBoxLayout, QWidget)

from ..bridge import SessionBridge
from ..jobs import JobRunner
from ..thumbnails import pil_to_qimage, thumbnail_grid
from .overlay import OverlayView, overlay_caption
from ..widgets.labels import WrappedLabel

PATCH = 88
SATURATED = 0.5  # = core.analysis.measures.SATURATED (that module imports numpy only, but not at startup)
MEASURE_NAMES = {"max": "strongest unit (max)", "mean": "mean over the map"}


def wrapped(text: str = "") -> QLabel:
    return WrappedLabel(text)


class ChannelTable(QAbstractTableModel):
    """channel, mean and max activation per channel of the layer, and how often it sits at the layer's cap;
    sortable; Qt asks only for visible rows. Numbers show 4 significant digits (the run stores float16)."""

    HEADERS = ("ch", "mean", "max", "cap%")  # short: the dock may be narrow; tooltips say more
    TIPS = ("channel index", "mean over the images of the channel's mean over the map",
            "largest value of the channel's strongest unit over the images",
            "share of the images where the channel's strongest unit sits at the layer's cap (e.g. 6 after ReLU6); "
            f"at {SATURATED:.0%} or more the channel is saturated (orange): its maximum cannot rank images")

    def __init__(self, parent=None):
        super().__init__(parent)
        self._columns = (np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.float32),
                         np.zeros(0, np.float32))
        self._order = np.zeros(0, np.int64)  # row -> channel
        self.cap: float | None = None

    def set_stats(self, means: np.ndarray, maxima: np.ndarray, at_cap: np.ndarray | None = None,
                  cap: float | None = None) -> None:
        self.beginResetModel()
        at_cap = np.zeros(len(means), np.float32) if at_cap is None else np.asarray(at_cap, np.float32)
        self._columns = (np.arange(len(means)), np.asarray(means, np.float32), np.asarray(maxima, np.float32), at_cap)
        self._order = np.arange(len(means))
        self.cap = cap
        self.endResetModel()

    def at_cap(self, channel: int) -> float:
        return float(self._columns[3][channel]) if 0 <= channel < len(self._columns[3]) else 0.0

    def channel_at(self, row: int) -> int:
        return int(self._order[row])

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._order)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.HEADERS)

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        column, channel = index.column(), self._order[index.row()]
        value = self._columns[column][channel]
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return int(value)
            if column == 3:
                return "" if self.cap is None else f"{value:.0%}"
            return float(f"{value:.4g}")  # 0.2011, not 0.20114135742 cut to "0.2011..."
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        saturated = self.cap is not None and self._columns[3][channel] >= SATURATED
        if role == Qt.ItemDataRole.ForegroundRole and saturated:
            return QColor(190, 90, 0)
        if role == Qt.ItemDataRole.ToolTipRole:
            if self.cap is None:
                return f"channel {int(channel)}: mean {self._columns[1][channel]:.4g}, max {self._columns[2][channel]:.4g}"
            share = self._columns[3][channel]
            return (f"channel {int(channel)}: at the cap ({self.cap:g}) in {share:.0%} of the images"
                    + (" — saturated: rank it by the mean over the map" if saturated else ""))
        return None

    def headerData(self, section: int, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return self.TIPS[section]
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
    """Channel table, the selected image's strongest channels, a channel's patches and activation map.

    Rankings, values and colours use one measure (`measure_combo`): auto (the mean over the map where
    the layer's maxima saturate, else the strongest unit), the strongest unit, or the mean over the map.
    """

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
        self.summary = None  # core ChannelSummary of the run on display, once computed

        self.table_model = ChannelTable(self)
        self.table = QTableView()
        self.table.setModel(self.table_model)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)  # headers and numbers uncut
        header.setStretchLastSection(True)
        header.setMinimumSectionSize(30)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setSortingEnabled(True)
        self.measure_combo = QComboBox()
        self.measure_combo.addItem("auto", "auto")  # short texts: the note below spells the measure out
        self.measure_combo.addItem("max", "max")
        self.measure_combo.addItem("mean", "mean")
        self.measure_combo.setToolTip("What ranks channels and images, and colours the map: the channel's "
                                      "strongest unit, or its mean over the map. Auto uses the mean where the "
                                      "layer's activation is capped (ReLU6: many maxima read 6.00 and tie).")
        self.measure_note = wrapped()
        self.measure_note.setStyleSheet("color: #555;")
        self.strongest_label = wrapped("Strongest channels in the selected image")
        self.strongest = QListWidget()
        self.strongest.setFlow(QListWidget.Flow.LeftToRight)
        self.strongest.setWrapping(True)
        self.strongest.setMaximumHeight(64)
        self.k_spin = QSpinBox(minimum=1, maximum=64, value=12)
        self.colour_button = QPushButton("Colour map")
        self.colour_button.setCheckable(True)
        self.colour_button.setToolTip("Colour the map by this channel in each image (by the measure above): "
                                      "dark blue = low, yellow = high")
        self.title = wrapped("Choose a channel")
        self.patch_list = thumbnail_grid(PATCH)
        self.overlay = OverlayView()  # true aspect, colour scale, caption, on/off and opacity
        self.overlay.setMinimumHeight(120)
        self.overlay.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        self.table.setMinimumHeight(80)
        self.patch_list.setMinimumHeight(PATCH + 30)
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(self.strongest_label)
        tl.addWidget(self.strongest)
        tl.addWidget(wrapped("All channels (click a header to sort)"))
        tl.addWidget(self.table, 1)
        bottom = QWidget()
        bl = QVBoxLayout(bottom)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addWidget(self.title)  # a line of its own: the channel, the measure, the count and any missing files
        row = QHBoxLayout()
        row.addWidget(QLabel("top"))
        row.addWidget(self.k_spin)
        row.addStretch(1)
        row.addWidget(self.colour_button)
        bl.addLayout(row)
        bl.addWidget(self.patch_list, 2)
        bl.addWidget(self.overlay, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(bottom)
        split.setSizes([300, 500])
        split.setChildrenCollapsible(False)
        content = QWidget()  # in a scroll area: a short dock scrolls instead of cutting lines off
        lay = QVBoxLayout(content)
        lay.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidget(content)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        mrow = QHBoxLayout()  # above the splitter: its wrapped note keeps the height it needs
        mrow.addWidget(QLabel("Rank by"))
        mrow.addWidget(self.measure_combo, 1)
        lay.addLayout(mrow)
        lay.addWidget(self.measure_note)
        lay.addWidget(split, 1)

        bridge.run_changed.connect(self._run_changed)
        bridge.selection_changed.connect(self._selection_changed)
        self.table.selectionModel().selectionChanged.connect(self._table_clicked)
        self.strongest.itemClicked.connect(lambda item: self.choose(int(item.data(Qt.ItemDataRole.UserRole))))
        self.patch_list.itemClicked.connect(self._patch_clicked)
        self.k_spin.valueChanged.connect(lambda _: self.choose(self.channel) if self.channel is not None else None)
        self.colour_button.toggled.connect(self._colour_toggled)
        self.measure_combo.activated.connect(self._measure_changed)

    # --- the measure --------------------------------------------------------------------------------
    @property
    def cap(self) -> float | None | bool:
        """The layer's cap once the statistics know it (None: no cap); False while they are computed."""
        return self.summary.cap if self.summary is not None else False

    def measure(self) -> str:
        """The measure on display: 'max' or 'mean' (auto resolved with the layer's cap, when known)."""
        chosen = self.measure_combo.currentData()
        if chosen != "auto":
            return chosen
        return "max" if self.summary is None or self.summary.cap is None else "mean"

    def _describe_measure(self) -> None:
        run, measure = self.session.run, self.measure()
        self.measure_combo.setItemText(0, f"auto ({measure})" if self.summary is not None else "auto")
        if run is None or self.summary is None:
            self.measure_note.setText("")
            return
        cap, n = self.summary.cap, int(self.summary.saturated.sum())
        if cap is None:
            note = f"Values: {MEASURE_NAMES[measure]}; {run.layer} does not saturate."
        else:
            note = (f"{run.layer} is capped at {cap:g}: {n} channels saturated (orange)"
                    + (", their maxima tie: values are means over the map." if measure == "mean" else
                       "; ties at the cap are ordered by the mean."))
        self.measure_note.setText(note)
        self.measure_note.setToolTip(f"Saturated: at the cap in {SATURATED:.0%} or more of the images. "
                                     f"Values shown: each channel's {MEASURE_NAMES[measure]} in an image.")
        self.strongest_label.setText(f"Strongest channels in this image, by {measure}")

    def _measure_changed(self, *_):
        self._describe_measure()
        self._selection_changed()
        if self.channel is not None:
            self.choose(self.channel)

    # --- channel table ------------------------------------------------------------------------------
    def _run_changed(self):
        run = self.session.run
        self.channel = None
        self.summary = None
        self.patch_list.clear()
        self.overlay.clear()
        self.colour_button.setChecked(False)
        self.table_model.set_stats(np.zeros(0), np.zeros(0))
        self._stats_for = None
        self._describe_measure()
        if run is None:
            return
        self._compute_stats(run)
        self._selection_changed()

    def _compute_stats(self, run):
        self._stats_for = run
        self.title.setText("Computing channel statistics…")

        def stats():
            from ...core.analysis.measures import channel_summary

            return channel_summary(run)

        def cancelled():  # nothing will come: the next selection computes them again
            if self._stats_for is run and self.table_model.rowCount() == 0:
                self._stats_for = None
                self.title.setText("Channel statistics were cancelled; select an image to compute them again.")

        self.lane.start("Channel statistics", stats, lambda out: self._fill_table(run, out), key="channel-stats",
                        on_error=lambda message: self.title.setText(f"Cannot compute channel statistics: {message}"),
                        on_cancel=cancelled)

    def _fill_table(self, run, summary):
        if run is not self.session.run:
            return
        self.summary = summary
        self.table.setSortingEnabled(False)
        self.table_model.set_stats(summary.means, summary.maxima, summary.at_cap, summary.cap)
        self.table.setColumnHidden(3, summary.cap is None)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self._describe_measure()
        if self.channel is None:
            self.title.setText(f"{len(summary.means)} channels in {run.layer}: choose one in the table")
        self._selection_changed()
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
            self.overlay.clear()  # one image's map under a multi-selection would claim to be theirs
            return
        measure = self.measure()
        for c, value in top_channels(run, sel[0], 10, measure):
            share = self.table_model.at_cap(c)
            item = QListWidgetItem(f"{c} ({value:.2f})" + (" ⚠" if share >= SATURATED else ""))
            item.setData(Qt.ItemDataRole.UserRole, c)
            item.setToolTip(f"channel {c}: {MEASURE_NAMES[measure]} {value:.4g} in this image"
                            + (f"; saturated (at the cap in {share:.0%} of the images)" if share >= SATURATED else ""))
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
        k, measure = self.k_spin.value(), self.measure()
        self.title.setText(self._title(channel, k, measure))
        if self.colour_button.isChecked():
            self._colour_by(channel)

        def work():
            ranked = channel_patches(run, channel, k, measure).ranked  # unreadable images come as MissingPatch
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

    def _title(self, channel: int, k: int, measure: str) -> str:
        share = self.table_model.at_cap(channel)
        flag = (f" Saturated: at the cap in {share:.0%} of the images." if share >= SATURATED else
                f" At the cap in {share:.0%} of the images." if share > 0 else "")
        return (f"Channel {channel}: top {k} images by {MEASURE_NAMES[measure]} (patch = receptive field of the "
                f"strongest unit).{flag}")

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
        measure = MEASURE_NAMES[self.measure()]
        for p, image in zip(patches, images):
            gone = isinstance(p, MissingPatch)
            item = QListWidgetItem(f"{p.activation:.2f}\n{'missing' if gone else self.session.labels[p.index] or '-'}")
            item.setData(Qt.ItemDataRole.UserRole, p.index)
            item.setToolTip(p.reason if gone else f"{p.path}\n{measure} {p.activation:.4g} · box {list(p.box)} · "
                                                  f"unit {p.unit}")
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
        """Colour the map by a channel, by the measure on display: one column read in the analysis lane."""
        from ...core.analysis.measures import colour_codes
        from ...core.session import RAMP_STEPS

        run, measure = self.session.run, self.measure()

        def coloured(codes):
            if run is self.session.run and self.colour_button.isChecked() and self.channel == channel:
                self.session.set_colour_channel(channel, codes)

        def cancelled():  # the map stays as it is: the button must say so
            if run is self.session.run and self.channel == channel and self.colour_button.isChecked() \
                    and self.session.colour_channel != channel:
                self.colour_button.setChecked(False)

        self.lane.start("Colouring the map", lambda: colour_codes(run, channel, measure, RAMP_STEPS), coloured,
                        key="colour", on_cancel=cancelled)

    def show_overlay(self, index: int, channel: int, image, channel_map, box):
        run = self.session.run
        name = run.rows[index].path.rsplit("/", 1)[-1] if run is not None else f"#{index}"
        self.overlay.show_map(image, channel_map, box, overlay_caption(channel, run.layer if run else "", name))
