"""The on-disk run: one folder format for the CLI, the app's cache and exports.

    manifest.json        what produced the numbers (written to a temp file, then renamed)
    items.csv            index, path, label, status, reason
    features.npy         (n_images, n_channels) float16, the layer's output averaged over space
    channel_max.npy      (n_images, n_channels) float16, each channel's spatial maximum
    channel_argmax.npy   (n_images, n_channels) int32, where it is: y * width + x
    state.npy            (n_images,) uint8: 0 pending, 1 done, 2 failed
    signatures.npy       (n_images, 2) int64: file size and mtime (ns) when embedded
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

from ..errors import RunFolderError

SCHEMA_VERSION = 1
PENDING, DONE, FAILED = 0, 1, 2
ARRAYS = ("features.npy", "channel_max.npy", "channel_argmax.npy", "state.npy", "signatures.npy")
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
        self.features = _open_array(self.path / "features.npy", mode)
        self.channel_max = _open_array(self.path / "channel_max.npy", mode)
        self.channel_argmax = _open_array(self.path / "channel_argmax.npy", mode)
        self.state = _open_array(self.path / "state.npy", mode)
        sig = self.path / "signatures.npy"
        self.signatures = np.load(sig) if sig.exists() else None
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
        self.mark_failed_many([(index, status, reason)])

    def mark_failed_many(self, failures: list[tuple[int, str, str]]) -> None:
        if not failures:
            return
        with open(self.path / "failures.jsonl", "a", encoding="utf-8") as f:
            for index, status, reason in failures:
                f.write(json.dumps({"index": int(index), "status": status, "reason": reason}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        for index, status, reason in failures:
            self.failures[int(index)] = (status, reason)
            self.state[index] = FAILED
        self.state.flush()

    def copy_rows_from(self, donor: "Run") -> int:
        """Take over every row of `donor` whose file is unchanged (same path, size and mtime).

        Used when files were added, removed or changed since the donor run: only the rest
        is computed again. Returns the number of rows taken over.
        """
        if donor.signatures is None or self.signatures is None:
            return 0
        known = {}
        donor_state = np.asarray(donor.state)
        for row in donor.rows:
            if donor_state[row.index] != PENDING:
                size, mtime = donor.signatures[row.index]
                known[(row.path, int(size), int(mtime))] = row.index
        pairs = [(row.index, known[k]) for row in self.rows
                 if (k := (row.path, int(self.signatures[row.index][0]), int(self.signatures[row.index][1]))) in known]
        done = np.array([(t, d) for t, d in pairs if donor_state[d] == DONE], np.int64).reshape(-1, 2)
        for start in range(0, len(done), 4096):
            t, d = done[start:start + 4096, 0], done[start:start + 4096, 1]
            self.write_rows(t, np.asarray(donor.features[d]), np.asarray(donor.channel_max[d]),
                            np.asarray(donor.channel_argmax[d]))
        self.mark_failed_many([(t, *donor.failures.get(d, ("failed", "unknown reason")))
                               for t, d in pairs if donor_state[d] == FAILED])
        return len(pairs)

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


def _open_array(path: Path, mode: str) -> np.memmap:
    # numpy's "r+" silently zero-extends a file that is too short, so a truncated array would
    # pass for finished rows of zeros; opening read-only first raises on it instead.
    array = np.load(path, mmap_mode="r")
    if mode == "r":
        return array
    del array
    return np.load(path, mmap_mode=mode)


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


def create_run(path: Path, manifest: dict, rows: list[Row], n_channels: int,
               signatures: np.ndarray | None = None) -> Run:
    """A fresh run folder with all rows pending; signatures: (n, 2) file size and mtime."""
    path.mkdir(parents=True, exist_ok=True)
    for name in OUR_FILES:
        if (path / name).exists():
            (path / name).unlink()
    n = len(rows)
    for name, dtype in (("features.npy", np.float16), ("channel_max.npy", np.float16),
                        ("channel_argmax.npy", np.int32)):
        np.lib.format.open_memmap(path / name, mode="w+", dtype=dtype, shape=(n, n_channels)).flush()
    np.lib.format.open_memmap(path / "state.npy", mode="w+", dtype=np.uint8, shape=(n,)).flush()
    if signatures is not None:
        np.save(path / "signatures.npy", np.asarray(signatures, np.int64).reshape(n, 2))
    (path / "failures.jsonl").touch()
    manifest = dict(manifest, schema_version=SCHEMA_VERSION, created=_now(), complete=False)
    run = Run(path, manifest, rows, "r+")
    run.save()
    return run


def open_run(path: str | os.PathLike, key: str, manifest: dict, rows: list[Row], n_channels: int,
             *, overwrite: bool = False, signatures: np.ndarray | None = None) -> tuple[Run, bool]:
    """Resume the run at `path` if it holds the same inputs (same key), else start it.

    Returns (run, resumed). A run of the same model, layer and dataset folder whose files
    changed is updated: unchanged rows are taken over, only the rest is pending. A folder
    holding a different run is only replaced with overwrite=True; a folder holding
    anything that is not ours is never touched.
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
        if run is not None and _same_family(run.manifest, manifest) and run.features.shape[1] == n_channels:
            return _update_in_place(path, run, dict(manifest, key=key), rows, n_channels, signatures), False
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
    return create_run(path, manifest, rows, n_channels, signatures), False


