"""The Map box offers UMAP (issue 16): chosen, it asks for a UMAP map; without umap-learn it is greyed out
with the command that installs it. A map fitted on a sample says so under the map and in its figure."""

import sys

import numpy as np
from PySide6.QtCore import Qt


def panel_for(qtbot, session):
    from explorer.gui.bridge import SessionBridge
    from explorer.gui.widgets.controls import ControlsPanel

    bridge = SessionBridge(session)
    panel = ControlsPanel(bridge)
    panel._bridge_kept = bridge
    qtbot.addWidget(panel)
    return panel


def test_umap_is_offered_and_choosing_it_asks_for_a_umap_map(qtbot):
    import pytest

    pytest.importorskip("umap")
    from explorer.core.session import Session

    panel = panel_for(qtbot, Session())
    combo = panel.method_combo
    assert [combo.itemData(i) for i in range(combo.count())] == ["tsne", "pca", "umap"]
    asked = []
    panel.projection_chosen.connect(lambda *args: asked.append(args))
    combo.setCurrentIndex(combo.findData("umap"))
    combo.activated.emit(combo.currentIndex())  # what a pick in the list sends
    assert asked and asked[-1][0] == "umap"
    assert not panel.perplexity.isEnabled()  # perplexity is t-SNE's


def test_without_umap_learn_umap_is_greyed_out_with_how_to_install_it(qtbot, monkeypatch):
    from explorer.core.analysis.umap_projection import UMAP_MISSING
    from explorer.core.session import Session

    monkeypatch.setitem(sys.modules, "umap", None)
    panel = panel_for(qtbot, Session())
    combo = panel.method_combo
    row = combo.findData("umap")
    item = combo.model().item(row)
    assert not item.isEnabled()
    assert combo.itemData(row, Qt.ItemDataRole.ToolTipRole) == UMAP_MISSING
    assert "pip install" in UMAP_MISSING


def test_a_sampled_map_says_so_under_the_map_and_in_its_figure(window, qtbot):
    from explorer.gui.views.plot_export import map_title
    from tests.gui.test_map import icon_run

    run = icon_run()
    window.session.set_run(run)
    xy = np.random.default_rng(3).normal(size=(len(run.rows), 2))
    note = "t-SNE fitted on 50,000 of 1,000,000 points; the rest placed"
    window.session.set_layout(xy, "tsne", note)
    qtbot.waitUntil(lambda: window.map_note.text() == note)
    assert map_title(window.session)[1].endswith(note)
    window.session.set_layout(xy, "pca")
    qtbot.waitUntil(lambda: window.map_note.text() == "")
