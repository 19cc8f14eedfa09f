import os
from pathlib import Path

import numpy as np
import pytest

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
