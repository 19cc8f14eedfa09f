"""The neuron atlas: a grid of the layer's channels, each cell its top dataset patch and, once
computed, its feature visualisation (the small picture in the corner).

A list model over arrays (core/analysis/atlas.py): Qt asks only for the cells on screen, and each
asks a one-thread pool for its patch (one image read and crop) and a look-up of its visualisation
in the cache (a file read, never an optimisation). A layer of 1,280 channels costs what a screenful
costs; a new run or measure starts a new generation and drops what the old one asked for.
"""

from __future__ import annotations

import atexit
import weakref
from collections import OrderedDict

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QRunnable, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QListView, QVBoxLayout, QWidget

from ..thumbnails import pil_to_qimage
from ..widgets.labels import WrappedLabel

CELL = 56
ORDERS = {"mean": "mean activation", "selectivity": "selectivity (one label)", "selection": "on the selection"}
ORDER_TIPS = {
    "mean": "Highest mean activation over the run's images first (by the measure above).",
    "selectivity": "Most concentrated on one label first: the top label's share of the channel's per-label mean "
                   "activations (100% = it fires on one label only; 1/L = alike on all L labels).",
    "selection": "Highest mean activation over the selected images first.",
}


def _drain(pool_ref) -> None:
    pool = pool_ref()
    try:
        if pool is not None:
            pool.clear()
            pool.waitForDone(5000)
    except RuntimeError:  # already deleted with its view
        pass


class _Done(QObject):
    finished = Signal(int, int, object, object, object)  # generation, channel, patch QImage, vis QImage, Patch


