"""The on-disk run: one open folder format for the CLI, the app's cache and exports.

    manifest.json        what produced the numbers, the layers and the list of arrays with their files
                         (written to a temp file, then renamed)
    items.csv            index, path, label, status, reason
    features.npy         (n_images, n_channels) float16, the layer's output averaged over space
    channel_max.npy      (n_images, n_channels) float16, each channel's spatial maximum
    channel_argmax.npy   (n_images, n_channels) int32, where it is: y * width + x
    <array>.L<k>.npy     the same arrays for the k-th further layer of a multi-layer run
    state.npy            (n_images,) uint8: 0 pending, 1 done, 2 failed
    signatures.npy       (n_images, 3) int64: file size, mtime and ctime (ns) when embedded (first
                         release: (n_images, 2), without the ctime)
    content.npy          (n_images, 16) uint8: BLAKE2b of each file's bytes when embedded (zeros: unknown),
                         what `embed --verify` compares
    failures.jsonl       one line per failed row (append-only), so reasons survive a crash

The per-row arrays are declared once in `arrays.REGISTRY`; the manifest lists which a run
holds. Rows are marked done in state.npy only after their numbers were flushed to disk,
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
from .arrays import FP16_MAX, REGISTRY
from . import checksums
from .migrate import SCHEMA_VERSION, upgrade
from .ownership import owned_files, recorded_files, remove_leftovers, remove_owned, remove_projections, write_marker

PENDING, DONE, FAILED = 0, 1, 2
def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _read_umask()


def write_atomic(path: Path, text: str, *, errors: str = "strict") -> None:
    """Write to a temporary file in the same folder and rename it over `path`."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~UMASK)  # mkstemp makes 0600; our files are as readable as any other
        with os.fdopen(fd, "w", encoding="utf-8", errors=errors, newline="") as f:
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
        self.rebuilt_because: str | None = None  # set by open_run when a damaged or edited run was rebuilt
        n = len(rows)
        self._arrays: dict[tuple[str, str | None], np.ndarray] = {}
        for entry in manifest["arrays"]:
            array = _open_array(self.path / entry["file"], mode)
            if array.shape != (n, *entry["row_shape"]):
                raise RunFolderError(f"{self.path}: {entry['file']} holds {array.shape}, expected "
                                     f"{(n, *entry['row_shape'])} for {n} rows in items.csv")
            self._arrays[(entry["name"], entry["layer"])] = array
        self.state = _open_array(self.path / "state.npy", mode)
        sig = self.path / "signatures.npy"
        self.signatures = np.load(sig) if sig.exists() else None
        content = self.path / "content.npy"  # absent in runs of the first release
        self.content = _open_array(content, mode) if content.exists() else None
        if self.content is not None and self.content.shape != (len(rows), 16):
            raise RunFolderError(f"{self.path}: content.npy does not match items.csv ({len(rows)} rows)")
        self.failures = _read_failures(self.path / "failures.jsonl")
        if self.state.shape != (n,):
            raise RunFolderError(f"{self.path}: array sizes do not match items.csv ({n} rows)")

    # --- what produced the numbers (typed views of the manifest) -------------------------------
    @property
    def key(self) -> str:
        return self.manifest["key"]

    @property
    def model(self) -> str:
        return self.manifest["model"]

    @property
    def weights(self) -> str:
        return self.manifest["weights"]

    @property
    def layers(self) -> list[str]:
        """Every embedded layer; the first is the run's main layer."""
        return [layer["name"] for layer in self.manifest["layers"]]

    @property
    def layer(self) -> str:
        return self.manifest["layers"][0]["name"]

    def layer_shape(self, layer: str | None = None) -> tuple[int, ...]:
        """Per image: (C, H, W) or (C,)."""
        return tuple(self._layer_entry(layer)["shape"])

    def receptive_field(self, layer: str | None = None) -> int | None:
        return self._layer_entry(layer).get("receptive_field")

    def field(self, layer: str | None = None):
        """The layer's receptive-field geometry (model.rf.Field), None when unknown or pooled away."""
        f = self._layer_entry(layer).get("field")
        if not f:
            return None
        from ..model.rf import Field

        return Field(tuple(f["jump"]), tuple(f["size"]), tuple(f["start"]))

    @property
    def input_size(self) -> int:
        return int(self.manifest["input_size"])

    @property
    def preprocess(self):
        """The data.preprocess.Preprocess the images went through."""
        from ..data.preprocess import Preprocess

        return Preprocess(**{k: tuple(v) if isinstance(v, list) else v for k, v in self.manifest["preprocess"].items()})

    @property
    def dataset_root(self) -> str:
        """The folder (or demo:NAME) the images came from."""
        return self.manifest["dataset"]["root"]

    @property
    def source(self):
        """Where row pictures come from (data.sources.ImageSource): folder or demo alike."""
        from ..data.sources import image_source

        return image_source(self.dataset_root)

    @property
    def classes(self) -> list[str]:
        return list(self.manifest["dataset"].get("classes") or [])

    def _layer_entry(self, layer: str | None) -> dict:
        layers = self.manifest["layers"]
        if layer is None:
            return layers[0]
        for entry in layers:
            if entry["name"] == layer:
                return entry
        raise KeyError(f"{self.path} holds no layer {layer!r} (it has {', '.join(self.layers)})")

    # --- the arrays ------------------------------------------------------------------------------
    def array(self, name: str, layer: str | None = None) -> np.ndarray:
        """A per-row array: `layer` None means the main layer (or the run-wide copy, e.g. logits)."""
        if (name, None) in self._arrays:
            return self._arrays[(name, None)]
        key = (name, layer or self.layer)
        if key not in self._arrays:
            raise KeyError(f"{self.path} holds no array {name!r} for layer {key[1]!r}")
        return self._arrays[key]

    def has_array(self, name: str, layer: str | None = None) -> bool:
        return (name, None) in self._arrays or (name, layer or self.layer) in self._arrays

    @property
    def features(self) -> np.ndarray:
        """(n_images, n_channels) float16: the main layer averaged over space."""
        return self.array("features")

    @property
    def channel_max(self) -> np.ndarray:
        return self.array("channel_max")

    @property
    def channel_argmax(self) -> np.ndarray:
        return self.array("channel_argmax")

    # --- reading -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.rows)

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
        return self.source.full_path(self.rows[index].path)

    def status(self, index: int) -> tuple[str, str]:
        s = int(self.state[index])
        if s == DONE:
            return "ok", ""
        if s == FAILED:
            return self.failures.get(index, ("failed", "unknown reason"))
        return "pending", ""

    # --- writing -------------------------------------------------------------------------------
    def write_rows(self, indices: np.ndarray, values: dict) -> None:
        """Store finished rows; they count as done only once their numbers are on disk.

        values: {name or (name, layer): (len(indices), *row_shape)} for every array of the run.
        """
        given = {(k if isinstance(k, tuple) else self._key(k)): v for k, v in values.items()}
        missing = [k for k in self._arrays if k not in given]
        if missing:
            raise ValueError(f"write_rows needs every array of the run; missing {missing}")
        for key in list(self._arrays):
            if self._arrays[key].dtype == np.float16 and _beyond_float16(given[key]):
                self._widen(key)  # activations past 65504 would be clipped: keep this array in float32
            array = self._arrays[key]
            spec = REGISTRY.get(key[0])
            array[indices] = spec.prepare(given[key], array.dtype) if spec is not None else given[key]
        for array in self._arrays.values():
            array.flush()
        self.state[indices] = DONE
        self.state.flush()

    def _widen(self, key: tuple[str, str | None]) -> None:
        """Rewrite a float16 array as float32 (rows kept), atomically; the manifest says so."""
        entry = next(e for e in self.manifest["arrays"] if (e["name"], e["layer"]) == key)
        path = self.path / entry["file"]
        tmp = path.with_name(path.name + ".widen.tmp")
        old = self._arrays.pop(key)
        wide = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=old.shape)
        for start in range(0, len(old), 8192):
            wide[start:start + 8192] = old[start:start + 8192]
        wide.flush()
        del wide, old
        _reserve(tmp)
        os.replace(tmp, path)
        entry["dtype"] = "float32"
        self.manifest.setdefault("widened", []).append(entry["file"])
        self._arrays[key] = _open_array(path, "r+")
        write_atomic(self.path / "manifest.json", json.dumps(self.manifest, indent=2))

    def _key(self, name: str) -> tuple[str, str | None]:
        return (name, None) if (name, None) in self._arrays else (name, self.layer)

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
        is computed again. Every array of this run must exist in the donor with the same row
        shape, else nothing is taken over. Returns the number of rows taken over.
        """
        if donor.signatures is None or self.signatures is None:
            return 0
        donor_entries = {(e["name"], e["layer"]): e["row_shape"] for e in donor.manifest["arrays"]}
        if any(donor_entries.get((e["name"], e["layer"])) != e["row_shape"] for e in self.manifest["arrays"]):
            return 0
        known = {}
        donor_state = np.asarray(donor.state)
        width = min(donor.signatures.shape[1], self.signatures.shape[1])  # first-release runs: no ctime
        for row in donor.rows:
            if donor_state[row.index] != PENDING:
                known[(row.path, *map(int, donor.signatures[row.index][:width]))] = row.index
        pairs = [(row.index, known[k]) for row in self.rows
                 if (k := (row.path, *map(int, self.signatures[row.index][:width]))) in known]
        done = np.array([(t, d) for t, d in pairs if donor_state[d] == DONE], np.int64).reshape(-1, 2)
        for start in range(0, len(done), 4096):
            t, d = done[start:start + 4096, 0], done[start:start + 4096, 1]
            if donor.content is not None:
                self.write_content(t, np.asarray(donor.content[d]))
            self.write_rows(t, {key: np.asarray(donor._arrays[key][d]) for key in self._arrays})
        self.mark_failed_many([(t, *donor.failures.get(d, ("failed", "unknown reason")))
                               for t, d in pairs if donor_state[d] == FAILED])
        return len(pairs)

    def write_content(self, indices: np.ndarray, digests: np.ndarray) -> None:
        """Each row's file digest (n, 16) uint8, written before the row counts as done."""
        if self.content is not None and len(indices):
            self.content[indices] = digests
            self.content.flush()

    def changed_rows(self, signatures: np.ndarray) -> np.ndarray:
        """Indices of finished rows whose file changed since it was embedded, though the run's key (names,
        sizes, mtimes) is the same: content replaced and the mtime put back shows in the ctime."""
        if self.signatures is None or self.signatures.shape[1] < 3 or signatures.shape[1] < 3:
            return np.zeros(0, np.int64)
        finished = np.asarray(self.state) != PENDING
        differs = (np.asarray(self.signatures) != np.asarray(signatures)).any(axis=1)
        return np.flatnonzero(finished & differs)

    def reset_rows(self, indices: np.ndarray, signatures: np.ndarray) -> None:
        """Make rows pending again (to be recomputed), with their files' current signatures."""
        if not len(indices):
            return
        sig = np.asarray(self.signatures).copy()
        sig[indices] = signatures[indices]
        np.save(self.path / "signatures.npy", sig)
        self.signatures = sig
        for i in indices:
            self.failures.pop(int(i), None)
        self.state[indices] = PENDING
        self.state.flush()
        self.manifest["complete"] = False

    def save(self, *, complete: bool | None = None) -> None:
        """Write items.csv and the manifest (counts, timestamps) atomically."""
        lines = [["index", "path", "label", "status", "reason"]]
        for row in self.rows:
            status, reason = self.status(row.index)
            lines.append([row.index, row.path, "" if row.label is None else row.label, status, reason])
        write_atomic(self.path / "items.csv", _csv_text(lines), errors="surrogateescape")
        if complete is not None:
            self.manifest["complete"] = complete
        self.manifest["counts"] = self.counts()
        self.manifest["updated"] = _now()
        if self.manifest.get("complete") and "finished" not in self.manifest:
            self.manifest["finished"] = _now()
        if self.manifest.get("complete"):  # from now on the numbers are read, never written
            for array in self._arrays.values():
                if hasattr(array, "flush"):
                    array.flush()
            self.manifest["checksums"] = checksums.record(self.path, self.checked_files())
        else:
            self.manifest.pop("checksums", None)
        write_atomic(self.path / "manifest.json", json.dumps(self.manifest, indent=2))

    def checked_files(self) -> list[str]:
        extra = ["content.npy"] if self.content is not None else []
        return ["items.csv", "state.npy", *extra, *(e["file"] for e in self.manifest["arrays"])]

    def failure_summary(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for i in np.flatnonzero(np.asarray(self.state) == FAILED):
            status = self.failures.get(int(i), ("failed", ""))[0]
            out[status] = out.get(status, 0) + 1
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _beyond_float16(values) -> bool:
    a = np.asarray(values)
    return a.dtype.kind == "f" and a.size > 0 and bool((np.abs(a[np.isfinite(a)]) > FP16_MAX).any())


def _open_array(path: Path, mode: str) -> np.memmap:
    # numpy's "r+" silently zero-extends a file that is too short, so a truncated array would
    # pass for finished rows of zeros; opening read-only first raises on it instead.
    array = np.load(path, mmap_mode="r")
    if mode == "r":
        return array
    del array
    return np.load(path, mmap_mode=mode)


def csv_writer(buf):
    """csv.writer for files we read back: a field holding \\r or \\n is quoted, so a file name with a
    carriage return cannot split a row (the csv module only quotes the characters of the line ending)."""
    return csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)


