"""The gallery: the selected image, its nearest neighbours in feature space, or a multi-selection.

The neighbours are ringed on the map (session.neighbours) and captioned with their file names;
Export writes them as CSV. Click or Enter selects a listed image, a double-click (on the list or
the preview) opens it large, a right-click copies its path or opens its folder.

Neighbours come from core.neighbours over the full feature vectors, never from the
2-D map. The index is built once per run, and every query runs, in the analysis lane
(a query scans all features: milliseconds at 10k images, far more at a million).
"""

from __future__ import annotations

from collections import Counter

from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QPixmap
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QLabel, QListWidgetItem, QPushButton,
                               QSizePolicy, QSpinBox, QVBoxLayout, QWidget)

from ...core.analysis import approximate
from ...core.analysis.neighbours import NeighbourIndex
from ..bridge import SessionBridge
from ..jobs import JobRunner
from ..thumbnails import ThumbnailCache, thumbnail_grid
from ..widgets.image_viewer import file_menu, open_large
from .prediction_text import top5_html

THUMB = 96


class ScaledPreview(QLabel):
    """The selected image, scaled down (aspect kept) to the room the layout gives it.

    A plain QLabel asks for its pixmap's full size: a 320 px preview in a 700 px window left the
    neighbour grid a single row. Here the layout decides the height (stretch), the image follows.
    """

    def __init__(self):
        super().__init__(alignment=Qt.AlignmentFlag.AlignCenter)
        self._source = QPixmap()
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setMinimumHeight(120)

    def setPixmap(self, pix: QPixmap) -> None:
        self._source = QPixmap(pix)
        self._fit()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        room = self.contentsRect().size()
        if self._source.isNull():  # no image: the label's text ("Click a point…", "loading…") stays
            if not self.pixmap().isNull():
                super().setPixmap(self._source)
            return
        if room.width() < 2 or room.height() < 2:
            return
        scaled = self._source.size().scaled(room, Qt.AspectRatioMode.KeepAspectRatio)
        if scaled.width() > self._source.width():  # never larger than the preview was made
            scaled = self._source.size()
        super().setPixmap(self._source.scaled(scaled, Qt.AspectRatioMode.KeepAspectRatio,
                                              Qt.TransformationMode.SmoothTransformation))


