"""Where the app's resources (icons, self-test images) are: source tree or PyInstaller bundle."""

from __future__ import annotations

import sys
from pathlib import Path


def resource_path(*parts: str) -> Path:
    candidates = []
    if getattr(sys, "frozen", False):  # a PyInstaller bundle unpacks data next to the executable
        candidates.append(Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent)) / "resources")
    candidates.append(Path(sys.prefix) / "share" / "cnn-feature-explorer" / "resources")  # pip install .
    candidates.append(Path(__file__).resolve().parent.parent / "resources")  # source tree
    for base in candidates:
        path = base.joinpath(*parts)
        if path.exists():
            return path
    return candidates[-1].joinpath(*parts)
