"""Thumbnails loaded on a thread pool and kept in a bounded cache.

Decoding happens off the GUI thread (core.images, the same decoder and EXIF
handling as the embedding); the GUI thread only turns finished QImages into
pixmaps. `loaded(index)` tells views a thumbnail they asked for is ready.
"""

from __future__ import annotations

from collections import OrderedDict

from PySide6.QtCore import QObject, QRunnable, QSize, QThreadPool, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QListWidget

from ..core.errors import DecodeError
from ..core.run.images import thumbnail
from ..core.run.store import Run


def pil_to_qimage(img) -> QImage:
    img = img.convert("RGB")
    data = img.tobytes()
    return QImage(data, img.width, img.height, 3 * img.width, QImage.Format.Format_RGB888).copy()


def thumbnail_grid(icon: int) -> QListWidget:
    """A static, wrapping grid of icon x icon images with two lines of text under each."""
    grid = QListWidget()
    grid.setViewMode(QListWidget.ViewMode.IconMode)
    grid.setIconSize(QSize(icon, icon))
    grid.setGridSize(QSize(icon + 16, icon + 40))
    grid.setResizeMode(QListWidget.ResizeMode.Adjust)
    grid.setMovement(QListWidget.Movement.Static)
    grid.setWordWrap(True)
    return grid


class _Done(QObject):
    finished = Signal(int, int, object)  # generation, index, QImage or None


class _Load(QRunnable):
    def __init__(self, done: _Done, generation: int, run: Run, index: int, size: int):
        super().__init__()
        self.done, self.generation, self.source, self.index, self.size = done, generation, run, index, size

    def run(self):
        try:
            image = pil_to_qimage(thumbnail(self.source, self.index, self.size))
        except (DecodeError, OSError, ValueError):
            image = None
        self.done.finished.emit(self.generation, self.index, image)


class ThumbnailCache(QObject):
    loaded = Signal(int)

    def __init__(self, size: int = 96, capacity: int = 4000, parent=None):
        super().__init__(parent)
        self.size = size
        self.capacity = capacity
        self._run: Run | None = None
        self._generation = 0
        self._images: OrderedDict[int, QImage | None] = OrderedDict()
        self._pixmaps: dict[int, QPixmap] = {}
        self._pending: set[int] = set()
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(2)
        self._done = _Done()
        self._done.finished.connect(self._finished)

    def set_run(self, run: Run | None) -> None:
        self._run = run
        self._generation += 1
        self._images.clear()
        self._pixmaps.clear()
        self._pending.clear()
        self._pool.clear()

    def pixmap(self, index: int) -> QPixmap | None:
        """The thumbnail if loaded (None while loading or when unreadable); asks for it otherwise."""
        if index in self._pixmaps:
            self._images.move_to_end(index)
            return self._pixmaps[index]
        if index in self._images:
            image = self._images[index]
            if image is None:
                return None
            self._pixmaps[index] = QPixmap.fromImage(image)
            return self._pixmaps[index]
        self.request(index)
        return None

    def failed(self, index: int) -> bool:
        return index in self._images and self._images[index] is None

    def request(self, index: int) -> None:
        if self._run is None or index in self._pending or index in self._images:
            return
        self._pending.add(index)
        self._pool.start(_Load(self._done, self._generation, self._run, index, self.size))

    def _finished(self, generation: int, index: int, image) -> None:
        if generation != self._generation:
            return
        self._pending.discard(index)
        self._images[index] = image
        while len(self._images) > self.capacity:
            old, _ = self._images.popitem(last=False)
            self._pixmaps.pop(old, None)
        self.loaded.emit(index)
