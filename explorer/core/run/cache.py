"""The app's cache of runs: where they live, the donor index for changed folders, listing and clearing."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import RunFolderError
from .files import write_atomic
from .store import Run, load_run


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
