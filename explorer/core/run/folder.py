"""Opening a run folder for an embedding: resume it, update it when files changed, or start it,
never touching a file the app did not write (see ownership)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from ..errors import RunFolderError
from .files import check_space, reserve
from .arrays import PREDICTIONS
from .migrate import SCHEMA_VERSION, upgrade
from .ownership import owned_files, recorded_files, remove_leftovers, remove_owned, remove_projections, write_marker
from .store import Row, Run, load_run, now


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
    check_space(path, manifest["arrays"], n)
    write_marker(path, owned | planned)
    for entry in manifest["arrays"]:
        np.lib.format.open_memmap(path / entry["file"], mode="w+", dtype=np.dtype(entry["dtype"]),
                                  shape=(n, *entry["row_shape"])).flush()
        reserve(path / entry["file"])
    np.lib.format.open_memmap(path / "state.npy", mode="w+", dtype=np.uint8, shape=(n,)).flush()
    reserve(path / "state.npy")
    np.lib.format.open_memmap(path / "content.npy", mode="w+", dtype=np.uint8, shape=(n, 16)).flush()
    reserve(path / "content.npy")
    if signatures is not None:
        np.save(path / "signatures.npy", np.asarray(signatures, np.int64).reshape(n, -1))
    else:
        (path / "signatures.npy").unlink(missing_ok=True)
    with open(path / "failures.jsonl", "w", encoding="utf-8"):
        pass
    manifest = dict(manifest, schema_version=SCHEMA_VERSION, created=now(), complete=False)
    run = Run(path, manifest, rows, "r+")
    run.save()
    return run

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

def _same_arrays(run: Run, manifest: dict, *, older: bool = False) -> bool:
    """The run holds exactly the arrays (names, layers, files, row shapes) the manifest plans.

    older: a run that differs only in holding the predictions or not also counts: one written before
    predictions were kept works as it is, without them, rather than being refused or recomputed (and one
    that has them serves a request without them).
    """
    key = lambda e: (e["name"], e["layer"], e["file"], tuple(e["row_shape"]))  # noqa: E731
    held, planned = sorted(map(key, run.manifest["arrays"])), sorted(map(key, manifest["arrays"]))
    if held == planned:
        return True
    strip = lambda entries: [e for e in entries if e[0] not in PREDICTIONS]  # noqa: E731
    return older and strip(held) == strip(planned)

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
        if run is not None and run.key == key and len(run) == len(rows) and \
                _same_arrays(run, manifest, older=not overwrite):
            return run, True
        if run is not None and _same_family(run.manifest, manifest) and \
                _same_arrays(run, manifest, older=not overwrite):
            if not _same_arrays(run, manifest):  # an older run is updated as it is, its rows taken over
                manifest = dict(manifest, arrays=run.manifest["arrays"])
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
