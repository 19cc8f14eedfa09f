"""The map as a figure: PNG at a chosen size or SVG, with a title and a legend.

`figure_data` reads what the map shows from the Session on the GUI thread (points, colours,
hidden classes, the view's range); `render_png` / `render_svg` paint it with QPainter and may
run in the io lane (painting on a QImage or QSvgGenerator is allowed off the GUI thread).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QSpinBox

from ...core.analysis.measures import LABELS, resolve_measure
from ...core.run.export import map_name
from ...core.session import RAMP_STEPS, UNLABELLED, Session, class_colour, ramp



@dataclass
class FigureData:
    xy: np.ndarray  # (m, 2) float32: the drawn points
    rgb: np.ndarray  # (m, 3) uint8: their colours
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    title: str
    subtitle: str
    legend: list[tuple[tuple[int, int, int], str]]  # (colour, text), or a ramp when coloured by a channel
    ramp_title: str = ""  # set when the legend is a colour ramp


def map_title(session: Session) -> tuple[str, str]:
    """('<dataset> · <model> / <layer>', 'the t-SNE map (perplexity 30, seed 0) · 1,797 images')."""
    run = session.run
    dataset = session.dataset.rstrip("/").rsplit("/", 1)[-1] if "/" in session.dataset else session.dataset
    title = f"{dataset} · {run.model} / {run.layer}" if run is not None else dataset
    method = session.layout_method or session.projection
    settings = f"perplexity {session.perplexity:g}, seed {session.seed}" if method.startswith("tsne") \
        else f"seed {session.seed}"
    shown = int(session.visible_mask.sum()) if session.layout is not None else 0
    note = f" · {session.layout_note}" if session.layout_note else ""  # e.g. t-SNE fitted on a sample
    return title, f"the {map_name(method)} map ({settings}) · {shown:,} images{note}"


def figure_data(session: Session, view_range=None) -> FigureData:
    """What the map shows now; `view_range` ((x0, x1), (y0, y1)) crops to the user's zoom."""
    layout = session.layout
    if layout is None:
        raise ValueError("no map to export yet")
    visible = session.visible_mask
    codes, table = session.colour_scheme()
    colours = np.array(table, np.uint8)
    if view_range is None:
        lo, hi = np.nanmin(layout[visible], 0), np.nanmax(layout[visible], 0)
        pad = (hi - lo) * 0.04 + 1e-6
        view_range = ((lo[0] - pad[0], hi[0] + pad[0]), (lo[1] - pad[1], hi[1] + pad[1]))
    (x0, x1), (y0, y1) = view_range
    with np.errstate(invalid="ignore"):
        inside = visible & (layout[:, 0] >= x0) & (layout[:, 0] <= x1) & (layout[:, 1] >= y0) & (layout[:, 1] <= y1)
    idx = np.flatnonzero(inside)
    title, subtitle = map_title(session)
    subtitle_extra = ""
    colouring = getattr(session, "colour_by", None)
    if session.colour_channel is not None:
        legend = [(rgb, "") for rgb in ramp()]
        measure = LABELS[resolve_measure(session.run, getattr(session, "colour_measure", "auto"))]
        ramp_title = f"channel {session.colour_channel}: {measure}, low → high"  # the measure coloured by
    elif colouring is not None:  # by metadata: its own legend, under its title
        legend = [(tuple(rgb), f"{text} ({count:,})") for text, rgb, count in colouring.legend]
        ramp_title = ""
        subtitle_extra = f" · coloured by {colouring.title}"
    else:
        k = len(session.classes)
        counts = np.bincount(np.where(session.label_codes < 0, k, session.label_codes)[visible], minlength=k + 1)
        legend = [(class_colour(c), f"{name} ({int(counts[c]):,})") for c, name in enumerate(session.classes)
                  if c not in session.hidden_classes]
        if counts[k] and -1 not in session.hidden_classes:
            legend.append((UNLABELLED, f"no label ({int(counts[k]):,})"))
        ramp_title = ""
    return FigureData(layout[idx].astype(np.float32), colours[codes[idx]], (float(x0), float(x1)),
                      (float(y0), float(y1)), title, subtitle + subtitle_extra, legend, ramp_title)


def paint(painter: QPainter, data: FigureData, width: int, height: int) -> None:
    """Title on top, legend on the right, the points in the rest (aspect kept, as on screen)."""
    unit = max(width, height) / 1000  # sizes scale with the figure: the same look at any resolution
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.fillRect(QRectF(0, 0, width, height), QColor(255, 255, 255))
    title_font = QFont()
    title_font.setPixelSize(max(8, round(22 * unit)))
    title_font.setBold(True)
    small = QFont()
    small.setPixelSize(max(7, round(15 * unit)))
    pad = 16 * unit
    painter.setPen(QColor(20, 20, 20))
    painter.setFont(title_font)
    painter.drawText(QRectF(pad, pad, width - 2 * pad, 30 * unit), Qt.AlignmentFlag.AlignLeft, data.title)
    painter.setFont(small)
    painter.setPen(QColor(90, 90, 90))
    painter.drawText(QRectF(pad, pad + 30 * unit, width - 2 * pad, 22 * unit), Qt.AlignmentFlag.AlignLeft,
                     data.subtitle)
    top = pad + 60 * unit
    legend_w = min(width * 0.3, 260 * unit)
    plot = QRectF(pad, top, width - legend_w - 3 * pad, height - top - pad)
    _points(painter, data, plot, unit)
    _legend(painter, data, QRectF(plot.right() + pad, top, legend_w, plot.height()), unit, small)