def _csv_text(lines) -> str:
    import io

    buf = io.StringIO()
    csv_writer(buf).writerows(lines)
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
    # surrogateescape: a file name that is not valid UTF-8 is kept byte for byte
    with open(path / "items.csv", newline="", encoding="utf-8", errors="surrogateescape") as f:
        reader = csv.DictReader(f)
        return [Row(int(r["index"]), r["path"], r["label"] or None) for r in reader]


def load_run(path: str | os.PathLike, *, writable: bool = False) -> Run:
    """Open an existing run folder (any format this version reads); RunFolderError says what is wrong."""
    path = Path(path).expanduser()
    manifest_path = path / "manifest.json"
    if not manifest_path.exists():
        raise RunFolderError(f"{path} is not a run folder (no manifest.json); create one with 'explorer embed'.")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict):
            raise ValueError("manifest.json is not an object")
        manifest = upgrade(manifest, str(path))
        run = Run(path, manifest, _read_rows(path), "r+" if writable else "r")
    except RunFolderError:
        raise
    except csv.Error as exc:  # e.g. a field over the csv module's size limit
        raise RunFolderError(f"{path}: the run folder is damaged (items.csv: {exc}); embed again with "
                             "--overwrite.") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RunFolderError(f"{path}: the run folder is damaged ({exc}); embed again with --overwrite.") from None
    edited = checksums.changed(path, manifest.get("checksums") or {}) if manifest.get("complete") else []
    if edited:
        raise RunFolderError(f"{path}: {', '.join(edited)} changed after the run was written (edited, sorted or "
                             "replaced), so its rows can no longer be trusted. Run the same 'explorer embed' "
                             "again: the run is rebuilt.")
    return run