class _Load(QRunnable):
    """One cell: the channel's top patch and its cached visualisation (either may be None)."""

    def __init__(self, done, generation, run, channel, index, value, lookup):
        super().__init__()
        self.args = done, generation, run, channel, index, value, lookup

    def run(self):
        from ...core.analysis.atlas import top_patch
        from ...core.analysis.patches import crop_patch

        done, generation, run, channel, index, value, lookup = self.args
        patch = image = vis = None
        try:
            if index >= 0:
                patch = top_patch(run, channel, index, value)
                image = pil_to_qimage(crop_patch(run, patch).resize((CELL, CELL)))
        except Exception:  # unreadable now: the cell says so, the others load
            image = None
        try:
            found = lookup(channel) if lookup is not None else None
            vis = pil_to_qimage(found.resize((CELL // 2, CELL // 2))) if found is not None else None
        except Exception:
            vis = None
        try:
            done.finished.emit(generation, channel, image, vis, patch)
        except RuntimeError:  # the view was closed meanwhile: nobody waits for this cell
            pass


def cell_pixmap(patch: QImage | None, vis: QImage | None) -> QPixmap:
    """The patch filling the cell, the visualisation (if any) inset in its lower right corner."""
    pix = QPixmap(CELL, CELL)
    pix.fill(QColor(225, 225, 225))
    painter = QPainter(pix)
    if patch is not None:
        painter.drawImage(0, 0, patch)
    else:
        painter.setPen(QColor(120, 120, 120))
        painter.drawText(pix.rect(), Qt.AlignmentFlag.AlignCenter, "…")
    if vis is not None:
        half = CELL // 2
        painter.fillRect(half - 2, half - 2, half + 2, half + 2, QColor(255, 255, 255))
        painter.drawImage(half, half, vis)
    painter.end()
    return pix


class AtlasModel(QAbstractListModel):
    """One row per channel of the layer, in the chosen order; decoration loaded on demand."""

    cell_loaded = Signal(int)  # channel

    def __init__(self, parent=None):
        super().__init__(parent)
        self.run = None
        self.tops = None  # core ChannelTops
        self.lookup = None  # channel -> PIL visualisation from the cache, or None
        self._order = np.zeros(0, np.int64)  # row -> channel
        self._texts: dict[int, str] = {}
        self._tips: dict[int, str] = {}
        self._scores = None
        self._generation = 0
        self._cells: OrderedDict[int, tuple] = OrderedDict()  # channel -> (patch QImage, vis QImage, Patch)
        self._pixmaps: dict[int, QPixmap] = {}
        self.requested: set[int] = set()
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)  # image reads: one at a time leaves the CPU to the rest
        self._done = _Done()
        self._done.finished.connect(self._finished)
        atexit.register(_drain, weakref.ref(self._pool))  # no cell may start while Python shuts down

    # --- content ----------------------------------------------------------------------------------
    def set_tops(self, run, tops, lookup) -> None:
        self.beginResetModel()
        self.run, self.tops, self.lookup = run, tops, lookup
        self._forget()
        self._order = np.arange(len(tops.index)) if tops is not None else np.zeros(0, np.int64)
        self._texts, self._tips, self._scores = {}, {}, None
        self.endResetModel()

    def set_lookup(self, lookup) -> None:
        """Visualisations of another model or settings: every cell looks again."""
        self.lookup = lookup
        self.beginResetModel()
        self._forget()
        self.endResetModel()

    def _forget(self) -> None:
        self._generation += 1
        self._pool.clear()
        self._cells.clear()
        self._pixmaps.clear()
        self.requested.clear()

    def set_order(self, order: np.ndarray, texts: list[str], tips: list[str] | None = None) -> None:
        """Rows in `order` (channels); texts[c], tips[c]: each channel's second line and tooltip."""
        self.layoutAboutToBeChanged.emit()
        self._order = np.asarray(order, np.int64)
        self._texts = dict(enumerate(texts))
        self._tips = dict(enumerate(tips or []))
        self.layoutChanged.emit()

    def set_visualisation(self, channel: int, image) -> None:
        """A visualisation just computed: its cell shows it without asking the cache."""
        if channel in self._cells:
            patch, _, p = self._cells[channel]
            self._cells[channel] = (patch, pil_to_qimage(image.resize((CELL // 2, CELL // 2))), p)
            self._pixmaps.pop(channel, None)
            self._changed(channel)

    def channel_at(self, row: int) -> int:
        return int(self._order[row])

    def order(self) -> list[int]:
        return [int(c) for c in self._order]

    def patch(self, channel: int):
        """The core Patch the cell shows, once loaded (None before, or when unreadable)."""
        cell = self._cells.get(channel)
        return cell[2] if cell else None

    def has_visualisation(self, channel: int) -> bool:
        cell = self._cells.get(channel)
        return bool(cell and cell[1] is not None)

    # --- Qt ---------------------------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._order)

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self._order):
            return None
        channel = int(self._order[index.row()])
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{channel}" + (f"\n{self._texts[channel]}" if channel in self._texts else "")
        if role == Qt.ItemDataRole.DecorationRole:
            return self._pixmap(channel)
        if role == Qt.ItemDataRole.ToolTipRole:
            extra = self._tips.get(channel, "")
            return f"channel {channel}" + (f": {extra}" if extra else "") + \
                "\npatch: where it fires most in the dataset; corner: its feature visualisation (when computed)"
        if role == Qt.ItemDataRole.UserRole:
            return channel
        return None

    def _pixmap(self, channel: int) -> QPixmap:
        if channel in self._pixmaps:
            return self._pixmaps[channel]
        cell = self._cells.get(channel)
        if cell is None:
            self._request(channel)
            return cell_pixmap(None, None)
        pix = self._pixmaps[channel] = cell_pixmap(cell[0], cell[1])
        return pix

    def _request(self, channel: int) -> None:
        if channel in self.requested or self.tops is None:
            return
        self.requested.add(channel)
        index, value = int(self.tops.index[channel]), float(self.tops.value[channel])
        self._pool.start(_Load(self._done, self._generation, self.run, channel, index, value, self.lookup))

    def _finished(self, generation, channel, image, vis, patch) -> None:
        if generation != self._generation:
            return
        self._cells[channel] = (image, vis, patch)
        self._pixmaps.pop(channel, None)
        self._changed(channel)
        self.cell_loaded.emit(channel)

    def _changed(self, channel: int) -> None:
        rows = np.flatnonzero(self._order == channel)
        if len(rows):
            i = self.index(int(rows[0]))
            self.dataChanged.emit(i, i, [Qt.ItemDataRole.DecorationRole])

    def wait(self, msecs: int = 10_000) -> bool:
        return self._pool.waitForDone(msecs)


class AtlasView(QWidget):
    """The sort order above the grid; a click on a cell emits `channel_clicked`."""

    channel_clicked = Signal(int)
    order_changed = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model = AtlasModel(self)
        self.order_combo = QComboBox()
        for key, text in ORDERS.items():
            self.order_combo.addItem(text, key)
            self.order_combo.setItemData(self.order_combo.count() - 1, ORDER_TIPS[key], Qt.ItemDataRole.ToolTipRole)
        self.order_combo.setToolTip("\n".join(ORDER_TIPS.values()))
        self.grid = QListView()
        self.grid.setModel(self.model)
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setIconSize(QSize(CELL, CELL))
        self.grid.setGridSize(QSize(CELL + 12, CELL + 34))  # two lines: the channel, its score
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setUniformItemSizes(True)  # Qt then sizes one cell, not 1,280
        self.grid.setLayoutMode(QListView.LayoutMode.Batched)
        self.grid.setWordWrap(True)
        self.grid.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.grid.setMinimumHeight(CELL + 30)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Sort"))
        row.addWidget(self.order_combo, 1)
        self.note = WrappedLabel()
        self.note.setStyleSheet("color: #555;")
        self.note.hide()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(row)
        lay.addWidget(self.note)
        lay.addWidget(self.grid, 1)
        self.grid.clicked.connect(lambda index: self.channel_clicked.emit(self.model.channel_at(index.row())))
        self.order_combo.activated.connect(lambda _: self.order_changed.emit(self.order_combo.currentData()))

    def set_note(self, text: str) -> None:
        """A line under the sort order (why it fell back, what to select); hidden when empty."""
        self.note.setText(text)
        self.note.setVisible(bool(text))

    def current_order(self) -> str:
        return self.order_combo.currentData()

    def select_channel(self, channel: int) -> None:
        """Highlight a channel's cell (chosen elsewhere) without emitting a click."""
        order = self.model.order()
        if channel in order:
            index = self.model.index(order.index(channel))
            self.grid.setCurrentIndex(index)
            self.grid.scrollTo(index)
