import pytest


@pytest.fixture
def window(qtbot):
    from explorer.gui.main_window import MainWindow

    win = MainWindow(remember=False)
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    yield win
    win.jobs.cancel()
    from PySide6.QtCore import QThreadPool

    QThreadPool.globalInstance().waitForDone(30_000)
