"""Where the app's resources (icons, self-test images) are: source tree or PyInstaller bundle."""

from __future__ import annotations

import re
import sys
from pathlib import Path

BUNDLE_COMMAND = "cnn-feature-explorer"  # the command a bundle (and its .deb) installs
# 'explorer' as a command in a message: not inside a path or a word, not 'python -m explorer'
_COMMAND = re.compile(r"(?<![\w/\\.~-])(?<!-m )explorer(?=[ '\"`),])")


def command_name() -> str:
    """What the user types: `cnn-feature-explorer` inside a bundle, `explorer` from a pip install."""
    return BUNDLE_COMMAND if getattr(sys, "frozen", False) else "explorer"


def own_command(message: str) -> str:
    """The message with 'explorer embed ...' naming the command this installation really has."""
    return message if command_name() == "explorer" else _COMMAND.sub(BUNDLE_COMMAND, message)


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
