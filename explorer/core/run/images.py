"""Images of a run for display: the picture as embedded (EXIF-rotated), and thumbnails."""

from __future__ import annotations

from PIL import Image

from .store import Run


def load_item(run: Run, index: int, *, max_side: int | None = None) -> Image.Image:
    """The RGB image of row `index`, oriented as it was embedded; DecodeError if unreadable."""
    img = run.source.load(index, run.rows[index].path, draft_size=max_side)
    if max_side and max(img.size) > max_side:
        img = img.copy()
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return img


def thumbnail(run: Run, index: int, size: int = 96) -> Image.Image:
    """At most size x size, aspect kept; tiny images (8x8 digits) are enlarged without blur."""
    img = load_item(run, index, max_side=size)
    if max(img.size) < size // 2:
        scale = max(1, size // max(img.size))
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    return img
