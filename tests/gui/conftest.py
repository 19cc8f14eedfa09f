import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="session")
def crops_folder(tmp_path_factory):
    """120 small real-photo crops in 3 classes: enough batches to cancel in the middle."""
    from skimage import data

    root = tmp_path_factory.mktemp("crops")
    sources = {"cat": data.chelsea(), "coffee": data.coffee(), "space": data.hubble_deep_field()}
    rng = np.random.default_rng(0)
    for label, a in sources.items():
        (root / label).mkdir()
        h, w = a.shape[:2]
        for i in range(40):
            y, x = rng.integers(0, h - 96), rng.integers(0, w - 96)
            Image.fromarray(a[y:y + 96, x:x + 96]).save(root / label / f"{label}-{i:02d}.png")
    return root


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
