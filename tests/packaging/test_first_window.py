"""The first window fits the screen it opens on (issue 15: it was a fixed 1440x900, wider and taller
than a 1366x768 laptop screen, so its status bar and right docks were off screen)."""

import pytest
from PySide6.QtCore import QRect

pytest.importorskip("pytestqt")


class _Screen:
    def __init__(self, w, h):
        self.rect = QRect(0, 0, w, h)

    def availableGeometry(self):
        return self.rect


@pytest.mark.parametrize("w, h", [(1366, 768), (1280, 720), (1366, 728)])  # 728: a 40 px panel on a laptop
def test_the_first_window_fits_a_small_screen_with_its_frame(qtbot, monkeypatch, w, h):
    from explorer.gui.main_window import MainWindow

    monkeypatch.setattr(MainWindow, "screen", lambda self: _Screen(w, h))
    win = MainWindow(remember=False)
    qtbot.addWidget(win)
    size = win.size()
    # a title bar (about 30 px) and borders (a few px) still fit around it
    assert size.width() <= w - 10 and size.height() <= h - 35, f"{size.width()}x{size.height()} on {w}x{h}"
    assert size.width() >= 1000 and size.height() >= 640  # and it uses the screen, not a token corner
    win.jobs.cancel()
    win.jobs.wait(10_000)


def test_a_large_screen_gets_the_designed_size(qtbot, monkeypatch):
    from explorer.gui.main_window import MainWindow

    monkeypatch.setattr(MainWindow, "screen", lambda self: _Screen(2560, 1440))
    win = MainWindow(remember=False)
    qtbot.addWidget(win)
    assert (win.width(), win.height()) == (1440, 900)
    win.jobs.cancel()
    win.jobs.wait(10_000)
