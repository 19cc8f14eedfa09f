"""Where the app's resources (icons, self-test images) are: source tree, pip install or bundle."""

from __future__ import annotations

import re
import sys
from pathlib import Path

# the command a bundle installs: the .deb's and .tar.gz's; on Windows the console program beside the app's
BUNDLE_COMMAND = "cnn-feature-explorer-cli" if sys.platform == "win32" else "cnn-feature-explorer"
# the Windows build assembled from wheels (packaging/windows/assemble.py) leaves this in sys.prefix
BUNDLE_MARKER = "cnn-feature-explorer-bundle.txt"
# 'explorer' as a command in a message: not inside a path or a word, not 'python -m explorer'
_COMMAND = re.compile(r"(?<![\w/\\.~-])(?<!-m )explorer(?=[ '\"`),])")


def in_bundle() -> bool:
    """A PyInstaller bundle (sys.frozen) or the Windows app folder assembled from wheels."""
    return bool(getattr(sys, "frozen", False)) or (Path(sys.prefix) / BUNDLE_MARKER).is_file()


def command_name() -> str:
    """What the user types: `cnn-feature-explorer` inside a bundle, `explorer` from a pip install."""
    return BUNDLE_COMMAND if in_bundle() else "explorer"


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
