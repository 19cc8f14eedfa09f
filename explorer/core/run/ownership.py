"""Which files in a folder a run wrote: only those may ever be replaced or removed.

A run folder holds a small marker, `.explorer-run`, written before any other file: the list
of files the app created there. With the manifest's own list of arrays it says what is ours
even when the manifest itself is damaged. A folder with neither is not a run folder, and
nothing in it is touched, whatever its files are called (a user's own features.npy included).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from .files import write_atomic

MARKER = ".explorer-run"
BOOKKEEPING = ("manifest.json", "items.csv", "failures.jsonl", "state.npy", "signatures.npy", "content.npy")
# what projections write into a run folder we own (see analysis.projection)
_PROJECTION = re.compile(r"^projection-[a-z]+\.(npy|csv|json)$")
# temporary files and folders a killed run can leave behind in a folder we own
_LEFTOVER = re.compile(r"^(manifest\.json|items\.csv|\.explorer-run)\..+\.tmp$|^projection-[a-z]+\.npy\.tmp$"
                       r"|^\.updating-[0-9a-f]+$|^[a-z0-9_]+(\.L\d+)?\.npy\.widen\.tmp$")


def recorded_files(manifest: dict) -> set[str]:
    """The files a run's manifest says it has: bookkeeping plus every array's file."""
    files = set(BOOKKEEPING)
    for entry in manifest.get("arrays") or []:
        if isinstance(entry, dict) and isinstance(entry.get("file"), str):
            files.add(entry["file"])
    return files


def read_marker(path: Path) -> set[str] | None:
    try:
        data = json.loads((path / MARKER).read_text(encoding="utf-8"))
        files = data.get("files") if isinstance(data, dict) else None
        return {f for f in files if isinstance(f, str) and "/" not in f and f not in ("", ".", "..")} \
            if isinstance(files, list) else None
    except (OSError, ValueError):
        return None


def owned_files(path: Path, manifest: dict | None) -> set[str] | None:
    """The files of `path` that our runs created, or None when `path` is not a run folder of ours.

    manifest: the folder's manifest when it could be read as ours (any supported schema), else None.
    """
    marked = read_marker(path)
    if marked is None and manifest is None:
        return None
    return (marked or set()) | (recorded_files(manifest) if manifest is not None else set())


def write_marker(path: Path, files: set[str]) -> None:
    write_atomic(path / MARKER, json.dumps({"app": "cnn-feature-explorer", "files": sorted(files)}))


def remove_owned(path: Path, files: set[str]) -> None:
    """Remove the run's own files (and projections, leftovers of killed runs); nothing else."""
    for name in files:
        p = path / name
        if p.is_file() or p.is_symlink():
            p.unlink()
    remove_projections(path)
    remove_leftovers(path)


def remove_projections(path: Path) -> None:
    for p in path.iterdir():
        if p.is_file() and _PROJECTION.match(p.name):
            p.unlink()
    for folder in ("projections", "probes"):  # probes: out-of-fold predictions of the old rows
        if (path / folder).is_dir():
            shutil.rmtree(path / folder)


def remove_leftovers(path: Path) -> None:
    """Temporary files and update folders that a killed run of ours left in its own folder."""
    for p in path.iterdir():
        if _LEFTOVER.match(p.name):
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
