"""The projections of a run, kept on disk: fitted (`fit_run`), saved, read back and listed.

    projections/<method>-<id>/   layout.npy (n, 2) float32 (NaN: no features), layout.csv, params.json
                                 (settings + the rows it was computed from, the map's note), model.pkl
                                 (the fitted object, for `transform`)
    projection-<method>.npy/.csv/.json   a copy of the latest projection of each method, for people

A projection folder is written under a temporary name and renamed: its files are committed together.
Per run, every projection is kept: t-SNE at perplexity 20 and at 30 are both on disk, each with the
exact rows it was computed from. The fitted objects themselves are in projection.py (PCA, t-SNE) and
umap_projection.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import ExplorerError
from ..progress import Work, map_partials
from .projection import Projection, count_distinct, make_projection


def project_run(run, method: str = "pca", *, perplexity: float = 30.0, seed: int = 0) -> Work[np.ndarray]:
    """Fit a projection on the run's embedded rows (failed rows get NaN), keep it, return the layout."""
    layout, _ = yield from fit_run(run, method, perplexity=perplexity, seed=seed)
    return layout


def fit_run(run, method: str = "pca", *, perplexity: float = 30.0,
            seed: int = 0) -> Work[tuple[np.ndarray, Projection]]:
    """`project_run` that also returns the fitted projection (its `note_` says when t-SNE fell back to PCA).

    ExplorerError when the embedded rows cannot make a map: fewer than 2, non-finite features, or
    every image with the same features.
    """
    projection = make_projection(method, perplexity=perplexity, seed=seed)
    mask = run.done_mask
    if mask.sum() < 2:
        n = int(mask.sum())  # about the dataset the user chose, never the run's cache folder
        has = "no readable images" if n == 0 else "only 1 readable image"
        raise ExplorerError(f"{run.dataset_root} has {has}; a map needs at least 2.")
    features = np.asarray(run.features[mask])  # as stored (float16): the projections convert a chunk at a time
    _check_features(run, features, mask)
    yield from map_partials(projection.fit_steps(features), lambda frame: _scatter_back(frame, mask))
    layout = _scatter_back(projection.embedding_, mask)
    save_projection(run, projection, layout)
    return layout, projection


def _check_features(run, features: np.ndarray, mask: np.ndarray) -> None:
    """A map needs finite features that are not all the same; say which rows are at fault."""
    finite = np.isfinite(features).all(axis=1)
    if not finite.all():
        rows = np.flatnonzero(mask)[~finite]
        raise ExplorerError(
            f"{run.path}: {len(rows):,} of {len(features):,} embedded images have non-finite features (NaN or "
            f"infinity) at layer {run.layer}, e.g. #{rows[0]} {run.rows[int(rows[0])].path}; the weights or the "
            "layer are broken, so no map can be made. Embed again with other weights or another layer.")
    if count_distinct(features, 2) < 2:
        raise ExplorerError(
            f"{run.path}: all {len(features):,} embedded images have the same features at layer {run.layer}, so a "
            "map cannot tell them apart (the layer's output is constant: saturated or dead units, or broken "
            "weights). Choose another layer or model.")


