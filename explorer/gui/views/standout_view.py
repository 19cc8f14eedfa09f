"""Why the selected image sits where it does on the map: the channels where it stands out.

The map is built from each image's feature vector (every channel's mean over its map). For one
image, z = (its value - the run's mean) / the run's std, channel by channel (core/analysis/atlas.py,
explain_image); the largest z pull it furthest from the crowd. Each is shown with its feature
visualisation when the cache has one; "Visualise these" computes the missing ones in turn.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from ..thumbnails import pil_to_qimage
from ..widgets.labels import WrappedLabel

ICON = 48
SHOWN = 8
EXPLAINED = "Largest z = (value − mean) / std over the run, per channel of the image's feature vector:"
EXPLAINED_TIP = ("The map is built from each image's feature vector: every channel's mean over its map. For the "
                 "selected image, z = (its value − the run's mean) / the run's std, channel by channel; the largest "
                 "z pull it furthest from the crowd. The pictures are the channels' feature visualisations, once "
                 "computed (grey: not yet; 'Visualise these' computes them in turn).")


def _blank() -> QPixmap:
    pix = QPixmap(ICON, ICON)
    pix.fill(QColor(232, 232, 232))
    painter = QPainter(pix)
    painter.setPen(QColor(140, 140, 140))
    painter.drawText(pix.rect(), Qt.AlignmentFlag.AlignCenter, "not yet")
    painter.end()
    return pix


class StandoutView(QWidget):
    channel_clicked = Signal(int)
    visualise_requested = Signal(list)  # channels without a visualisation yet

    def __init__(self, jobs, parent=None):
        super().__init__(parent)
        self.lane = jobs.analysis
        self.index: int | None = None
        self.standouts: list = []  # core Standout objects on display
        self._moments = None  # (run, (mean, std)) of the run's feature vectors
        self.note = WrappedLabel(EXPLAINED)
        self.note.setStyleSheet("color: #555;")
        self.note.setToolTip(EXPLAINED_TIP)
        self.list = QListWidget()
        self.list.setViewMode(QListWidget.ViewMode.IconMode)
        self.list.setIconSize(QSize(ICON, ICON))
        self.list.setGridSize(QSize(ICON + 18, ICON + 34))
        self.list.setFlow(QListWidget.Flow.LeftToRight)
        self.list.setWrapping(True)
        self.list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.list.setMovement(QListWidget.Movement.Static)
        self.list.setFixedHeight(ICON + 40)
        self.button = QPushButton("Visualise these")
        self.button.setToolTip("Optimise an image for each channel above that has none yet, one after another")
        self.button.setEnabled(False)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.button)
        row.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.note)
        lay.addWidget(self.list)
        lay.addLayout(row)
        self.list.itemClicked.connect(lambda item: self.channel_clicked.emit(int(item.data(Qt.ItemDataRole.UserRole))))
        self.button.clicked.connect(self._visualise_missing)
        self._blank = _blank()

    def clear(self, text: str = "") -> None:
        self.index = None
        self.standouts = []
        self.list.clear()
        self.button.setEnabled(False)
        self.note.setText(text or EXPLAINED)
        self.list.setVisible(not text)  # nothing selected: the note alone, no empty box
        self.button.setVisible(not text)

    def show_image(self, run, index: int, lookup) -> None:
        """Find the channels of image `index` (analysis lane), with their cached visualisations."""
        from ...core.analysis.atlas import explain_image, feature_moments

        self.index = index
        self.note.setText(EXPLAINED)
        self.list.show()
        self.button.show()

        def work():
            moments = self._moments  # one read: the mean and std over the run, kept per run
            if moments is None or moments[0] is not run:
                moments = self._moments = (run, feature_moments(run))
            standouts = explain_image(run, index, SHOWN, moments[1])
            images = {}
            for s in standouts:
                try:
                    images[s.channel] = lookup(s.channel) if lookup is not None else None
                except Exception:  # a damaged cache file: as if not computed
                    images[s.channel] = None
            return standouts, images

        def done(out):
            if self.index == index:
                self._fill(*out)

        self.lane.start("Explaining the image", work, done, key="standout",
                        on_error=lambda message: self.note.setText(f"Cannot explain this image: {message}"))

    def _fill(self, standouts, images) -> None:
        self.standouts = standouts
        self.list.clear()
        for s in standouts:
            item = QListWidgetItem(f"{s.channel}\nz {s.z:.1f}")
            item.setData(Qt.ItemDataRole.UserRole, s.channel)
            item.setToolTip(f"channel {s.channel}: {s.value:.4g} in this image, {s.mean:.4g} on average "
                            f"(z = {s.z:.2f}); the picture is its feature visualisation, once computed")
            self.list.addItem(item)
            self.set_visualisation(s.channel, images.get(s.channel))
        self.button.setEnabled(bool(self.missing()) and self.button.text() == "Visualise these")

    def set_visualisation(self, channel: int, image) -> None:
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == channel:
                if image is None:
                    item.setIcon(self._blank)
                    item.setData(Qt.ItemDataRole.UserRole + 1, False)
                else:
                    item.setIcon(QPixmap.fromImage(pil_to_qimage(image.resize((ICON, ICON)))))
                    item.setData(Qt.ItemDataRole.UserRole + 1, True)
        self.button.setEnabled(bool(self.missing()) and self.button.text() == "Visualise these")

    def set_busy(self, busy: bool) -> None:
        """While channels are being visualised the button says so (the progress is in the panel below)."""
        self.button.setText("Visualising…" if busy else "Visualise these")
        self.button.setEnabled(not busy and bool(self.missing()))

    def missing(self) -> list[int]:
        return [int(self.list.item(i).data(Qt.ItemDataRole.UserRole)) for i in range(self.list.count())
                if not self.list.item(i).data(Qt.ItemDataRole.UserRole + 1)]

    def channels(self) -> list[int]:
        return [int(self.list.item(i).data(Qt.ItemDataRole.UserRole)) for i in range(self.list.count())]

    def _visualise_missing(self) -> None:
        missing = self.missing()
        if missing:
            self.visualise_requested.emit(missing)
