import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own cache folder: nothing leaks between tests or into ~/.cache."""
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "cat", "immunohistochemistry", "hubble_deep_field",
          "camera")


def photo(name: str):
    from PIL import Image
    from skimage import data

    a = getattr(data, name)()
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    return Image.fromarray(a[..., :3])


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory) -> Path:
    """Eight real photos from scikit-image in two class folders, as JPEG and PNG."""
    root = tmp_path_factory.mktemp("photos")
    for i, name in enumerate(PHOTOS):
        label = "animals" if name in ("chelsea", "cat", "astronaut", "coffee") else "things"
        (root / label).mkdir(exist_ok=True)
        img = photo(name)
        img.thumbnail((320, 320))
        img.save(root / label / f"{name}.{'jpg' if i % 2 else 'png'}", quality=92)
    return root


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