def create_run(path: Path, manifest: dict, rows: list[Row], signatures: np.ndarray | None = None) -> Run:
    """A fresh run folder with all rows pending; signatures: (n, 2) file size and mtime.

    manifest["arrays"] (see arrays.plan) says which arrays to create. The folder's marker lists
    every file before it is created, and a file of that name that the app did not write is never
    overwritten.
    """
    path.mkdir(parents=True, exist_ok=True)
    planned = recorded_files(manifest)
    owned = owned_files(path, None) or set()
    clash = sorted(name for name in planned if (path / name).exists() and name not in owned)
    if clash:
        raise RunFolderError(f"{path / clash[0]} exists and was not written by this app: it is left alone. "
                             "Choose an empty or new folder for the run.")
    n = len(rows)
    _check_space(path, manifest["arrays"], n)
    write_marker(path, owned | planned)
    for entry in manifest["arrays"]:
        np.lib.format.open_memmap(path / entry["file"], mode="w+", dtype=np.dtype(entry["dtype"]),
                                  shape=(n, *entry["row_shape"])).flush()
        _reserve(path / entry["file"])
    np.lib.format.open_memmap(path / "state.npy", mode="w+", dtype=np.uint8, shape=(n,)).flush()
    _reserve(path / "state.npy")
    np.lib.format.open_memmap(path / "content.npy", mode="w+", dtype=np.uint8, shape=(n, 16)).flush()
    _reserve(path / "content.npy")
    if signatures is not None:
        np.save(path / "signatures.npy", np.asarray(signatures, np.int64).reshape(n, -1))
    else:
        (path / "signatures.npy").unlink(missing_ok=True)
    with open(path / "failures.jsonl", "w", encoding="utf-8"):
        pass
    manifest = dict(manifest, schema_version=SCHEMA_VERSION, created=_now(), complete=False)
    run = Run(path, manifest, rows, "r+")
    run.save()
    return run


