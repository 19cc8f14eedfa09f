"""One image, large, in its own window; and the file actions every image list offers (copy path,
open the folder). The image is decoded in the io lane, never on the GUI thread."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication, QPixmap
from PySide6.QtWidgets import QDialog, QLabel, QMenu, QScrollArea, QVBoxLayout

from ..jobs import JobRunner
from ..thumbnails import pil_to_qimage

LARGE = 1200  # longest side shown in the large view


class ImageViewer(QDialog):
    def __init__(self, title: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.image = QLabel("loading…", alignment=Qt.AlignmentFlag.AlignCenter)
        self.caption = QLabel(title, wordWrap=True)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        area = QScrollArea(widgetResizable=True)
        area.setWidget(self.image)
        lay = QVBoxLayout(self)
        lay.addWidget(area, 1)
        lay.addWidget(self.caption)
        self.resize(900, 760)

    def set_image(self, image) -> None:
        pix = QPixmap.fromImage(image)
        screen = self.screen().availableGeometry() if self.screen() else None
        if screen is not None and (pix.width() > screen.width() * 0.9 or pix.height() > screen.height() * 0.85):
            pix = pix.scaled(int(screen.width() * 0.9), int(screen.height() * 0.85),
                             Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
        self.image.setPixmap(pix)
        self.resize(max(320, pix.width() + 40), max(240, pix.height() + 80))


def open_large(parent, jobs: JobRunner, run, index: int) -> ImageViewer:
    """Show item `index` of `run` large; decoding happens in the io lane."""
    viewer = ImageViewer(run.rows[index].path, parent)
    viewer.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def load():
        from ...core.run.images import thumbnail

        return pil_to_qimage(thumbnail(run, index, LARGE))  # tiny images (8x8 digits) enlarged, sharp

    def failed(message: str):
        viewer.image.setText(f"Cannot show {run.rows[index].path}: {message}")

    jobs.io.start("Opening the image", load, viewer.set_image, key=f"large-{index}", on_error=failed)
    viewer.show()
    return viewer


def folder_url(run, index: int) -> QUrl | None:
    """The folder holding item `index`'s file, or None when it is not a file (a demo's images)."""
    path = run.full_path(index)
    folder = os.path.dirname(path)
    return QUrl.fromLocalFile(folder) if os.path.isdir(folder) else None


def file_menu(parent, run, index: int) -> QMenu:
    """Copy path, Open containing folder: for a right-click on any image of the run."""
    menu = QMenu(parent)
    path = run.full_path(index)
    menu.addAction("Copy path", lambda: QGuiApplication.clipboard().setText(path))
    url = folder_url(run, index)
    act = menu.addAction("Open containing folder", lambda: QDesktopServices.openUrl(url))
    act.setEnabled(url is not None)
    if url is None:
        act.setToolTip("This image is not a file on disk (a built-in demo)")
    return menu
