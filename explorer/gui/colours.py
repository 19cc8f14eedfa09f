"""Colours shared by the map and the legend: a class palette and an activation ramp."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QColor

from ..core.analysis.activation import heat_colours

UNLABELLED = (140, 140, 140)
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207), (174, 199, 232), (255, 187, 120),
           (152, 223, 138), (255, 152, 150), (197, 176, 213), (196, 156, 148), (247, 182, 210), (199, 199, 199),
           (219, 219, 141), (158, 218, 229)]
RAMP_STEPS = 32


def class_colour(code: int) -> tuple[int, int, int]:
    if code < 0:
        return UNLABELLED
    if code < len(PALETTE):
        return PALETTE[code]
    h = (code * 0.618033988749895) % 1.0  # golden-ratio hues beyond the palette
    c = QColor.fromHsvF(h, 0.65, 0.85)
    return c.red(), c.green(), c.blue()


def ramp() -> list[tuple[int, int, int]]:
    rgb = heat_colours(np.linspace(0, 1, RAMP_STEPS)) * 255
    return [tuple(int(round(v)) for v in c) for c in rgb]
