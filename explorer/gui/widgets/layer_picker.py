"""The Layer box: a searchable tree of the model's layers, grouped by block.

A model has hundreds of selectable nodes (EfficientNet-Lite0: 153, a third of them identities in
eval mode such as `*.aa` and `*.drop_path`). The picker is a button naming the layer on display;
it opens a popup with a search field and a tree: blocks (`layer3`, `blocks.5.2`) hold their
layers, a block row stands for the block's output (as torchvision's create_feature_extractor reads
a module name), the recommended layer carries a star, pass-through nodes are hidden unless asked
for, and shape and receptive field sit in columns wide enough for their text.

Typing a layer or block name and pressing Enter chooses it. The picker emits layer names only,
never block names, so the session always holds the layer the run was made with.
"""

from __future__ import annotations

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QFrame, QHeaderView, QLineEdit, QPushButton,
                               QSizePolicy, QStyle, QTreeView, QVBoxLayout, QWidget)

from ...core.model.layers import block_outputs, default_layer
from ...core.errors import ExplorerError

NAME = Qt.ItemDataRole.UserRole + 1  # the full layer or block name (what the search matches)
TARGET = Qt.ItemDataRole.UserRole + 2  # the layer a row chooses: itself, or a block's output
PASSTHROUGH = Qt.ItemDataRole.UserRole + 3  # an identity in eval mode: hidden unless asked for
STAR = "★"


def shape_text(info) -> str:
    return "×".join(str(v) for v in info.shape)


def field_text(info) -> str:
    return f"{info.receptive_field} px" if info.receptive_field else "pooled"


def describe(info) -> str:
    """shape · receptive field · stride, as the Layer box's caption shows it."""
    return (f"{shape_text(info)} · receptive field {info.receptive_field or '-'} px · "
            f"stride {info.stride or '-'}")


