"""2-D maps of feature space: PCA (scikit-learn) and t-SNE (openTSNE).

t-SNE runs in chunks of iterations; each chunk yields a Step whose `partial` is
the current layout, so a viewer can animate it and a caller can stop between
chunks. The same seed gives the same layout.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np

from ..errors import ExplorerError
from ..progress import Step, Work
from ..run.store import Run, write_atomic

METHODS = ("pca", "tsne")
EARLY_ITERATIONS = 250  # early exaggeration phase, as in openTSNE's defaults
MAIN_ITERATIONS = 500


def pca_2d(features: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """(n, d) -> (n, 2) float32 principal-component coordinates."""
    from sklearn.decomposition import PCA

    x = np.asarray(features, dtype=np.float32)
    if len(x) < 2:
        return np.zeros((len(x), 2), np.float32)
    n_components = min(2, x.shape[1], len(x))
    y = PCA(n_components=n_components, random_state=seed).fit_transform(x).astype(np.float32)
    if y.shape[1] < 2:
        y = np.hstack([y, np.zeros((len(y), 2 - y.shape[1]), np.float32)])
    return y


def tsne_2d(features: np.ndarray, *, perplexity: float = 30.0, seed: int = 0, chunk: int = 25,
            n_jobs: int | None = None) -> Work[np.ndarray]:
    """(n, d) -> (n, 2) float32 t-SNE layout; yields Steps with the layout so far."""
    from openTSNE import TSNEEmbedding, affinity, initialization
    from sklearn.decomposition import PCA

    x = np.asarray(features, dtype=np.float32)
    n = len(x)
    if n < 4:
        return pca_2d(x, seed=seed)
    total = EARLY_ITERATIONS + MAIN_ITERATIONS
    n_jobs = n_jobs or os.cpu_count() or 1
    # Perplexity needs at least 3 * perplexity neighbours; small datasets get a smaller one.
    perplexity = float(min(perplexity, max((n - 1) / 3.0, 1.0)))
    yield Step(0, total, "reducing to 50 dimensions")
    dims = min(50, n - 1)
    if x.shape[1] > dims:
        x = PCA(n_components=dims, random_state=seed).fit_transform(x).astype(np.float32)
    yield Step(0, total, "finding neighbours")
    aff = affinity.PerplexityBasedNN(x, perplexity=perplexity, n_jobs=n_jobs, random_state=seed,
                                     method="exact" if n < 1000 else "auto")
    init = initialization.pca(x, random_state=seed)
    emb = TSNEEmbedding(init, aff, n_jobs=n_jobs, random_state=seed,
                        negative_gradient_method="fft" if n > 10_000 else "bh")
    done = 0
    for phase_iters, params in ((EARLY_ITERATIONS, {"exaggeration": 12, "momentum": 0.5}),
                                (MAIN_ITERATIONS, {"exaggeration": 1, "momentum": 0.8})):
        left = phase_iters
        while left > 0:
            step = min(chunk, left)
            emb.optimize(n_iter=step, inplace=True, **params)
            left -= step
            done += step
            yield Step(done, total, "early exaggeration" if params["exaggeration"] > 1 else "optimising",
                       partial=np.asarray(emb, dtype=np.float32).copy())
    return np.asarray(emb, dtype=np.float32)


def project_run(run: Run, method: str = "pca", *, perplexity: float = 30.0, seed: int = 0) -> Work[np.ndarray]:
    """Project the run's embedded rows; failed rows get NaN. Writes projection-<method>.npy/.csv."""
    if method not in METHODS:
        raise ExplorerError(f"Unknown projection {method!r}; choose one of {', '.join(METHODS)}.")
    mask = run.done_mask
    if mask.sum() < 2:
        raise ExplorerError(f"{run.path}: only {int(mask.sum())} embedded images; a map needs at least 2.")
    features = np.asarray(run.features[mask], dtype=np.float32)
    if method == "pca":
        yield Step(0, 1, "PCA")
        coords = pca_2d(features, seed=seed)
        yield Step(1, 1, "PCA")
    else:
        gen = tsne_2d(features, perplexity=perplexity, seed=seed)
        while True:
            try:
                step = next(gen)
            except StopIteration as stop:
                coords = stop.value
                break
            if step.partial is not None:
                step = Step(step.done, step.total, step.label, partial=_scatter_back(step.partial, mask))
            yield step
    layout = _scatter_back(coords, mask)
    save_projection(run, method, layout, _params(method, perplexity, seed))
    return layout


def _params(method: str, perplexity: float, seed: int) -> dict:
    return {"method": method, "seed": int(seed), **({"perplexity": float(perplexity)} if method == "tsne" else {})}


def _scatter_back(coords: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = np.full((len(mask), 2), np.nan, np.float32)
    out[mask] = coords
    return out


def projection_path(run: Run, method: str) -> Path:
    return run.path / f"projection-{method}.npy"


def save_projection(run: Run, method: str, layout: np.ndarray, params: dict) -> None:
    tmp = run.path / f"projection-{method}.npy.tmp"
    with open(tmp, "wb") as f:
        np.save(f, layout.astype(np.float32))
    os.replace(tmp, projection_path(run, method))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["index", "x", "y", "label"])
    for i, (x, y) in enumerate(layout):
        if np.isfinite(x):
            label = run.rows[i].label
            w.writerow([i, f"{x:.6g}", f"{y:.6g}", "" if label is None else label])
    write_atomic(run.path / f"projection-{method}.csv", buf.getvalue())
    write_atomic(run.path / f"projection-{method}.json", json.dumps(params))


def load_projection(run: Run, method: str, *, perplexity: float = 30.0, seed: int = 0) -> np.ndarray | None:
    """The saved layout if it was made with these settings, else None."""
    path = projection_path(run, method)
    try:
        saved = json.loads((run.path / f"projection-{method}.json").read_text())
    except (OSError, ValueError):
        return None
    if saved != _params(method, perplexity, seed) or not path.exists():
        return None
    try:
        layout = np.load(path)
    except (OSError, ValueError):
        return None
    return layout if layout.shape == (len(run), 2) else None
