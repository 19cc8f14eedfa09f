"""A unit's receptive field on the input: plain numbers, importable without torch (a finished run's
patches are cropped with it, and reading a run must not load torch)."""

from __future__ import annotations

import math
from dataclasses import dataclass

GLOBAL = "global"


@dataclass(frozen=True)
class Field:
    j: tuple[float, float]  # (y, x)
    r: tuple[float, float]
    start: tuple[float, float]

    @property
    def size(self) -> int:
        return int(round(max(self.r)))

    @property
    def jump(self) -> int:
        return int(round(max(self.j)))

    def apply(self, k, s, p, d) -> "Field":
        keff = [d[a] * (k[a] - 1) + 1 for a in (0, 1)]
        return Field(
            tuple(self.j[a] * s[a] for a in (0, 1)),
            tuple(self.r[a] + (keff[a] - 1) * self.j[a] for a in (0, 1)),
            tuple(self.start[a] + ((keff[a] - 1) / 2 - p[a]) * self.j[a] for a in (0, 1)),
        )

    def box(self, y: int, x: int, input_size: int) -> tuple[int, int, int, int]:
        """[left, top, right, bottom) of unit (y, x) in input pixels, clipped to the image."""
        cy = self.start[0] + y * self.j[0]
        cx = self.start[1] + x * self.j[1]
        top, left = cy - (self.r[0] - 1) / 2, cx - (self.r[1] - 1) / 2
        bottom, right = top + self.r[0], left + self.r[1]
        clip = lambda v: int(min(max(math.floor(v + 0.5), 0), input_size))  # noqa: E731
        return clip(left), clip(top), clip(right), clip(bottom)
