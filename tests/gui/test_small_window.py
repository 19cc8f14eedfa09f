"""The window at 1024x700, as a new user first sees it (issue 10, "Small windows")."""

from tests.gui.test_app import run_pipeline


def test_the_gallery_shows_rows_of_neighbours_under_the_preview_at_1024x700(qtbot, window, photo_folder, shots):
    """The preview kept its image's full 320 px height, leaving the 12 neighbours one row (of one image)."""
    window.resize(1024, 700)
    run_pipeline(qtbot, window, photo_folder, model="alexnet", projection="pca")
    gallery = window.gallery
    window.resize(1100, 760)  # a resize with nothing selected keeps the preview's hint
    qtbot.waitUntil(lambda: gallery.preview.height() > 0)
    qtbot.wait(50)
    assert gallery.preview.text().startswith("Click a point") and gallery.preview.pixmap().isNull()
    window.resize(1024, 700)
    window.session.neighbour_k = 6
    with qtbot.waitSignal(gallery.neighbours_shown, timeout=30_000):
        window.session.select([0])
    qtbot.waitUntil(lambda: window.previews.pixmap(0) is not None, timeout=10_000)
    gallery.previews.loaded.emit(0)  # as when the preview arrives (it may have come before the selection)
    qtbot.wait(50)
    grid = gallery.list.gridSize()
    shown = gallery.list.viewport().height()
    assert shown >= 2 * grid.height(), f"the neighbour list has {shown} px, less than two rows"
    first, second = (gallery.list.visualItemRect(gallery.list.item(r)) for r in (0, 1))
    assert first.top() == second.top() and second.left() > first.left()  # two columns in the narrow dock
    pix = gallery.preview.pixmap()
    assert not pix.isNull() and 100 <= pix.height() <= gallery.preview.contentsRect().height()  # whole, scaled
    source = window.previews.pixmap(0)
    assert abs(pix.width() / pix.height() - source.width() / source.height()) < 0.05  # its aspect kept
    window.grab().save(str(shots / "gallery-1024x700.png"))


def test_every_dock_tab_names_its_dock_in_full_at_1024x700(qtbot, window):
    """Five docks tabbed on the right read "Ga…", "N…", "Ex…", "P…" and the fifth was behind a scroll arrow."""
    from PySide6.QtWidgets import QTabBar, QTabWidget

    window.resize(1024, 700)
    qtbot.wait(100)
    bars = [bar for bar in window.findChildren(QTabBar) if bar.isVisible() and bar.count() > 1]
    titles = sorted(bar.tabText(i).replace("&", "") for bar in bars for i in range(bar.count()))
    assert {"Gallery", "Neurons", "Explain", "Controls", "Map"} <= set(titles)
    for bar in bars:
        vertical = bar.shape() in (QTabBar.Shape.RoundedEast, QTabBar.Shape.RoundedWest)
        for i in range(bar.count()):
            rect, text = bar.tabRect(i), bar.tabText(i)
            room = (rect.height() if vertical else rect.width()) - 8  # less the tab's own padding
            assert room >= bar.fontMetrics().horizontalAdvance(text), f"the tab {text!r} is elided"
            assert bar.rect().contains(rect), f"the tab {text!r} is out of view"
    assert window.tabPosition(window.dockWidgetArea(window.gallery_dock)) in (QTabWidget.TabPosition.East,
                                                                            QTabWidget.TabPosition.West)
