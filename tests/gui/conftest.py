import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path):
    """Every GUI test reads and writes QSettings in its own folder, and leaves Qt's paths as they were."""
    from PySide6.QtCore import QSettings

    fmts = (QSettings.Format.NativeFormat, QSettings.Format.IniFormat)
    default = QSettings.defaultFormat()
    # where each format lives now: the folder above <organisation>/<application>.<ext>
    before = {f: os.path.dirname(os.path.dirname(QSettings(f, QSettings.Scope.UserScope, "o", "a").fileName()))
              for f in fmts}
    for f in fmts:
        QSettings.setPath(f, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    yield tmp_path / "settings"
    for f in fmts:
        QSettings.setPath(f, QSettings.Scope.UserScope, before[f])
    QSettings.setDefaultFormat(default)


@pytest.fixture(scope="session")
def shots(tmp_path_factory):
    """Where GUI tests save screenshots to look at: $EXPLORER_SCREENSHOTS, else a temporary folder
    (never the repository)."""
    folder = os.environ.get("EXPLORER_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def window(qtbot):
    from explorer.gui.main_window import MainWindow

    win = MainWindow(remember=False)
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    yield win
    win.jobs.cancel()
    assert win.jobs.wait(30_000)
