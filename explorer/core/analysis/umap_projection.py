"""UMAP (umap-learn) as a fitted projection, with the interface of PCA and t-SNE in projection.py.

umap-learn is optional (`pip install 'cnn-feature-explorer[umap]'`): without it, choosing UMAP
says in one line how to install it (`UMAP_MISSING`) and everything else works. Its import is
slow (numba), so it happens in `fit_steps`, never at start-up.

Like t-SNE, the features are first reduced to at most 50 dimensions by PCA (neighbours in 50-D
are as good and much cheaper), and a fixed seed gives the same layout: umap-learn then runs its
optimisation on one thread, the price of reproducibility. Past `sample_above` points (as t-SNE:
projection.SAMPLE_ABOVE) the map is fitted on a random sample and the rest are placed into it with
umap-learn's `transform`; the note says so.
"""

from __future__ import annotations

import importlib.util
import warnings

import numpy as np

from ..errors import ExplorerError
from ..progress import Step, Work, run_to_end
from .projection import PlacedMap, whole_layout

UMAP_MISSING = ("UMAP needs the umap-learn package, which is not installed: "
                "pip install 'cnn-feature-explorer[umap]' (or pip install umap-learn)")
MIN_UMAP_POINTS = 5  # distinct feature vectors UMAP needs; fewer get a PCA map (with a note), as t-SNE


def umap_available() -> bool:
    """Whether umap-learn is installed (does not import it: numba makes that slow)."""
    return importlib.util.find_spec("umap") is not None


def _import_umap():
    try:
        import umap
    except ImportError:
        raise ExplorerError(UMAP_MISSING) from None
    return umap


class UMAPProjection(PlacedMap):
    """UMAP: PCA to at most 50 dimensions, then umap-learn's fuzzy neighbour graph and layout."""

    method = "umap"
    NAME = "UMAP"

    def __init__(self, *, n_neighbors: int = 15, min_dist: float = 0.1, seed: int = 0, sample_above: int | None = None,
                 sample_size: int | None = None, place_chunk: int | None = None):
        from .projection import PLACE_CHUNK, SAMPLE_ABOVE, SAMPLE_SIZE, _check_seed

        if int(n_neighbors) != n_neighbors or n_neighbors < 2:
            raise ExplorerError(f"UMAP's n_neighbors must be a whole number of at least 2 (got {n_neighbors!r}).")
        if not np.isfinite(min_dist) or min_dist < 0:
            raise ExplorerError(f"UMAP's min_dist must be a number of at least 0 (got {min_dist!r}).")
        self.n_neighbors = int(n_neighbors)
        self.min_dist = float(min_dist)
        self.seed = _check_seed(seed)
        self.sample_above = SAMPLE_ABOVE if sample_above is None else int(sample_above)
        self.sample_size = SAMPLE_SIZE if sample_size is None else int(sample_size)
        self.place_chunk = PLACE_CHUNK if place_chunk is None else int(place_chunk)
        self._check_sampling()
        self.reduce_ = None  # PCA to 50-D (None when the input is small already)
        self.umap_ = None  # umap.UMAP; None when `fallback_` (a PCA) made the map
        self.fallback_ = None
        self.embedding_: np.ndarray | None = None
        self.fitted_rows_: np.ndarray | None = None  # (m,) the rows the map was fitted on, when a sample; else None
        self.note_: str | None = None

    def params(self) -> dict:
        return {"method": "umap", "seed": self.seed, "n_neighbors": self.n_neighbors, "min_dist": self.min_dist,
                **self._sampling_params()}

    def fit(self, features: np.ndarray) -> "UMAPProjection":
        return run_to_end(self.fit_steps(features))

    def fit_steps(self, features: np.ndarray) -> Work["UMAPProjection"]:
        from .projection import PCAProjection, count_distinct, reduce_features, sample_rows

        x = np.asarray(features)  # float32 a chunk at a time (reduce_features)
        n = len(x)
        umap = _import_umap()  # before any work: a missing package is said at once
        distinct = count_distinct(x, MIN_UMAP_POINTS)
        if distinct < MIN_UMAP_POINTS:
            self.reduce_ = self.umap_ = None
            self.fallback_ = PCAProjection(seed=self.seed).fit(x)
            self.embedding_ = self.fallback_.embedding_
            self.note_ = (f"UMAP needs at least {MIN_UMAP_POINTS} images with distinct features "
                          f"(these {n} have {distinct}); showing PCA")
            yield Step(1, 1, self.note_)
            return self
        sample = sample_rows(n, self.sample_above, self.sample_size, self.seed)  # None: fitted on all rows
        n_fit = n if sample is None else len(sample)
        chunks = 0 if sample is None else -(-(n - n_fit) // self.place_chunk)
        total = 3 + chunks
        yield Step(0, total, "reducing to 50 dimensions")
        self.reduce_, x = reduce_features(x, sample, min(50, n_fit - 1), self.seed)
        fit_x = x if sample is None else x[sample]
        yield Step(1, total, "neighbours and layout" + ("" if sample is None else f" of {n_fit:,} points"))
        k = min(self.n_neighbors, n_fit - 1)
        if k < self.n_neighbors:
            self.note_ = f"n_neighbors lowered to {k} for {n_fit} images"
        # PCA initialisation, not umap's default spectral one: spectral gives another layout on each run with
        # the same seed when the neighbour graph falls apart into clusters (umap-learn 0.5.12), is slow on big
        # sets and fails on tiny ones.
        self.umap_ = umap.UMAP(n_neighbors=k, min_dist=self.min_dist, n_components=2, random_state=self.seed,
                               init="pca", transform_seed=self.seed)
        with warnings.catch_warnings():  # "n_jobs overridden to 1 by setting random_state": the seed's price, known
            warnings.filterwarnings("ignore", message=".*overridden to 1 by setting random_state.*")
            layout = np.asarray(self.umap_.fit_transform(fit_x), dtype=np.float32)
        if not np.isfinite(layout).all():
            raise ExplorerError("UMAP found no usable map of these features (non-finite coordinates); "
                                "choose PCA or t-SNE.")
        self.fitted_rows_ = sample
        if sample is not None:  # Steps 3, 4, ... of total: a placed chunk each
            layout = yield from self._place_rest(x, sample, whole_layout(layout, sample, n), 2, total, 1)
            placed = f"UMAP fitted on {n_fit:,} of {n:,} points; the rest placed"
            self.note_ = placed if self.note_ is None else f"{placed}; {self.note_}"
        self.embedding_ = layout
        yield Step(total, total, self.note_ or "UMAP")
        return self

    def _place(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.umap_.transform(x), dtype=np.float32)

