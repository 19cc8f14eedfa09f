"""Named selections, kept in the session (and in session files): save the current one, recall, delete.

Recalling uses the map's selection mode, so named selections combine as glue's subsets do
(recall A, switch to Intersect, recall B: A ∩ B).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QLineEdit, QListWidgetItem, QToolButton,
                               QVBoxLayout, QWidget)

from ..bridge import SessionBridge
from .compact_list import CompactList


class SelectionsPanel(QWidget):
    def __init__(self, bridge: SessionBridge, parent=None):
        super().__init__(parent)
        self.bridge = bridge
        self.session = bridge.session
        self.name = QLineEdit(placeholderText="Name for the current selection")
        self.name.setMinimumWidth(60)
        self.save = QToolButton(text="Save")
        self.list = CompactList()
        self.list.setToolTip("Double-click or Enter: select it (with the map's mode: replace, add, ∩, −)")
        self.recall = QToolButton(text="Select")
        self.delete = QToolButton(text="Delete")
        self.message = QLabel(wordWrap=True)
        self.message.setStyleSheet("color: #444;")
        top = QHBoxLayout()
        top.addWidget(self.name, 1)
        top.addWidget(self.save)
        bottom = QHBoxLayout()
        bottom.addWidget(self.recall)
        bottom.addWidget(self.delete)
        bottom.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.list, 1)
        lay.addLayout(bottom)
        lay.addWidget(self.message)

        self.save.clicked.connect(self.save_current)
        self.name.returnPressed.connect(self.save_current)
        self.recall.clicked.connect(self.recall_current)
        self.list.itemActivated.connect(lambda _: self.recall_current())
        self.delete.clicked.connect(self.delete_current)
        bridge.named_selections_changed.connect(self.refresh)
        bridge.selection_changed.connect(self._enable)
        self.refresh()

    def save_current(self):
        name = self.name.text().strip() or f"selection {len(self.session.named_selections) + 1}"
        if not self.session.selection:
            self.message.setText("Select some points first (click, Shift+drag a box or Ctrl+drag a lasso).")
            return
        self.session.save_selection(name)
        self.message.setText(f"Saved {len(self.session.selection):,} images as “{name}”.")
        self.name.clear()

    def _current(self) -> str | None:
        item = self.list.currentItem()
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def recall_current(self):
        name = self._current()
        if name in self.session.named_selections:
            self.session.recall_selection(name, self.session.selection_mode)

    def delete_current(self):
        name = self._current()
        if name is not None:
            self.session.forget_selection(name)

    def refresh(self):
        self.list.clear()
        for name, items in self.session.named_selections.items():
            item = QListWidgetItem(f"{name}  ({len(items):,})")
            item.setData(Qt.ItemDataRole.UserRole, name)
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(self.list.count() - 1)
        self._enable()

    def _enable(self):
        self.save.setEnabled(bool(self.session.selection))
        self.recall.setEnabled(self.list.count() > 0)
        self.delete.setEnabled(self.list.count() > 0)