def _check_space(path: Path, arrays: list[dict], n: int) -> None:
    """Fail with a message before writing, not with a bus error from a memory map on a full disk."""
    need = n * (17 + sum(int(np.prod(e["row_shape"])) * np.dtype(e["dtype"]).itemsize for e in arrays)) + (1 << 20)
    free = shutil.disk_usage(path).free
    if need > free:
        raise RunFolderError(f"Not enough space in {path}: the run needs {need / 1e6:,.1f} MB and "
                             f"{free / 1e6:,.1f} MB are free. Free some space or choose another --out.")


def _reserve(path: Path) -> None:
    """Allocate the file's blocks now: a memory map over a sparse file dies (SIGBUS) when the disk fills."""
    if not hasattr(os, "posix_fallocate"):
        return
    with open(path, "r+b") as f:
        try:
            os.posix_fallocate(f.fileno(), 0, os.fstat(f.fileno()).st_size)
        except OSError as exc:
            import errno

            if exc.errno == errno.ENOSPC:
                raise RunFolderError(f"Not enough space in {path.parent} for {path.name} "
                                     f"({os.fstat(f.fileno()).st_size / 1e6:,.1f} MB). Free some space or "
                                     "choose another --out.") from None
            # EOPNOTSUPP, EINVAL: a file system without preallocation; writing still works


