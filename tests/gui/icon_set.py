"""A small icon set like the one in issue 10: objects in category folders, each drawn in several designs,
the design named by the file-name prefix (flat_cup_03.png). Used by the map tests and screenshots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

OBJECTS = ("cup", "key", "star", "house")
DESIGNS = ("flat", "line", "duotone")


def _shape(draw: ImageDraw.ImageDraw, obj: str, box, fill, outline, width):
    x0, y0, x1, y1 = box
    cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
    if obj == "cup":
        draw.rectangle((x0 + w * .2, y0 + h * .25, x1 - w * .3, y1 - h * .1), fill=fill, outline=outline, width=width)
        draw.arc((x1 - w * .45, cy - h * .2, x1 - w * .05, cy + h * .2), -90, 90, fill=outline, width=max(2, width))
    elif obj == "key":
        draw.ellipse((x0 + w * .05, cy - h * .2, x0 + w * .45, cy + h * .2), fill=fill, outline=outline, width=width)
        draw.rectangle((x0 + w * .45, cy - h * .05, x1 - w * .05, cy + h * .05), fill=fill, outline=outline,
                       width=width)
        draw.rectangle((x1 - w * .25, cy, x1 - w * .15, cy + h * .2), fill=fill, outline=outline, width=width)
    elif obj == "star":
        pts = []
        for k in range(10):
            r = (w * .45) if k % 2 == 0 else (w * .18)
            a = -np.pi / 2 + k * np.pi / 5
            pts.append((cx + r * np.cos(a), cy + r * np.sin(a)))
        draw.polygon(pts, fill=fill, outline=outline, width=width)
    else:  # house
        draw.polygon([(cx, y0 + h * .1), (x1 - w * .1, cy), (x0 + w * .1, cy)], fill=fill, outline=outline,
                     width=width)
        draw.rectangle((x0 + w * .2, cy, x1 - w * .2, y1 - h * .1), fill=fill, outline=outline, width=width)


def make_icon_set(root: Path, variants: int = 6, size: int = 64) -> Path:
    """len(OBJECTS) x len(DESIGNS) x variants PNGs under root/<object>/<design>_<object>_<nn>.png."""
    rng = np.random.default_rng(0)
    root = Path(root)
    for obj in OBJECTS:
        (root / obj).mkdir(parents=True, exist_ok=True)
        for design in DESIGNS:
            for v in range(variants):
                hue = tuple(int(c) for c in rng.integers(40, 220, 3))
                bg = (255, 255, 255) if design != "duotone" else tuple(min(255, c + 120) for c in hue)
                img = Image.new("RGB", (size, size), bg)
                d = ImageDraw.Draw(img)
                m = rng.integers(2, 10)
                box = (m, m, size - m, size - m)
                if design == "flat":
                    _shape(d, obj, box, hue, hue, 1)
                elif design == "line":
                    _shape(d, obj, box, None, (30, 30, 30), 3)
                else:
                    _shape(d, obj, box, (40, 40, 40), hue, 4)
                img.save(root / obj / f"{design}_{obj}_{v:02d}.png")
    return root
