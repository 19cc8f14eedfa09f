"""Stale state found by using the app in a real X window: what a view shows must stay true.

Each test failed before its fix: a sorted channel table highlighting another channel than the
one on display.
"""

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.gui.test_app import run_pipeline

WAIT = 20_000


def click_row(table, row: int):
    rect = table.visualRect(table.model().index(row, 0))
    QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def highlighted_channel(channels) -> int:
    rows = channels.table.selectionModel().selectedRows()
    assert len(rows) == 1
    return channels.table_model.channel_at(rows[0].row())


def test_sorting_the_channel_table_keeps_the_chosen_channel_highlighted(qtbot, window, photo_folder):
    run_pipeline(qtbot, window, photo_folder, projection="pca")
    channels = window.neurons.channels
    table, model = channels.table, channels.table_model
    qtbot.waitUntil(lambda: model.rowCount() == 512, timeout=WAIT)
    chosen = model.channel_at(3)
    click_row(table, 3)
    assert channels.channel == chosen == highlighted_channel(channels)

    maxima = np.asarray(window.session.run.channel_max, np.float64)[window.session.run.done_mask].max(0)
    table.horizontalHeader().setSortIndicator(2, Qt.SortOrder.DescendingOrder)  # a click on "max"
    assert model.channel_at(0) == int(np.argmax(maxima))
    assert model.channel_at(3) != chosen  # the chosen channel moved ...
    assert highlighted_channel(channels) == chosen == channels.channel  # ... and its highlight with it

    # the channel now in row 3 can be chosen with a click (it was highlighted, so a click did nothing)
    other = model.channel_at(3)
    click_row(table, 3)
    assert channels.channel == other == highlighted_channel(channels)
    table.horizontalHeader().setSortIndicator(0, Qt.SortOrder.AscendingOrder)
    assert highlighted_channel(channels) == other