def _ours(path: Path) -> tuple[dict | None, set[str] | None]:
    """(manifest if readable as ours, the files our runs created) of a non-empty folder."""
    try:
        raw = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raw = None
    manifest = None
    if isinstance(raw, dict) and isinstance(raw.get("key"), str) and "schema_version" in raw:
        manifest = upgrade(raw, str(path))  # a newer format raises: not ours to change
    return manifest, owned_files(path, manifest)


def _same_arrays(run: Run, manifest: dict) -> bool:
    """The run holds exactly the arrays (names, layers, files, row shapes) the manifest plans."""
    key = lambda e: (e["name"], e["layer"], e["file"], tuple(e["row_shape"]))  # noqa: E731
    return sorted(map(key, run.manifest["arrays"])) == sorted(map(key, manifest["arrays"]))


def open_run(path: str | os.PathLike, key: str, manifest: dict, rows: list[Row],
             *, overwrite: bool = False, signatures: np.ndarray | None = None) -> tuple[Run, bool]:
    """Resume the run at `path` if it holds the same inputs (same key), else start it.

    Returns (run, resumed). A run of the same model, layers and dataset folder whose files
    changed is updated: unchanged rows are taken over, only the rest is pending. A folder
    holding a different run is only replaced with overwrite=True, and then only the files that
    run wrote are removed; a folder that is not a run folder is never touched.
    """
    path = Path(path).expanduser()
    rebuilt_because = None
    if path.exists() and not path.is_dir():
        raise RunFolderError(f"{path} is a file, not a run folder.")
    if path.exists() and any(path.iterdir()):
        _, owned = _ours(path)
        if owned is None:
            names = sorted(p.name for p in path.iterdir())
            raise RunFolderError(f"{path} is not empty and is not a run folder ({', '.join(names[:3])}"
                                 f"{'...' if len(names) > 3 else ''}); nothing in it was changed. Choose an empty "
                                 "or new folder.")
        remove_leftovers(path)
        try:
            run = load_run(path, writable=True)
        except RunFolderError as exc:
            run, rebuilt_because = None, str(exc)  # ours, but damaged or edited: rebuilt below
        if run is not None and run.key == key and len(run) == len(rows) and _same_arrays(run, manifest):
            return run, True
        if run is not None and _same_family(run.manifest, manifest) and _same_arrays(run, manifest):
            return _update_in_place(path, run, dict(manifest, key=key), rows, signatures), False
        if run is not None and not overwrite:
            m = run.manifest
            raise RunFolderError(
                f"{path} already holds another run ({m.get('model')}, layer {run.layer}, "
                f"{len(run)} images from {run.dataset_root}). Choose another --out, "
                "or pass --overwrite to replace it.")
        del run
        remove_owned(path, owned)
    manifest = dict(manifest, key=key)
    run = create_run(path, manifest, rows, signatures)
    run.rebuilt_because = rebuilt_because  # why an own run folder was rebuilt, to tell the user
    return run, False