def _same_family(old: dict, new: dict) -> bool:
    """Same model, weights, layer, preprocessing and folder: only the files differ."""
    return bool(old.get("family")) and old.get("family") == new.get("family") \
        and old.get("dataset", {}).get("root") == new.get("dataset", {}).get("root")


def _update_in_place(path: Path, old: Run, manifest: dict, rows: list[Row], n_channels: int,
                     signatures) -> Run:
    """Build the updated run beside the old one, take over its unchanged rows, then swap."""
    staging = path.with_name(path.name + ".updating")
    if staging.exists():
        shutil.rmtree(staging)
    new = create_run(staging, manifest, rows, n_channels, signatures)
    new.copy_rows_from(old)
    new.save()
    del old, new  # close the memory maps before the files move
    for p in path.iterdir():  # the old run's files, and its maps of the old file list
        if p.name in OUR_FILES or p.name.startswith("projection-"):
            p.unlink()
    for name in sorted(OUR_FILES - {"manifest.json"}) + ["manifest.json"]:  # the manifest last
        if (staging / name).exists():
            os.replace(staging / name, path / name)
    shutil.rmtree(staging, ignore_errors=True)
    return load_run(path, writable=True)


def cache_root() -> Path:
    """Where the app keeps runs it computed (EXPLORER_CACHE_DIR overrides, for tests and servers)."""
    env = os.environ.get("EXPLORER_CACHE_DIR")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("cnn-feature-explorer", appauthor=False))


def cache_path(key: str) -> Path:
    return cache_root() / "runs" / key[:24]


def _families_path() -> Path:
    return cache_root() / "families.json"


def remember_cached(run: Run) -> None:
    """Note the newest cached run per (family, folder): the donor when its files change."""
    family = run.manifest.get("family")
    if not family:
        return
    try:
        index = json.loads(_families_path().read_text())
    except (OSError, ValueError):
        index = {}
    index[f"{family}:{run.manifest['dataset']['root']}"] = run.path.name
    try:
        write_atomic(_families_path(), json.dumps(index))
    except OSError:
        pass  # the index only saves time


def cache_donor(family: str, root: str, exclude: Path | None = None) -> Run | None:
    try:
        name = json.loads(_families_path().read_text()).get(f"{family}:{root}")
        if not name or (exclude is not None and Path(exclude).name == name):
            return None
        run = load_run(cache_root() / "runs" / name)
    except (OSError, ValueError, RunFolderError):
        return None
    return run if run.manifest.get("family") == family else None


@dataclass
class CachedRun:
    path: Path
    manifest: dict | None  # None: damaged
    size_bytes: int


def cached_runs() -> list[CachedRun]:
    """Every run folder in the cache with its manifest and size on disk, newest first."""
    root = cache_root() / "runs"
    out = []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if not folder.is_dir():
            continue
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
        except (OSError, ValueError):
            manifest = None
        out.append(CachedRun(folder, manifest, size))
    return sorted(out, key=lambda r: (r.manifest or {}).get("updated", ""), reverse=True)


def clear_cache() -> tuple[int, int]:
    """Delete every cached run and the indexes; returns (runs removed, bytes freed)."""
    runs = cached_runs()
    for run in runs:
        shutil.rmtree(run.path, ignore_errors=True)
    for index in ("requests.json", "families.json"):
        (cache_root() / index).unlink(missing_ok=True)
    return len(runs), sum(r.size_bytes for r in runs)
