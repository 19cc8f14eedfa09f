"""Datasets: a folder of images (class sub-folders as labels) or a bundled demo.

A dataset is a stable, sorted list of items plus a way to load each one as RGB.
Listing is a generator of Steps so a million-file folder shows progress and can
be cancelled; a symlink loop is visited once, never followed forever.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .decode import load_rgb
from .sources import DEMO_PREFIX
from ..errors import DatasetError
from ..progress import Step, Work, run_to_end

IMAGE_EXTENSIONS = frozenset(
    ".jpg .jpeg .jpe .jfif .png .bmp .gif .tif .tiff .webp .ppm .pgm .pbm .pnm .ico .tga".split()
)


@dataclass(frozen=True)
class Item:
    path: str  # relative to the dataset root, '/'-separated
    label: str | None
    size: int  # bytes; part of the cache key
    mtime_ns: int


class Dataset:
    """A list of items with labels; `load(i)` returns (RGB image, original size)."""

    def __init__(self, root: str, items: list[Item]):
        self.root = root
        self.items = items
        self.classes = sorted({it.label for it in items if it.label is not None})

    def __len__(self) -> int:
        return len(self.items)

    @property
    def labels(self) -> list[str | None]:
        return [it.label for it in self.items]

    def full_path(self, i: int) -> str:
        return os.path.join(self.root, *self.items[i].path.split("/"))

    def load(self, i: int, *, draft_size: int | None = None) -> tuple[Image.Image, tuple[int, int]]:
        return load_rgb(self.full_path(i), draft_size=draft_size)

    def fingerprint(self) -> str:
        """Changes whenever a file is added, removed, renamed or modified."""
        h = hashlib.sha256(self.root.encode())
        for it in self.items:
            h.update(f"{it.path}\0{it.label}\0{it.size}\0{it.mtime_ns}\n".encode())
        return h.hexdigest()


class DigitsDataset(Dataset):
    """scikit-learn's 1,797 8x8 handwritten digits as grey RGB images, labels 0-9."""

    FINGERPRINT = "demo:digits:v1"

    def __init__(self):
        from sklearn.datasets import load_digits

        digits = load_digits()
        # 0..16 ink values -> dark ink on white paper, as a person would draw them
        self._pixels = (255 - digits.images * (255 / 16)).round().astype(np.uint8)
        labels = [str(int(t)) for t in digits.target]
        items = [Item(f"{labels[i]}/digit-{i:04d}.png", labels[i], 64, 0) for i in range(len(labels))]
        super().__init__("demo:digits", items)

    def full_path(self, i: int) -> str:
        return f"demo:digits/{self.items[i].path}"

    def load(self, i: int, *, draft_size: int | None = None) -> tuple[Image.Image, tuple[int, int]]:
        im = Image.fromarray(self._pixels[i], mode="L").convert("RGB")
        return im, im.size

    def fingerprint(self) -> str:
        return self.FINGERPRINT


DEMOS = {"digits": DigitsDataset}


def open_dataset(spec: str | os.PathLike) -> Dataset:
    """Open `demo:NAME` or a folder; raises DatasetError when nothing usable is there."""
    return run_to_end(scan_dataset(spec))


def scan_dataset(spec: str | os.PathLike) -> Work[Dataset]:
    spec = os.fspath(spec)
    if spec.startswith(DEMO_PREFIX):
        name = spec[len(DEMO_PREFIX):]
        if name not in DEMOS:
            raise DatasetError(f"Unknown demo dataset {spec!r}; available: "
                               + ", ".join(DEMO_PREFIX + n for n in DEMOS))
        return DEMOS[name]()
    root = Path(spec).expanduser()
    if not root.exists():
        raise DatasetError(f"Dataset folder not found: {root}")
    if not root.is_dir():
        raise DatasetError(f"Not a folder: {root} (choose a folder of images, class sub-folders as labels)")
    root = root.resolve()
    items: list[Item] = []
    for step in _walk(root, items):
        yield step
    if not items:
        raise DatasetError(f"No images found in {root} (looked for {', '.join(sorted(IMAGE_EXTENSIONS))})")
    items.sort(key=lambda it: it.path)
    return Dataset(str(root), items)


def _walk(root: Path, items: list[Item]) -> Work[None]:
    """Depth-first listing; labels are the first-level sub-folder names."""
    seen_dirs: set[tuple[int, int]] = set()
    stack = [(root, "")]
    visited = 0
    while stack:
        folder, rel = stack.pop()
        try:
            st = folder.stat()
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in seen_dirs:
            continue  # symlink loop or a folder linked twice
        seen_dirs.add((st.st_dev, st.st_ino))
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue  # .DS_Store, ._x.jpg (macOS resource forks), hidden folders
            rel_path = f"{rel}/{name}" if rel else name
            try:
                is_dir = entry.is_dir()  # follows links; a dangling link is not a dir
            except OSError:
                is_dir = False
            if is_dir:
                stack.append((Path(entry.path), rel_path))
                continue
            if os.path.splitext(name)[1].lower() not in IMAGE_EXTENSIONS:
                continue
            try:
                est = entry.stat()
                size, mtime = est.st_size, est.st_mtime_ns
            except OSError:
                size, mtime = -1, 0  # dangling link: kept, reported as missing when decoded
            label = rel_path.split("/", 1)[0] if "/" in rel_path else None
            items.append(Item(rel_path, label, size, mtime))
            visited += 1
            if visited % 2000 == 0:
                yield Step(visited, None, f"listing {root.name}: {visited:,} images")
    yield Step(visited, visited, f"listed {visited:,} images")


def describe(dataset: Dataset) -> str:
    counts = {c: 0 for c in dataset.classes}
    for label in dataset.labels:
        if label is not None:
            counts[label] += 1
    head = f"{len(dataset):,} images"
    return head + (f", {len(counts)} classes" if counts else ", no labels") + (
        f" ({json.dumps(counts)})" if 0 < len(counts) <= 12 else "")