class GalleryView(QWidget):
    neighbours_shown = Signal()  # the list now holds the neighbours of the selection (for tests)

    def __init__(self, bridge: SessionBridge, thumbs: ThumbnailCache, previews: ThumbnailCache, jobs: JobRunner,
                 parent=None):
        super().__init__(parent)
        self.bridge, self.jobs = bridge, jobs  # kept alive as long as the view
        self.session = session = bridge.session
        self.thumbs = thumbs
        self.previews = previews
        self.lane = jobs.analysis
        self._index: NeighbourIndex | None = None
        self._index_key = None
        self.shown_neighbours: list = []  # core Neighbour results on display

        self.preview = ScaledPreview()
        self.preview.setStyleSheet("background: #f4f4f4; border: 1px solid #ddd;")
        self.title = QLabel(wordWrap=True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.k_spin = QSpinBox(minimum=1, maximum=200, value=session.neighbour_k)
        self.metric_combo = QComboBox()
        self.metric_combo.addItems(["cosine", "euclidean"])
        self.caption = QLabel(wordWrap=True)
        self.export_button = QPushButton("CSV…")
        self.export_button.setToolTip("Write the neighbour list as CSV (rank, path, label, distance)")
        self.export_button.setEnabled(False)
        self.list = thumbnail_grid(THUMB)
        # two columns fit the 224 px dock at 1024x700 (the 112 px cells of thumbnail_grid: one); captions a
        # point smaller, so a name such as "solid_key_16.png" is still whole in a 98 px cell
        self.list.setIconSize(QSize(THUMB - 8, THUMB - 8))
        self.list.setGridSize(QSize(THUMB + 2, THUMB + 32))
        small = self.list.font()
        small.setPointSizeF(max(small.pointSizeF() - 1, 7.0))
        self.list.setFont(small)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.preview.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self._last_clicked: int | None = None  # a double-click's first click may have refilled the list
        self.viewers: list = []

        row = QHBoxLayout()
        row.addWidget(QLabel("Nearest"))
        row.addWidget(self.k_spin)
        row.addWidget(self.metric_combo)
        row.addStretch(1)
        caption_row = QHBoxLayout()
        caption_row.addWidget(self.caption, 1)
        caption_row.addWidget(self.export_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)  # the dock is narrow: room for the second column of neighbours
        lay.addWidget(self.preview, 1)  # 1:2 with the neighbours: two rows of them at 1024x700
        lay.addWidget(self.title)
        lay.addLayout(row)
        lay.addLayout(caption_row)
        lay.addWidget(self.list, 2)

        bridge.run_changed.connect(self._run_changed)
        bridge.selection_changed.connect(self.refresh)
        self.k_spin.valueChanged.connect(self._k_changed)
        self.metric_combo.currentTextChanged.connect(lambda _: self._run_changed())
        self.list.itemClicked.connect(self._clicked)
        self.list.itemActivated.connect(self._clicked)  # Enter on a neighbour selects it
        self.list.viewport().installEventFilter(self)
        self.preview.installEventFilter(self)
        self.list.customContextMenuRequested.connect(self._list_menu)
        self.preview.customContextMenuRequested.connect(self._preview_menu)
        self.export_button.clicked.connect(self.choose_export)
        thumbs.loaded.connect(self._thumb_loaded)
        previews.loaded.connect(self._preview_loaded)
        self.refresh()

    # --- neighbour index ------------------------------------------------------------------------
    def _run_changed(self):
        self._index = None
        self._index_key = None
        if self.session.run is None:
            return
        self._build_index()
        self.refresh()

    def _build_index(self):
        run = self.session.run
        key = (str(run.path), self.metric_combo.currentText())
        self._index_key = key  # being built (or built) for this run and metric
        features, valid, metric = run.features, run.done_mask, self.metric_combo.currentText()

        def built(index):
            if self._index_key == key:
                self._index = index
                self.refresh()

        def cancelled():  # nothing will come: the next single selection builds it again
            if self._index_key == key and self._index is None:
                self._index_key = None
                self.caption.setText("Indexing the features was cancelled; select an image to index them again.")

        # exact, or past APPROX_ABOVE images (with faiss) approximate, its build in Steps
        work = approximate.neighbour_index_steps(features, metric=metric, valid=valid)
        self.lane.start("Indexing features", work, built, key="neighbour-index",
                        on_error=lambda message: self.caption.setText(f"Cannot index features: {message}"),
                        on_cancel=cancelled)

    def _k_changed(self, k: int):
        self.session.neighbour_k = k
        self.refresh()

    # --- drawing ----------------------------------------------------------------------------------
    def refresh(self):
        self.list.clear()
        self.shown_neighbours = []
        self.export_button.setEnabled(False)
        self.session.neighbours = []
        sel = self.session.selection
        run = self.session.run
        if run is None or not sel:
            self.preview.setPixmap(QPixmap())
            self.preview.setText("Click a point to see the image\nand its nearest neighbours.")
            self.title.setText("")
            self.caption.setText("")
            return
        if len(sel) == 1:
            self._show_single(sel[0])
        else:
            self._show_many(sel)

    def _show_single(self, i: int):
        run = self.session.run
        self._set_preview(i)
        status, reason = run.status(i)
        label = self.session.labels[i] or "no label"
        self.title.setText(f"<b>{run.rows[i].path}</b><br>label: {label} · item #{i}" + top5_html(run, i)
                           + (f"<br><span style='color:#b00'>{reason}</span>" if status != "ok" else ""))
        if status != "ok":
            self.caption.setText("This image has no features.")
            return
        if self._index is None:
            if self._index_key is None:  # the last build was cancelled
                self._build_index()
            self.caption.setText("Indexing features…")
            return
        self.caption.setText("Finding neighbours…")
        index, k = self._index, self.k_spin.value()

        def cancelled():
            if (index, [i], k) == (self._index, self.session.selection, self.k_spin.value()):
                self.caption.setText("Finding neighbours was cancelled.")

        self.lane.start("Finding neighbours", lambda: index.query(i, k),
                        lambda found: self._show_neighbours(index, i, k, found), key="neighbours",
                        on_error=lambda message: self.caption.setText(f"Cannot find neighbours: {message}"),
                        on_cancel=cancelled)

    def _show_neighbours(self, index: NeighbourIndex, i: int, k: int, found: list):
        if (index, [i], k) != (self._index, self.session.selection, self.k_spin.value()):
            return  # asked for something else since
        labels = self.session.labels
        self.list.clear()
        self.shown_neighbours = found
        self._neighbours_of = i
        self.session.neighbours = [n.index for n in found]
        self.export_button.setEnabled(bool(found))
        agree = sum(labels[n.index] == labels[i] for n in found)
        self.caption.setText(f"{len(found)} nearest ({index.metric}), ringed purple on the map"
                             + (f" · {agree} share its label" if labels[i] else "")
                             + (f"<br>{index.note}" if getattr(index, "note", None) else ""))
        for n in found:
            self._add_item(n.index, f"{self._name(n.index)}\n{labels[n.index] or '-'} · {n.distance:.3f}")
        self.neighbours_shown.emit()

    def _show_many(self, sel: list[int]):
        counts = Counter(self.session.labels[i] or "no label" for i in sel)
        self.preview.setPixmap(QPixmap())
        self.preview.setText(f"{len(sel):,} images selected")
        self.title.setText(", ".join(f"{n} × {label}" for label, n in counts.most_common(8))
                           + (" …" if len(counts) > 8 else ""))
        shown = sel[:500]
        self.caption.setText(f"Showing {len(shown)} of {len(sel):,}" if len(sel) > len(shown) else "")
        for i in shown:
            self._add_item(i, self.session.labels[i] or "-")

    def _name(self, index: int) -> str:
        """The file name, elided in the middle to the grid's width (the tooltip has the whole path)."""
        name = self.session.run.rows[index].path.rsplit("/", 1)[-1]
        return QFontMetrics(self.list.font()).elidedText(name, Qt.TextElideMode.ElideMiddle, THUMB)

    def _add_item(self, index: int, text: str):
        item = QListWidgetItem(text)
        item.setData(Qt.ItemDataRole.UserRole, index)
        item.setToolTip(self.session.describe(index))
        pix = self.thumbs.pixmap(index)
        item.setIcon(pix if pix is not None else self._placeholder())  # full-size from the start
        self.list.addItem(item)

    def _placeholder(self) -> QPixmap:
        if not hasattr(self, "_blank"):
            self._blank = QPixmap(THUMB, THUMB)
            self._blank.fill(QColor(235, 235, 235))
        return self._blank

    def _set_preview(self, i: int):
        pix = self.previews.pixmap(i)
        if pix is None:
            self.preview.setPixmap(QPixmap())
            self.preview.setText("unreadable" if self.previews.failed(i) else "loading…")
        else:
            self.preview.setPixmap(pix)

    def _thumb_loaded(self, index: int):
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == index:
                pix = self.thumbs.pixmap(index)
                if pix is not None:
                    item.setIcon(pix)

    def _preview_loaded(self, index: int):
        if self.session.selection == [index]:
            self._set_preview(index)

    def _clicked(self, item: QListWidgetItem):
        index = int(item.data(Qt.ItemDataRole.UserRole))
        self._last_clicked = index
        self.session.select([index], focus=True)

    # --- the image large, its file, the list as CSV ---------------------------------------------------
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.MouseButtonDblClick and event.button() == Qt.MouseButton.LeftButton:
            if obj is self.preview:
                index = self.session.selection[0] if len(self.session.selection) == 1 else None
            else:  # the item under the pointer, or the one the first click selected (the list refills)
                item = self.list.itemAt(event.position().toPoint())
                index = int(item.data(Qt.ItemDataRole.UserRole)) if item is not None else self._last_clicked
            if index is not None:
                self.open_large(index)
                return True
        return False

    def open_large(self, index: int):
        if self.session.run is not None:
            self.viewers = [v for v in self.viewers if v is not None and v.isVisible()]
            self.viewers.append(open_large(self, self.jobs, self.session.run, index))

    def _list_menu(self, pos):
        item = self.list.itemAt(pos)
        if item is not None and self.session.run is not None:
            self.menu = file_menu(self, self.session.run, int(item.data(Qt.ItemDataRole.UserRole)))
            self.menu.popup(self.list.viewport().mapToGlobal(pos))

    def _preview_menu(self, pos):
        if len(self.session.selection) == 1 and self.session.run is not None:
            self.menu = file_menu(self, self.session.run, self.session.selection[0])
            self.menu.popup(self.preview.mapToGlobal(pos))

    def choose_export(self):
        path, _ = QFileDialog.getSaveFileName(self, "Export the neighbour list", "neighbours.csv", "CSV (*.csv)")
        if path:
            self.export_neighbours(path)

    def export_neighbours(self, path: str):
        """Write the listed neighbours as CSV, in the io lane."""
        from ...core.analysis.neighbour_table import neighbour_rows, write_neighbours_csv

        if not self.shown_neighbours or self._index is None:
            return
        run, query, found, metric = self.session.run, self._neighbours_of, list(self.shown_neighbours), \
            self._index.metric
        self.jobs.io.start("Neighbours CSV", lambda: write_neighbours_csv(path, neighbour_rows(run, query, found,
                                                                                                metric)),
                           lambda n: self.caption.setText(f"Wrote {n} neighbours to {path}"), key="neighbours-csv",
                           on_error=lambda message: self.caption.setText(f"Cannot write {path}: {message}"))
