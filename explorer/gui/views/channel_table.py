"""The channel table: every channel of the layer with its mean, max and share at the cap; sortable."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QColor

SATURATED = 0.5  # = core.analysis.measures.SATURATED (that module imports numpy only, but not at startup)


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