def _same_family(old: dict, new: dict) -> bool:
    """Same model, weights, layer, preprocessing and folder: only the files differ."""
    return bool(old.get("family")) and old.get("family") == new.get("family") \
        and old.get("dataset", {}).get("root") == new.get("dataset", {}).get("root")


def _update_in_place(path: Path, old: Run, manifest: dict, rows: list[Row], signatures) -> Run:
    """Build the updated run inside the old one's folder, take over its unchanged rows, then swap.

    The staging folder has a name no user file has (`.updating-<random>`, inside the run folder);
    a killed update leaves only that folder, which the next open removes.
    """
    import secrets

    staging = path / f".updating-{secrets.token_hex(6)}"
    new = create_run(staging, manifest, rows, signatures)
    new.copy_rows_from(old)
    new.save()
    old_files = recorded_files(old.manifest)
    del old, new  # close the memory maps before the files move
    remove_projections(path)  # maps of the old file list
    moved = sorted(p.name for p in staging.iterdir() if p.name not in ("manifest.json", ".explorer-run"))
    write_marker(path, (owned_files(path, None) or set()) | set(moved) | {"manifest.json"})
    for name in old_files - set(moved) - {"manifest.json"}:
        (path / name).unlink(missing_ok=True)
    for name in moved + ["manifest.json"]:  # the manifest last
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
    index[f"{family}:{run.dataset_root}"] = run.path.name
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


def clear_cache() -> tuple[int, int, list[Path]]:
    """Delete every cached run not in use, and the indexes; returns (runs removed, bytes freed,
    runs skipped because an embedding is writing them)."""
    from .locks import run_lock

    removed, freed, skipped = 0, 0, []
    for run in cached_runs():
        lock = run_lock(run.path)
        try:
            lock.acquire(timeout=0)
        except Exception:  # filelock.Timeout: another process is writing it
            skipped.append(run.path)
            continue
        try:
            shutil.rmtree(run.path, ignore_errors=True)
        finally:
            lock.release()
        removed, freed = removed + 1, freed + run.size_bytes
    if not skipped:
        for index in ("requests.json", "families.json"):
            (cache_root() / index).unlink(missing_ok=True)
    return removed, freed, skipped
