"""Where a run's images come from: a folder on disk or a bundled demo, behind one interface.

A run records its source as the dataset spec (`/data/birds` or `demo:digits`); everything that
shows a row's picture, names its file or checks for a cached run goes through `image_source`,
so the demo is no special case anywhere else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image

DEMO_PREFIX = "demo:"


def is_demo(spec: str) -> bool:
    return str(spec).startswith(DEMO_PREFIX)


@dataclass(frozen=True)
class ImageSource:
    spec: str  # a folder (absolute) or demo:NAME

    @property
    def kind(self) -> str:
        return "demo" if is_demo(self.spec) else "folder"

    def full_path(self, rel_path: str) -> str:
        """The file a row names; for a demo a readable pseudo-path (demo:digits/3/digit-0003.png)."""
        if self.kind == "demo":
            return f"{self.spec}/{rel_path}"
        return os.path.join(self.spec, *rel_path.split("/"))

    def load(self, index: int, rel_path: str, *, draft_size: int | None = None) -> Image.Image:
        """RGB image of row `index` as embedded; DecodeError (from decode) when a file is unreadable."""
        if self.kind == "demo":
            return _demo(self.spec[len(DEMO_PREFIX):]).load(index)[0]
        from .decode import load_rgb

        return load_rgb(self.full_path(rel_path), draft_size=draft_size)[0]

    def original_size(self, index: int, rel_path: str) -> tuple[int, int]:
        """(width, height) as a person sees the picture, from the header where there is a file."""
        if self.kind == "demo":
            return _demo(self.spec[len(DEMO_PREFIX):]).load(index)[0].size
        from .decode import oriented_size

        return oriented_size(self.full_path(rel_path))

    def known_fingerprint(self) -> str | None:
        """The dataset fingerprint when it is known without listing (demos), else None."""
        if self.kind != "demo":
            return None
        from .datasets import DEMOS

        demo = DEMOS.get(self.spec[len(DEMO_PREFIX):])
        return getattr(demo, "FINGERPRINT", None)


def image_source(spec: str | os.PathLike) -> ImageSource:
    return ImageSource(os.fspath(spec))


@lru_cache(maxsize=4)
def _demo(name: str):
    from .datasets import DEMOS

    return DEMOS[name]()