def _points(painter: QPainter, data: FigureData, plot: QRectF, unit: float) -> None:
    (x0, x1), (y0, y1) = data.x_range, data.y_range
    scale = min(plot.width() / max(x1 - x0, 1e-12), plot.height() / max(y1 - y0, 1e-12))  # aspect locked
    cx, cy = plot.center().x(), plot.center().y()
    mx, my = (x0 + x1) / 2, (y0 + y1) / 2
    px = cx + (data.xy[:, 0] - mx) * scale
    py = cy - (data.xy[:, 1] - my) * scale  # y up, as on screen
    r = max(1.0, 3.5 * unit)
    painter.setPen(Qt.PenStyle.NoPen)
    order = np.lexsort((data.rgb[:, 2], data.rgb[:, 1], data.rgb[:, 0]))
    last = None
    for i in order:  # grouped by colour: one brush change per class
        rgb = tuple(int(v) for v in data.rgb[i])
        if rgb != last:
            painter.setBrush(QColor(*rgb, 220))
            last = rgb
        painter.drawEllipse(QPointF(float(px[i]), float(py[i])), r, r)


def _legend(painter: QPainter, data: FigureData, box: QRectF, unit: float, font: QFont) -> None:
    painter.setFont(font)
    row = 22 * unit
    y = box.top()
    if data.ramp_title:
        painter.setPen(QColor(40, 40, 40))
        painter.drawText(QRectF(box.left(), y, box.width(), 3 * row), Qt.TextFlag.TextWordWrap, data.ramp_title)
        y += 3 * row
        step = min(row, (box.height() - y) / max(len(data.legend), 1))
        for i, (rgb, _) in enumerate(reversed(data.legend)):  # high at the top
            painter.fillRect(QRectF(box.left(), y + i * step, 24 * unit, step + 0.5), QColor(*rgb))
        painter.drawText(QPointF(box.left() + 30 * unit, y + 12 * unit), "high")
        painter.drawText(QPointF(box.left() + 30 * unit, y + RAMP_STEPS * step), "low")
        return
    r = 6 * unit
    shown = int(max(1, (box.height() - row) // row))
    for rgb, text in data.legend[:shown]:
        painter.setPen(QPen(QColor(255, 255, 255), max(1.0, unit)))
        painter.setBrush(QColor(*rgb))
        painter.drawEllipse(QPointF(box.left() + r, y + row / 2), r, r)
        painter.setPen(QColor(40, 40, 40))
        painter.drawText(QRectF(box.left() + 3 * r, y, box.width() - 3 * r, row),
                         Qt.AlignmentFlag.AlignVCenter, text)
        y += row
    if len(data.legend) > shown:
        painter.drawText(QRectF(box.left(), y, box.width(), row), Qt.AlignmentFlag.AlignVCenter,
                         f"… {len(data.legend) - shown} more classes")


def render_png(data: FigureData, path: str, width: int, height: int) -> str:
    image = QImage(width, height, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    paint(painter, data, width, height)
    painter.end()
    if not image.save(path, "PNG"):
        raise OSError(f"Cannot write {path}")
    return path


def render_svg(data: FigureData, path: str, width: int, height: int) -> str:
    from PySide6.QtSvg import QSvgGenerator

    tmp = f"{path}.part"
    generator = QSvgGenerator()
    generator.setFileName(tmp)
    generator.setSize(QSize(width, height))
    generator.setViewBox(QRectF(0, 0, width, height))
    generator.setTitle(data.title)
    generator.setDescription(data.subtitle)
    painter = QPainter()
    if not painter.begin(generator):
        raise OSError(f"Cannot write {path}")
    paint(painter, data, width, height)
    painter.end()
    os.replace(tmp, path)  # never a half-written figure under the chosen name
    return path


class SizeDialog(QDialog):
    """Width and height of the exported figure, in pixels."""

    def __init__(self, parent=None, size: tuple[int, int] = (2000, 1500)):
        super().__init__(parent)
        self.setWindowTitle("Figure size")
        self.width_box = QSpinBox(minimum=200, maximum=16000, value=size[0], suffix=" px", singleStep=100)
        self.height_box = QSpinBox(minimum=200, maximum=16000, value=size[1], suffix=" px", singleStep=100)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Width", self.width_box)
        form.addRow("Height", self.height_box)
        form.addRow(buttons)


def ask_size(parent, size: tuple[int, int] = (2000, 1500)) -> tuple[int, int] | None:
    dialog = SizeDialog(parent, size)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return dialog.width_box.value(), dialog.height_box.value()