class _Filter(QSortFilterProxyModel):
    """Matches the search against full names (blocks keep their matching children), and hides
    pass-through layers unless they are asked for (or on display)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.show_passthrough = False
        self.keep: str | None = None  # the layer on display is never hidden
        self.setRecursiveFilteringEnabled(True)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setFilterRole(NAME)

    def filterAcceptsRow(self, row: int, parent) -> bool:
        index = self.sourceModel().index(row, 0, parent)
        item = self.sourceModel().itemFromIndex(index)
        if item is not None and item.data(PASSTHROUGH) and not self.show_passthrough \
                and item.data(NAME) != self.keep:
            return False
        return super().filterAcceptsRow(row, parent)


class LayerPopup(QFrame):
    """The popup: search, 'show pass-through', the tree."""

    chosen = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent, Qt.WindowType.Popup)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.search = QLineEdit(placeholderText="Search layers or blocks (Enter chooses)…")
        self.search.setClearButtonEnabled(True)
        self.passthrough = QCheckBox("Show pass-through layers (identities in eval mode)")
        self.model = QStandardItemModel(0, 3, self)
        self.model.setHorizontalHeaderLabels(["layer", "shape", "receptive field"])
        self.proxy = _Filter(self)
        self.proxy.setSourceModel(self.model)
        self.tree = QTreeView()
        self.tree.setModel(self.proxy)
        self.tree.setUniformRowHeights(True)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.tree.header().setStretchLastSection(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.search)
        lay.addWidget(self.passthrough)
        lay.addWidget(self.tree)
        self.search.textChanged.connect(self._filter)
        self.search.returnPressed.connect(self._typed)
        self.passthrough.toggled.connect(self._show_passthrough)
        self.tree.clicked.connect(self._clicked)
        self.tree.activated.connect(self._activated)
        self.names: list[str] = []
        self.blocks: dict[str, str] = {}

    # --- filling ---------------------------------------------------------------------------------
    def fill(self, layers: list, current: str | None, recommended: str | None) -> None:
        self.model.removeRows(0, self.model.rowCount())
        self.names = [info.name for info in layers]
        self.blocks = block_outputs(self.names)
        by_name = {info.name: info for info in layers}
        groups: dict[str, QStandardItem] = {}
        self.proxy.keep = current

        def parent_of(name: str) -> QStandardItem:
            parts = name.split(".")
            parent = self.model.invisibleRootItem()
            for depth in range(1, len(parts)):
                block = ".".join(parts[:depth])
                if block not in groups:
                    out = by_name[self.blocks[block]]
                    row = self._row(block, out, block=True, recommended=False,
                                    tip=f"block {block}: choosing it chooses its output, {out.name}")
                    parent.appendRow(row)
                    groups[block] = row[0]
                parent = groups[block]
            return parent

        for info in layers:
            passthrough = bool(getattr(info, "passthrough", False))
            tip = info.name + (" — pass-through: the same numbers as the layer before it" if passthrough else "")
            row = self._row(info.name, info, block=False, recommended=info.name == recommended, tip=tip)
            row[0].setData(passthrough, PASSTHROUGH)
            if passthrough:
                for item in row:
                    item.setForeground(self.palette().placeholderText())
                    font = item.font()
                    font.setItalic(True)
                    item.setFont(font)
            if info.name == current:
                for item in row:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
            parent_of(info.name).appendRow(row)
        self._filter(self.search.text())

    def _row(self, name: str, info, *, block: bool, recommended: bool, tip: str) -> list[QStandardItem]:
        short = name if block or "." not in name else name.rsplit(".", 1)[1]
        label = QStandardItem(short + (f"  {STAR} recommended" if recommended else ""))
        label.setData(name, NAME)
        label.setData(info.name, TARGET)
        label.setToolTip(tip)
        cells = [label, QStandardItem(shape_text(info)), QStandardItem(field_text(info))]
        for cell in cells[1:]:
            cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            cell.setToolTip(tip)
        return cells

    # --- showing ---------------------------------------------------------------------------------
    def open_below(self, anchor: QWidget, current: str | None) -> None:
        self.search.clear()
        self._filter("")
        self.tree.collapseAll()
        index = self._index_of(current)
        if index is not None:
            self.tree.setCurrentIndex(index)
            self.tree.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)
        for column in range(3):
            self.tree.resizeColumnToContents(column)
        # wide enough for every column (names, shapes, fields never clipped), up to the screen
        screen = anchor.screen().availableGeometry()
        width = sum(self.tree.columnWidth(c) for c in range(3)) + self.tree.verticalScrollBar().sizeHint().width() + 40
        width = min(max(width, anchor.width(), 380), int(screen.width() * 0.9))
        height = min(520, int(screen.height() * 0.8))
        pos = anchor.mapToGlobal(anchor.rect().bottomLeft())
        x = min(max(screen.left(), pos.x()), screen.right() - width)
        y = pos.y() if pos.y() + height <= screen.bottom() else max(screen.top(), pos.y() - anchor.height() - height)
        self.setGeometry(x, y, width, height)
        self.show()
        self.search.setFocus()

    def _index_of(self, name: str | None):
        if not name:
            return None
        hits = self.model.match(self.model.index(0, 0), NAME, name, 1,
                                Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive)
        return self.proxy.mapFromSource(hits[0]) if hits else None

    def _filter(self, text: str) -> None:
        self.proxy.setFilterFixedString(text.strip())
        if text.strip():
            self.tree.expandAll()

    def _show_passthrough(self, on: bool) -> None:
        self.proxy.show_passthrough = on
        self.proxy.invalidate()
        if self.search.text().strip():
            self.tree.expandAll()

    # --- choosing --------------------------------------------------------------------------------
    def _clicked(self, index) -> None:
        source = self.proxy.mapToSource(index.siblingAtColumn(0))
        item = self.model.itemFromIndex(source)
        if item is None:
            return
        if item.hasChildren():  # a block: a click opens it; double-click or Enter chooses its output
            self.tree.setExpanded(index.siblingAtColumn(0), not self.tree.isExpanded(index.siblingAtColumn(0)))
            return
        self._choose(item.data(TARGET))

    def _activated(self, index) -> None:
        item = self.model.itemFromIndex(self.proxy.mapToSource(index.siblingAtColumn(0)))
        if item is not None:
            self._choose(item.data(TARGET))

    def _typed(self) -> None:
        """Enter in the search: a layer or block name chooses it; else the only layer that matches."""
        from ...core.model.layers import resolve_layer

        text = self.search.text().strip()
        if not text:
            return
        try:
            self._choose(resolve_layer(self.names, text))
            return
        except ExplorerError:
            pass
        leaves = [n for n in self.names if text.lower() in n.lower()]
        if len(leaves) == 1:
            self._choose(leaves[0])

    def _choose(self, name: str | None) -> None:
        if name:
            self.hide()
            self.chosen.emit(name)


class LayerPicker(QWidget):
    """A button naming the layer on display; it opens the searchable tree. Also answers the few
    QComboBox questions callers ask (count, itemData, currentData, currentText)."""

    layer_chosen = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.button = QPushButton()
        self.button.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.button.setMinimumWidth(60)
        self.button.setStyleSheet("text-align: left; padding: 3px 6px;")
        self.button.setToolTip("Choose the layer: search by name, browse by block")
        self.popup = LayerPopup(self)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.button)
        self.layers: list = []
        self.current: str | None = None
        self.recommended: str | None = None
        self.button.clicked.connect(self.open)
        self.popup.chosen.connect(self._chosen)

    def set_layers(self, layers: list, current: str | None) -> None:
        """The model's layers (LayerInfo-like: name, shape, receptive_field, stride, passthrough) and the
        layer on display."""
        key = (tuple((l.name, tuple(l.shape), bool(getattr(l, "passthrough", False))) for l in layers), current)
        if key == self._key:
            return  # the session's settings changed, not its layers: keep the tree (and its scroll)
        self._key = key
        self.layers = list(layers)
        self.current = current if any(l.name == current for l in self.layers) else None
        self.recommended = default_layer(self.layers) if self.layers else None
        self.popup.fill(self.layers, self.current, self.recommended)
        self.button.setEnabled(bool(self.layers))
        self._label()

    def info(self, name: str | None = None):
        name = self.current if name is None else name
        return next((l for l in self.layers if l.name == name), None)

    def open(self) -> None:
        if self.layers:
            self.popup.open_below(self.button, self.current)

    def _chosen(self, name: str) -> None:
        self.layer_chosen.emit(name)

    def _label(self) -> None:
        info = self.info()
        self._full = "" if info is None else info.name + (f" {STAR}" if info.name == self.recommended else "")
        self._shape = "" if info is None else shape_text(info)
        self.button.setToolTip(f"{info.name}   {self._shape}" + ("   (recommended)" if info.name == self.recommended
                                                                 else "") + "\nChoose the layer: search by name, "
                               "browse by block" if info is not None else "The layers appear once the model is loaded")
        self._elide()

    _full = _shape = ""
    _key = None

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        """The layer's name elided in the middle to the button's width (the caption below has the rest)."""
        room = self.button.width() - 2 * self.style().pixelMetric(QStyle.PixelMetric.PM_ButtonMargin) - 22
        name = self.button.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideMiddle, max(room, 20))
        self.button.setText(f"{name} ▾" if self._full else "")

    # --- what QComboBox callers ask ---------------------------------------------------------------
    def count(self) -> int:
        return len(self.layers)

    def itemData(self, row: int) -> str:
        return self.layers[row].name

    def findData(self, name: str) -> int:
        return next((i for i, l in enumerate(self.layers) if l.name == name), -1)

    def currentData(self) -> str | None:
        return self.current

    def currentText(self) -> str:
        return f"{self.current}   {self._shape}" if self.current else ""

