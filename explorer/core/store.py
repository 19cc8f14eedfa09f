"""The on-disk run: one folder format for the CLI, the app's cache and exports.

    manifest.json        what produced the numbers (written to a temp file, then renamed)
    items.csv            index, path, label, status, reason
    features.npy         (n_images, n_channels) float16, the layer's output averaged over space
    channel_max.npy      (n_images, n_channels) float16, each channel's spatial maximum
    channel_argmax.npy   (n_images, n_channels) int32, where it is: y * width + x
    state.npy            (n_images,) uint8: 0 pending, 1 done, 2 failed
    failures.jsonl       one line per failed row (append-only), so reasons survive a crash

Rows are marked done in state.npy only after their numbers were flushed to disk,
so a killed run resumes from exactly the rows that are safe.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import RunFolderError

SCHEMA_VERSION = 1
PENDING, DONE, FAILED = 0, 1, 2
ARRAYS = ("features.npy", "channel_max.npy", "channel_argmax.npy", "state.npy")
OUR_FILES = {"manifest.json", "items.csv", "failures.jsonl", *ARRAYS}
FP16_MAX = float(np.finfo(np.float16).max)


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file in the same folder and rename it over `path`."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@dataclass
class Row:
    index: int
    path: str
    label: str | None


class Run:
    """A run folder opened for reading (and writing, while embedding)."""

    def __init__(self, path: Path, manifest: dict, rows: list[Row], mode: str):
        self.path = Path(path)
        self.manifest = manifest
        self.rows = rows
        self.features = np.load(self.path / "features.npy", mmap_mode=mode)
        self.channel_max = np.load(self.path / "channel_max.npy", mmap_mode=mode)
        self.channel_argmax = np.load(self.path / "channel_argmax.npy", mmap_mode=mode)
        self.state = np.load(self.path / "state.npy", mmap_mode=mode)
        self.failures = _read_failures(self.path / "failures.jsonl")
        n = len(rows)
        if self.state.shape != (n,) or self.features.shape[0] != n or self.channel_max.shape != self.features.shape \
                or self.channel_argmax.shape != self.features.shape:
            raise RunFolderError(f"{self.path}: array sizes do not match items.csv ({n} rows)")

    # --- reading -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.rows)

    @property
    def key(self) -> str:
        return self.manifest["key"]

    @property
    def labels(self) -> list[str | None]:
        return [r.label for r in self.rows]

    @property
    def done_mask(self) -> np.ndarray:
        return np.asarray(self.state) == DONE

    @property
    def complete(self) -> bool:
        return bool(self.manifest.get("complete")) and not (np.asarray(self.state) == PENDING).any()

    def counts(self) -> dict:
        state = np.asarray(self.state)
        return {"items": int(state.size), "embedded": int((state == DONE).sum()),
                "failed": int((state == FAILED).sum()), "pending": int((state == PENDING).sum())}

    def full_path(self, index: int) -> str:
        root = self.manifest["dataset"]["root"]
        if root.startswith("demo:"):
            return f"{root}/{self.rows[index].path}"
        return os.path.join(root, *self.rows[index].path.split("/"))

    def status(self, index: int) -> tuple[str, str]:
        s = int(self.state[index])
        if s == DONE:
            return "ok", ""
        if s == FAILED:
            return self.failures.get(index, ("failed", "unknown reason"))
        return "pending", ""

    # --- writing -------------------------------------------------------------------------------
    def write_rows(self, indices: np.ndarray, features: np.ndarray, cmax: np.ndarray, cargmax: np.ndarray) -> None:
        """Store finished rows; they count as done only once their numbers are on disk."""
        self.features[indices] = np.clip(features, -FP16_MAX, FP16_MAX)
        self.channel_max[indices] = np.clip(cmax, -FP16_MAX, FP16_MAX)
        self.channel_argmax[indices] = cargmax
        for arr in (self.features, self.channel_max, self.channel_argmax):
            arr.flush()
        self.state[indices] = DONE
        self.state.flush()

    def mark_failed(self, index: int, status: str, reason: str) -> None:
        with open(self.path / "failures.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps({"index": int(index), "status": status, "reason": reason}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.failures[int(index)] = (status, reason)
        self.state[index] = FAILED
        self.state.flush()

    def save(self, *, complete: bool | None = None) -> None:
        """Write items.csv and the manifest (counts, timestamps) atomically."""
        lines = [["index", "path", "label", "status", "reason"]]
        for row in self.rows:
            status, reason = self.status(row.index)
            lines.append([row.index, row.path, "" if row.label is None else row.label, status, reason])
        write_atomic(self.path / "items.csv", _csv_text(lines))
        if complete is not None:
            self.manifest["complete"] = complete
        self.manifest["counts"] = self.counts()
        self.manifest["updated"] = _now()
        if self.manifest.get("complete") and "finished" not in self.manifest:
            self.manifest["finished"] = _now()
        write_atomic(self.path / "manifest.json", json.dumps(self.manifest, indent=2))

    def failure_summary(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for i in np.flatnonzero(np.asarray(self.state) == FAILED):
            status = self.failures.get(int(i), ("failed", ""))[0]
            out[status] = out.get(status, 0) + 1
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _csv_text(lines) -> str:
    import io

    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(lines)
    return buf.getvalue()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _read_failures(path: Path) -> dict[int, tuple[str, str]]:
    out: dict[int, tuple[str, str]] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                rec = json.loads(line)
                out[int(rec["index"])] = (str(rec["status"]), str(rec["reason"]))
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a crash
    return out


def _read_rows(path: Path) -> list[Row]:
    with open(path / "items.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return [Row(int(r["index"]), r["path"], r["label"] or None) for r in reader]


def load_run(path: str | os.PathLike, *, writable: bool = False) -> Run:
    """Open an existing run folder; RunFolderError says what is wrong with it."""
    path = Path(path).expanduser()
    manifest_path = path / "manifest.json"
    if not manifest_path.exists():
        raise RunFolderError(f"{path} is not a run folder (no manifest.json); create one with 'explorer embed'.")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("schema_version") != SCHEMA_VERSION:
            raise RunFolderError(f"{path}: run format version {manifest.get('schema_version')} is not "
                                 f"supported (this version reads {SCHEMA_VERSION}); embed again.")
        return Run(path, manifest, _read_rows(path), "r+" if writable else "r")
    except RunFolderError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise RunFolderError(f"{path}: the run folder is damaged ({exc}); embed again with --overwrite.") from None


def create_run(path: Path, manifest: dict, rows: list[Row], n_channels: int) -> Run:
    """A fresh run folder with all rows pending."""
    path.mkdir(parents=True, exist_ok=True)
    for name in OUR_FILES:
        if (path / name).exists():
            (path / name).unlink()
    n = len(rows)
    for name, dtype in (("features.npy", np.float16), ("channel_max.npy", np.float16),
                        ("channel_argmax.npy", np.int32)):
        np.lib.format.open_memmap(path / name, mode="w+", dtype=dtype, shape=(n, n_channels)).flush()
    np.lib.format.open_memmap(path / "state.npy", mode="w+", dtype=np.uint8, shape=(n,)).flush()
    (path / "failures.jsonl").touch()
    manifest = dict(manifest, schema_version=SCHEMA_VERSION, created=_now(), complete=False)
    run = Run(path, manifest, rows, "r+")
    run.save()
    return run


def open_run(path: str | os.PathLike, key: str, manifest: dict, rows: list[Row], n_channels: int,
             *, overwrite: bool = False) -> tuple[Run, bool]:
    """Resume the run at `path` if it holds the same inputs (same key), else start it.

    Returns (run, resumed). A folder holding a different run is only replaced with
    overwrite=True; a folder holding anything that is not ours is never touched.
    """
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise RunFolderError(f"{path} is a file, not a run folder.")
    if path.exists() and any(path.iterdir()):
        try:
            run = load_run(path, writable=True)
        except RunFolderError:
            run = None
        if run is not None and run.key == key and run.features.shape == (len(rows), n_channels):
            return run, True
        if run is not None and not overwrite:
            m = run.manifest
            raise RunFolderError(
                f"{path} already holds another run ({m.get('model')}, layer {m.get('layer')}, "
                f"{len(run)} images from {m.get('dataset', {}).get('root')}). Choose another --out, "
                "or pass --overwrite to replace it.")
        strangers = [p.name for p in path.iterdir() if p.name not in OUR_FILES and not p.name.endswith(".tmp")
                     and not p.name.startswith("projection-")]
        if strangers and run is None:
            raise RunFolderError(f"{path} is not empty and is not a run folder ({', '.join(sorted(strangers)[:3])}"
                                 "...); choose an empty or new folder.")
        for p in path.iterdir():  # a damaged or replaced run: start clean
            if p.name in OUR_FILES or p.name.endswith(".tmp") or p.name.startswith("projection-"):
                shutil.rmtree(p) if p.is_dir() else p.unlink()
    manifest = dict(manifest, key=key)
    return create_run(path, manifest, rows, n_channels), False


def cache_root() -> Path:
    """Where the app keeps runs it computed (EXPLORER_CACHE_DIR overrides, for tests and servers)."""
    env = os.environ.get("EXPLORER_CACHE_DIR")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("cnn-feature-explorer", appauthor=False))


def cache_path(key: str) -> Path:
    return cache_root() / "runs" / key[:24]