def _scatter_back(coords: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = np.full((len(mask), 2), np.nan, np.float32)
    out[mask] = coords
    return out


def rows_digest(run) -> str:
    """Names the exact set of rows a projection was computed from."""
    import hashlib

    done = np.flatnonzero(run.done_mask).astype(np.int64)
    return hashlib.sha256(len(run).to_bytes(8, "little") + done.tobytes()).hexdigest()[:16]


def _folder(run, params: dict):
    import hashlib
    import json

    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    return run.path / "projections" / f"{params['method']}-{digest}"


def _params(method: str, perplexity: float, seed: int) -> dict:
    return make_projection(method, perplexity=perplexity, seed=seed).params()


def projection_path(run, method: str):
    """The people's copy of the latest layout of `method`: projection-<method>.npy."""
    return run.path / f"projection-{method}.npy"


def save_projection(run, projection: Projection, layout: np.ndarray) -> None:
    import json
    import pickle
    import shutil
    import tempfile
    import time

    from ..run.files import UMASK, replace_folder, write_atomic

    params = projection.params()
    final = _folder(run, params)
    final.parent.mkdir(exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        os.chmod(tmp, 0o777 & ~UMASK)  # mkdtemp makes 0700
        np.save(tmp / "layout.npy", layout.astype(np.float32))
        (tmp / "layout.csv").write_text(_layout_csv(run, layout), encoding="utf-8")
        record = dict(params, rows=rows_digest(run), n=len(run), created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                      created_ns=time.time_ns(), note=getattr(projection, "note_", None),
                      shown="pca" if getattr(projection, "fallback_", None) is not None else params["method"])
        (tmp / "params.json").write_text(json.dumps(record), encoding="utf-8")
        with open(tmp / "model.pkl", "wb") as f:
            pickle.dump(projection, f, protocol=pickle.HIGHEST_PROTOCOL)
        replace_folder(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # The people's copies; the folder above is what the app and the CLI read. Three files cannot be
    # renamed at once: all are written first, the settings last, and they name the layout's digest
    # and rows, so a copy left mixed by a kill is visibly so (and the next projection rewrites it).
    import hashlib
    import io

    method = params["method"]
    buf = io.BytesIO()
    np.save(buf, layout.astype(np.float32))
    with open(run.path / f"projection-{method}.npy.tmp", "wb") as f:
        f.write(buf.getvalue())
    record = dict(params, rows=rows_digest(run), layout_sha256=hashlib.sha256(buf.getvalue()).hexdigest())
    write_atomic(run.path / f"projection-{method}.csv", _layout_csv(run, layout))
    os.replace(run.path / f"projection-{method}.npy.tmp", projection_path(run, method))
    write_atomic(run.path / f"projection-{method}.json", json.dumps(record))


def _layout_csv(run, layout: np.ndarray) -> str:
    import io

    from ..run.files import csv_writer

    buf = io.StringIO()
    w = csv_writer(buf)
    w.writerow(["index", "x", "y", "label"])
    for i, (x, y) in enumerate(layout):
        if np.isfinite(x):
            label = run.rows[i].label
            w.writerow([i, f"{x:.6g}", f"{y:.6g}", "" if label is None else label])
    return buf.getvalue()


def load_projection(run, method: str, *, perplexity: float = 30.0, seed: int = 0) -> np.ndarray | None:
    """The kept layout for these settings and exactly the run's current rows, else None."""
    import json

    params = _params(method, perplexity, seed)
    folder = _folder(run, params)
    try:
        record = json.loads((folder / "params.json").read_text(encoding="utf-8"))
        if record.get("rows") != rows_digest(run):
            return None  # computed from another set of rows (the run was resumed or updated since)
        layout = np.load(folder / "layout.npy")
    except (OSError, ValueError):
        return _legacy_projection(run, params)
    return layout if layout.shape == (len(run), 2) else None


def kept_note(run, method: str, *, perplexity: float = 30.0, seed: int = 0) -> str:
    """What the kept map for these settings tells its viewer (t-SNE on a sample, a PCA fallback); '' if nothing."""
    import json

    try:
        record = json.loads((_folder(run, _params(method, perplexity, seed)) / "params.json").read_text("utf-8"))
    except (OSError, ValueError):
        return ""
    return (record.get("note") or "") if isinstance(record, dict) else ""


def _legacy_projection(run, params: dict) -> np.ndarray | None:
    """A first-release run's projection-<method>.npy, when it was made with these settings."""
    import json

    if not run.manifest.get("migrated_from"):
        return None
    method = params["method"]
    try:
        saved = json.loads((run.path / f"projection-{method}.json").read_text())
        layout = np.load(projection_path(run, method))
    except (OSError, ValueError):
        return None
    if saved != params or layout.shape != (len(run), 2):
        return None
    # no rows digest in the first release: the map's points must be exactly the embedded rows now
    return layout if np.array_equal(np.isfinite(layout).all(axis=1), run.done_mask) else None


def load_projector(run, method: str, *, perplexity: float = 30.0, seed: int = 0) -> Projection | None:
    """The fitted projection object (for `transform`), or None when it was not kept. A kept UMAP without
    umap-learn installed: ExplorerError saying how to install it."""
    import pickle

    path = _folder(run, _params(method, perplexity, seed)) / "model.pkl"
    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except ImportError as exc:
        if method == "umap" and path.exists():
            from .umap_projection import UMAP_MISSING

            raise ExplorerError(UMAP_MISSING) from exc
        return None
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError):
        return None


def list_projections(run) -> list[dict]:
    """Every kept projection of the run (settings, rows, created, note, `current`: computed from exactly
    the run's rows now, `folder`), newest first."""
    import json

    out = []
    folder = run.path / "projections"
    digest = rows_digest(run)
    for sub in sorted(folder.iterdir()) if folder.is_dir() else []:
        if sub.name.startswith(".") or ".old-" in sub.name:
            continue
        try:
            record = json.loads((sub / "params.json").read_text(encoding="utf-8"))
            written = (sub / "params.json").stat().st_mtime_ns
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict):
            continue
        out.append(dict(record, current=record.get("rows") == digest, folder=str(sub),
                        _order=(str(record.get("created", "")), record.get("created_ns") or written)))
    out.sort(key=lambda r: r["_order"], reverse=True)
    for r in out:
        del r["_order"]
    return out


def current_projection(run) -> tuple[np.ndarray, dict] | None:
    """The newest kept layout computed from exactly the run's current rows, with its record; None if
    there is none (the run was resumed or updated since: project again). Never a stale copy."""
    for record in list_projections(run):
        if not record["current"]:
            continue
        try:
            layout = np.load(Path(record["folder"]) / "layout.npy")
        except (OSError, ValueError):
            continue
        if layout.shape == (len(run), 2):
            return layout, record
    if run.manifest.get("migrated_from"):  # a first-release run: its projection-<method>.npy, if still exact
        import json

        for method in ("tsne", "pca"):
            try:
                saved = json.loads((run.path / f"projection-{method}.json").read_text())
                layout = _legacy_projection(run, make_projection(**_settings(saved)).params())
            except (OSError, ValueError, TypeError, ExplorerError):
                continue
            if layout is not None:
                return layout, dict(saved, current=True, note=None, shown=method)
    return None


def _settings(saved: dict) -> dict:
    keys = ("method", "perplexity", "seed") if saved.get("method") == "tsne" else ("method", "seed")
    return {k: saved[k] for k in keys if k in saved}
