"""Datasets: a folder of images (class sub-folders as labels) or a bundled demo.

A dataset is a stable, sorted list of items plus a way to load each one as RGB.
Listing is a generator of Steps so a million-file folder shows progress and can
be cancelled; a symlink loop is visited once, never followed forever. What was
not listed (a folder that cannot be read, an image format we do not read) is kept
in `Dataset.skipped` with the reason, so nothing vanishes without a word. File
names need not be valid UTF-8: they are str with surrogate escapes (as os gives
them), and the fingerprint hashes their exact bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image

from .decode import IMAGE_EXTENSIONS, UNSUPPORTED_EXTENSIONS, load_rgb
from .sources import DEMO_PREFIX
from ..errors import DatasetError
from ..progress import Step, Work, run_to_end

__all__ = ["IMAGE_EXTENSIONS", "UNSUPPORTED_EXTENSIONS", "Dataset", "Item", "Skipped", "describe", "open_dataset",
           "printable", "scan_dataset"]

UNREADABLE_FOLDER = "unreadable-folder"  # Skipped.kind: a folder whose entries cannot be listed
UNSUPPORTED = "unsupported"  # Skipped.kind: an image-like file in a format we do not read


@dataclass(frozen=True)
class Item:
    path: str  # relative to the dataset root, '/'-separated
    label: str | None
    size: int  # bytes; part of the cache key
    mtime_ns: int
    # status-change time: a file whose content was replaced and its mtime put back gets a new one;
    # not in the cache key (a chmod changes it too), checked against the run's signatures instead
    ctime_ns: int = 0


class Skipped(NamedTuple):
    """Something in the folder that was not listed, and why."""

    path: str  # relative to the dataset root, '/'-separated
    kind: str  # UNREADABLE_FOLDER or UNSUPPORTED
    reason: str  # e.g. "permission denied", "SVG is a vector format: export it as PNG"


class Dataset:
    """A list of items with labels; `load(i)` returns (RGB image, original size).

    skipped: what the listing met but did not list, sorted by path (not part of the fingerprint:
    it changes no row's numbers).
    """

    def __init__(self, root: str, items: list[Item], skipped: list[Skipped] | None = None):
        self.root = root
        self.items = items
        self.skipped: list[Skipped] = list(skipped or [])
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

    def signatures(self) -> np.ndarray:
        """(n, 3) int64: each file's size, mtime and ctime (ns): what tells that a row's file changed."""
        return np.array([(it.size, it.mtime_ns, it.ctime_ns) for it in self.items], np.int64).reshape(-1, 3)

    def content_digest(self, i: int) -> bytes:
        """16-byte BLAKE2b of the file's bytes (zeros when it cannot be read): what `--verify` compares."""
        return file_digest(self.full_path(i))

    def fingerprint(self) -> str:
        """Changes whenever a file is added, removed, renamed or modified.

        Names are hashed as their exact bytes (UTF-8, undecodable bytes restored from their surrogate
        escapes), so UTF-8 names give the keys they always gave and no two names share one.
        """
        h = hashlib.sha256(_exact_bytes(self.root))
        update = h.update
        for it in self.items:
            line = f"{it.path}\0{it.label}\0{it.size}\0{it.mtime_ns}\n"
            try:
                update(line.encode("utf-8", "surrogateescape"))
            except UnicodeEncodeError:
                update(_exact_bytes(line))
        return h.hexdigest()


def _exact_bytes(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that is no escaped byte (possible on Windows)
        return text.encode("utf-8", "surrogatepass")


def printable(name: str) -> str:
    """A name as it can be printed anywhere: undecodable bytes shown as \\xff."""
    return _exact_bytes(name).decode("utf-8", "backslashreplace")


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

    def content_digest(self, i: int) -> bytes:
        return hashlib.blake2b(self._pixels[i].tobytes(), digest_size=16).digest()


DEMOS = {"digits": DigitsDataset}


def hash_file(path, h):
    """Feed a file's bytes to hashlib object `h` in 1 MiB blocks; returns `h` (OSError if unreadable)."""
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h


def file_digest(path: str) -> bytes:
    """16-byte BLAKE2b of a file's bytes; 16 zero bytes ("unknown") when it cannot be read."""
    try:
        return hash_file(path, hashlib.blake2b(digest_size=16)).digest()
    except OSError:
        return bytes(16)


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
    skipped: list[Skipped] = []
    for step in _walk(root, items, skipped):
        yield step
    skipped.sort(key=lambda s: s.path)
    if skipped and skipped[0].path == "":
        raise DatasetError(f"Cannot read {printable(str(root))}: {skipped[0].reason}")
    if not items:
        raise DatasetError(f"No images found in {printable(str(root))} (looked for "
                           f"{', '.join(sorted(IMAGE_EXTENSIONS))})" + _not_listed(skipped))
    items.sort(key=lambda it: it.path)
    return Dataset(str(root), items, skipped)


def _walk(root: Path, items: list[Item], skipped: list[Skipped]) -> Work[None]:
    """Depth-first listing; labels are the first-level sub-folder names."""
    seen_dirs: set[tuple[int, int]] = set()
    stack = [(root, "")]
    visited = 0
    image_exts, unsupported = IMAGE_EXTENSIONS, UNSUPPORTED_EXTENSIONS
    while stack:
        folder, rel = stack.pop()
        try:
            st = folder.stat()
            if (st.st_dev, st.st_ino) in seen_dirs:
                continue  # symlink loop or a folder linked twice
            seen_dirs.add((st.st_dev, st.st_ino))
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            skipped.append(Skipped(rel, UNREADABLE_FOLDER, _why(exc)))
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
            ext = os.path.splitext(name)[1].lower()
            if ext not in image_exts:
                if ext in unsupported:
                    skipped.append(Skipped(rel_path, UNSUPPORTED, unsupported[ext]))
                continue
            try:
                est = entry.stat()
                size, mtime, ctime = est.st_size, est.st_mtime_ns, est.st_ctime_ns
            except OSError:
                size, mtime, ctime = -1, 0, 0  # dangling link: kept, reported as missing when decoded
            label = rel_path.split("/", 1)[0] if "/" in rel_path else None
            items.append(Item(rel_path, label, size, mtime, ctime))
            visited += 1
            if visited % 2000 == 0:
                yield Step(visited, None, f"listing {root.name}: {visited:,} images")
    yield Step(visited, visited, f"listed {visited:,} images")


def _why(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    return (exc.strerror or str(exc) or type(exc).__name__).lower()


def describe(dataset: Dataset) -> str:
    """One line: "N images, K classes ({...})", then what was not listed, if anything."""
    counts = {c: 0 for c in dataset.classes}
    for label in dataset.labels:
        if label is not None:
            counts[label] += 1
    head = f"{len(dataset):,} images"
    return head + (f", {len(counts)} classes" if counts else ", no labels") + (
        f" ({json.dumps(counts)})" if 0 < len(counts) <= 12 else "") + _not_listed(dataset.skipped)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _not_listed(skipped: list[Skipped], *, show: int = 3) -> str:
    """'; not listed: 1 unreadable folder (cats: permission denied), 2 unsupported files (1 .psd, 1 .svg)'."""
    if not skipped:
        return ""
    parts = []
    folders = [s for s in skipped if s.kind == UNREADABLE_FOLDER]
    if folders:
        names = ", ".join(f"{printable(s.path) or '.'}: {s.reason}" for s in folders[:show])
        more = f", and {len(folders) - show:,} more" if len(folders) > show else ""
        parts.append(f"{_plural(len(folders), 'unreadable folder')} ({names}{more})")
    files = [s for s in skipped if s.kind == UNSUPPORTED]
    if files:
        exts = Counter(os.path.splitext(s.path)[1].lower() for s in files)
        fixes = {os.path.splitext(s.path)[1].lower(): s.reason for s in files}
        shown = []
        for ext, n in sorted(exts.items(), key=lambda kv: (-kv[1], kv[0])):
            fix = fixes[ext]
            # a missing decoder is one install away: say which; other formats are listed by extension
            shown.append(f"{n:,} {printable(ext)}" + (f": {fix.split(': ', 1)[-1]}" if "pip install" in fix else ""))
        parts.append(f"{_plural(len(files), 'unsupported file')} ({', '.join(shown)})")
    return "; not listed: " + ", ".join(parts)
