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

Opening or starting a run for an embedding is `folder.open_run`; the app's cache is `cache`;
safe writes are `files`. The per-row arrays are declared once in `arrays.REGISTRY`; the manifest lists which a run
holds. Rows are marked done in state.npy only after their numbers were flushed to disk,
so a killed run resumes from exactly the rows that are safe.
"""

from __future__ import annotations

import csv
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import RunFolderError
from .arrays import FP16_MAX, REGISTRY
from . import checksums
from .files import csv_writer, reserve, sync, write_atomic
from .migrate import upgrade

PENDING, DONE, FAILED = 0, 1, 2


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
        from ..model.field import Field

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
            sync(array)
        self.state[indices] = DONE
        sync(self.state)

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
        reserve(tmp)
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
        sync(self.state)

    def copy_rows_from(self, donor: "Run", *, retry_failed: bool = False) -> int:
        """Take over every row of `donor` whose file is unchanged (same path, size and mtime); with
        `retry_failed`, only its finished rows (its failures are tried again).

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
        if retry_failed:  # a failure can come from outside the file (a decoder installed since, a demo sample)
            return len(done)
        self.mark_failed_many([(t, *donor.failures.get(d, ("failed", "unknown reason")))
                               for t, d in pairs if donor_state[d] == FAILED])
        return len(pairs)

    def write_content(self, indices: np.ndarray, digests: np.ndarray) -> None:
        """Each row's file digest (n, 16) uint8, written before the row counts as done."""
        if self.content is not None and len(indices):
            self.content[indices] = digests
            sync(self.content)

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
        sync(self.state)
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
        self.manifest["updated"] = now()
        if self.manifest.get("complete") and "finished" not in self.manifest:
            self.manifest["finished"] = now()
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

def _csv_text(lines) -> str:
    import io

    buf = io.StringIO()
    csv_writer(buf).writerows(lines)
    return buf.getvalue()

def now() -> str:
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
