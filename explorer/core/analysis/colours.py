"""Colours of the map and its legends: pure data, so scripts colour maps exactly as the app does."""

from __future__ import annotations

import colorsys

import numpy as np

UNLABELLED = (140, 140, 140)
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207), (174, 199, 232), (255, 187, 120),
           (152, 223, 138), (255, 152, 150), (197, 176, 213), (196, 156, 148), (247, 182, 210), (199, 199, 199),
           (219, 219, 141), (158, 218, 229)]
RAMP_STEPS = 32


def class_colour(code: int) -> tuple[int, int, int]:
    """RGB of class `code` (-1: unlabelled); golden-ratio hues beyond the palette."""
    if code < 0:
        return UNLABELLED
    if code < len(PALETTE):
        return PALETTE[code]
    r, g, b = colorsys.hsv_to_rgb((code * 0.618033988749895) % 1.0, 0.65, 0.85)
    return round(r * 255), round(g * 255), round(b * 255)


def ramp() -> list[tuple[int, int, int]]:
    """RAMP_STEPS colours from low (dark blue) to high (yellow) activation."""
    from .activation import heat_colours

    rgb = heat_colours(np.linspace(0, 1, RAMP_STEPS)) * 255
    return [tuple(int(round(v)) for v in c) for c in rgb]
