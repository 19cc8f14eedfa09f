"""Render resources/icons/explorer.svg to the icon files installers need (run with the build's python):
    python packaging/make_icons.py OUT_DIR  -> explorer.ico (Windows), explorer.icns (macOS), explorer-256.png
Qt draws the SVG (it is the app's own renderer), Pillow writes the multi-size .ico and .icns."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = (16, 24, 32, 48, 64, 128, 256, 512, 1024)


def render(size: int):
    from PIL import Image
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    image = QImage(size, size, QImage.Format.Format_RGBA8888)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    QSvgRenderer(str(ROOT / "resources" / "icons" / "explorer.svg")).render(painter)
    painter.end()
    return Image.frombuffer("RGBA", (size, size), bytes(image.constBits()), "raw", "RGBA", image.bytesPerLine(), 1)


def main(out: str) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841  (fonts, if the SVG has text)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    images = {size: render(size) for size in SIZES}
    images[256].save(folder / "explorer-256.png")
    images[256].save(folder / "explorer.ico", sizes=[(s, s) for s in SIZES if s <= 256])
    images[1024].save(folder / "explorer.icns")
    print(f"icons in {folder}: explorer.ico, explorer.icns, explorer-256.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "build/icons"))
