"""2-D maps of feature space as fitted objects: PCA (scikit-learn) and t-SNE (openTSNE); UMAP
(umap-learn, optional) is in umap_projection.py, with the same interface.

`PCAProjection` and `TSNEProjection` follow scikit-learn's style (keyword-only parameters,
`fit`, `transform`, `embedding_`), and `fit_steps` is the same fit as a generator of Steps:
t-SNE yields its layout every chunk of iterations (`Step.partial`), so a viewer can animate
it and a caller can stop between chunks. The same seed gives the same layout. A fitted
t-SNE keeps openTSNE's `TSNEEmbedding`, so new points can be placed into an existing map.

Per run, every projection is kept on disk with the rows it was computed from: kept_projections.py
(`fit_run`, `load_projection`, ...).

Small or degenerate inputs never give a silent non-map: t-SNE needs MIN_TSNE_POINTS images with
distinct features, else the map is a PCA and `note_` says so; when early exaggeration collapses
the whole map to a point (few images, or features without structure), the optimisation starts
again from the PCA initialisation without it; a t-SNE that still ends collapsed or non-finite
falls back to PCA, with a note. A run whose images all have the same features has no map at all:
`fit_run` says so.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Union

import numpy as np

from ..errors import ExplorerError
from ..progress import Step, Work, run_to_end

if TYPE_CHECKING:
    from .umap_projection import UMAPProjection

METHODS = ("pca", "tsne", "umap")
EARLY_ITERATIONS = 250  # early exaggeration phase, as in openTSNE's defaults
MAIN_ITERATIONS = 500
MIN_TSNE_POINTS = 5  # distinct feature vectors t-SNE needs; fewer get a PCA map (with a note)
_COLLAPSED = 1e-3  # early exaggeration shrank the map below this fraction of its initial spread
# t-SNE at scale. Past APPROX_ABOVE points the neighbours are approximate (openTSNE's Annoy: seeded, no numba),
# past FFT_ABOVE the repulsion is FFT-interpolated (linear in n), and past SAMPLE_ABOVE (the most this 2-core
# machine optimises in a few minutes) the map is fitted on SAMPLE_SIZE random points and the rest are placed
# into it with openTSNE's `transform`, PLACE_CHUNK at a time; the map's note says so. UMAP samples past the
# same size. The environment variables EXPLORER_MAP_SAMPLE_ABOVE and EXPLORER_MAP_SAMPLE_SIZE change the last
# two (see make_projection).
APPROX_ABOVE = 1_000
FFT_ABOVE = 10_000
SAMPLE_ABOVE = 100_000
SAMPLE_SIZE = 50_000
PLACE_CHUNK = 50_000
PCA_FIT_ABOVE = 200_000  # PCA's components from a random sample of this many rows past it
PLACE_ITERATIONS = 100  # per placed chunk (openTSNE's default 250 for a few points): the neighbours' median
#                         start is close already, and at 1M points each iteration costs ~0.1 s per 50k


def count_distinct(x: np.ndarray, limit: int) -> int:
    """How many distinct rows `x` has, counted up to `limit` (stops there: cheap on real data)."""
    seen: set[bytes] = set()
    for row in np.ascontiguousarray(x):
        seen.add(row.tobytes())
        if len(seen) >= limit:
            break
    return len(seen)


def _spread(y: np.ndarray) -> float:
    """The largest distance of a point from the map's centre, per axis (0 for a collapsed map)."""
    return float(np.abs(y - y.mean(0)).max()) if len(y) else 0.0


def sample_rows(n: int, above: int, size: int, seed: int) -> np.ndarray | None:
    """The sorted random rows (seeded) a map is fitted on when there are more than `above`; None: all."""
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False)) if n > above else None


def reduce_features(features: np.ndarray, rows: np.ndarray | None, dims: int, seed: int):
    """(fitted PCA or None, (n, <= dims) float32): PCA fitted on `rows` (None: all), applied a chunk at a
    time, so a million float16 rows never exist as one float32 copy. None when the features are small."""
    from sklearn.decomposition import PCA

    if features.shape[1] <= dims:
        return None, np.asarray(features, dtype=np.float32)
    fit_on = features if rows is None else features[rows]
    pca = PCA(n_components=dims, random_state=seed).fit(np.asarray(fit_on, dtype=np.float32))
    return pca, _chunked(pca.transform, features)


def _chunked(f, features: np.ndarray, chunk: int = 50_000) -> np.ndarray:
    """f over float32 copies of `chunk` rows at a time, stacked (float32)."""
    if len(features) <= chunk:
        return np.asarray(f(np.asarray(features, dtype=np.float32)), dtype=np.float32)
    return np.concatenate([np.asarray(f(np.asarray(features[i:i + chunk], dtype=np.float32)), dtype=np.float32)
                           for i in range(0, len(features), chunk)])


class PCAProjection:
    """Principal components: (n, d) -> (n, 2) float32. Past PCA_FIT_ABOVE rows the components come from a
    seeded random sample of that many (the same directions to a fraction of a percent, without several
    float32 copies of a million rows)."""

    method = "pca"

    def __init__(self, *, seed: int = 0):
        self.seed = _check_seed(seed)
        self.pca_ = None  # sklearn PCA, None when there are fewer than 2 distinct points
        self.embedding_: np.ndarray | None = None
        self.note_: str | None = None  # what a viewer should be told about this map, if anything

    def params(self) -> dict:
        return {"method": "pca", "seed": self.seed}

    def fit_steps(self, features: np.ndarray) -> Work["PCAProjection"]:
        yield Step(0, 1, "PCA")
        self.fit(features)
        yield Step(1, 1, self.note_ or "PCA")
        return self

    def fit(self, features: np.ndarray) -> "PCAProjection":
        from sklearn.decomposition import PCA

        x = np.asarray(features)
        if count_distinct(x, 2) < 2:  # one point, or all alike: they all sit at the centre
            self.pca_ = None
            self.embedding_ = np.zeros((len(x), 2), np.float32)
            self.note_ = None if len(x) < 2 else f"all {len(x)} points have the same features; they all sit at 0, 0"
            return self
        rows = sample_rows(len(x), PCA_FIT_ABOVE, PCA_FIT_ABOVE, self.seed)
        fit_on = np.asarray(x if rows is None else x[rows], dtype=np.float32)
        self.pca_ = PCA(n_components=min(2, x.shape[1], len(fit_on)), random_state=self.seed).fit(fit_on)
        self.embedding_ = self.transform(x)
        return self

    def transform(self, features: np.ndarray) -> np.ndarray:
        x = np.asarray(features)
        if self.pca_ is None:
            return np.zeros((len(x), 2), np.float32)
        return _pad2(_chunked(self.pca_.transform, x))


def whole_layout(frame: np.ndarray, sample: np.ndarray | None, n: int) -> np.ndarray:
    """A layout of the fitted sample as a layout of all n rows (NaN: not placed yet)."""
    if sample is None:
        return frame
    out = np.full((n, 2), np.nan, np.float32)
    out[sample] = frame
    return out


class PlacedMap:
    """A map fitted on reduced features (t-SNE, UMAP), past `sample_above` rows on a sample with the rest
    placed into it. transform(): new points go through the same reduction, then the method's own
    placement (_place); a PCA fallback map transforms as PCA."""

    NAME = "map"

    def _check_sampling(self) -> None:
        if not 0 < self.sample_size <= self.sample_above:
            raise ExplorerError(f"{self.NAME}'s sample ({self.sample_size}) must be at least 1 and no more than the "
                                f"size past which it samples ({self.sample_above}).")

    def _sampling_params(self) -> dict:
        """The sample's settings, named only when not the defaults, so the maps kept before sampling
        existed are found again."""
        if (self.sample_above, self.sample_size) == (SAMPLE_ABOVE, SAMPLE_SIZE):
            return {}
        return {"sample_above": self.sample_above, "sample_size": self.sample_size}

    def _place_rest(self, x: np.ndarray, sample: np.ndarray, layout: np.ndarray, done: int, total: int,
                    per_chunk: int, **place) -> Work[np.ndarray]:
        """Place the rows outside `sample` into the map fitted on it, a chunk at a time (x: reduced
        features; layout: all rows, NaN where not placed yet), each chunk `per_chunk` Steps of `total`."""
        rest = np.setdiff1d(np.arange(len(x)), sample)
        for i in range(0, len(rest), self.place_chunk):
            rows = rest[i:i + self.place_chunk]
            layout[rows] = self._place(x[rows], **place)
            done += per_chunk
            yield Step(done, total, f"placing the rest: {min(i + self.place_chunk, len(rest)):,} of {len(rest):,}",
                       partial=layout.copy())
        return layout

    def transform(self, features: np.ndarray) -> np.ndarray:
        if self.embedding_ is None:
            raise ExplorerError(f"This {self.NAME} projection is not fitted yet.")
        if self.fallback_ is not None:
            return self.fallback_.transform(features)
        x = np.asarray(features, dtype=np.float32)
        if self.reduce_ is not None:
            x = self.reduce_.transform(x).astype(np.float32)
        return self._place(x)


class TSNEProjection(PlacedMap):
    """t-SNE (openTSNE): PCA to at most 50 dimensions, perplexity affinities, PCA initialisation."""

    method = "tsne"
    NAME = "t-SNE"

    def __init__(self, *, perplexity: float = 30.0, seed: int = 0, n_jobs: int | None = None, chunk: int = 25,
                 approx_above: int = APPROX_ABOVE, fft_above: int = FFT_ABOVE, sample_above: int = SAMPLE_ABOVE,
                 sample_size: int = SAMPLE_SIZE, place_chunk: int = PLACE_CHUNK):
        if not np.isfinite(perplexity) or perplexity <= 0:
            raise ExplorerError(f"Perplexity must be a positive number (got {perplexity}).")
        self.approx_above, self.fft_above = int(approx_above), int(fft_above)
        self.sample_above, self.sample_size, self.place_chunk = int(sample_above), int(sample_size), int(place_chunk)
        self._check_sampling()
        self.perplexity = float(perplexity)
        self.seed = _check_seed(seed)
        self.n_jobs = n_jobs
        self.chunk = int(chunk)
        self.reduce_ = None  # PCA to 50-D (None when the input is small already)
        self.tsne_ = None  # openTSNE.TSNEEmbedding; None when `fallback_` (a PCA) made the map
        self.fallback_: PCAProjection | None = None
        self.embedding_: np.ndarray | None = None
        self.fitted_rows_: np.ndarray | None = None  # (m,) the rows the map was fitted on, when a sample; else None
        self.note_: str | None = None  # why the map is a PCA, how the optimisation was changed, or that it sampled

    def params(self) -> dict:
        return {"method": "tsne", "seed": self.seed, "perplexity": self.perplexity, **self._sampling_params()}

    def fit(self, features: np.ndarray) -> "TSNEProjection":
        return run_to_end(self.fit_steps(features))

    def fit_steps(self, features: np.ndarray) -> Work["TSNEProjection"]:
        from openTSNE import TSNEEmbedding, affinity, initialization

        x = np.asarray(features)  # float32 a chunk at a time (reduce_features): float16 rows stay float16
        n = len(x)
        distinct = count_distinct(x, MIN_TSNE_POINTS)
        if distinct < MIN_TSNE_POINTS:  # t-SNE needs neighbours; a tiny or degenerate set gets a PCA map
            have = f"all {n} have the same features" if distinct == 1 and n > 1 else \
                f"there are {n}" if distinct == n else f"these {n} have {distinct} distinct ones"
            return (yield from self._fall_back(x, f"t-SNE needs at least {MIN_TSNE_POINTS} images with distinct "
                                                  f"features ({have}); showing PCA"))
        total = EARLY_ITERATIONS + MAIN_ITERATIONS
        from ..threads import free_cores

        n_jobs = self.n_jobs or free_cores()  # not every core: under load, openTSNE on all of them lost to one
        sample = sample_rows(n, self.sample_above, self.sample_size, self.seed)  # None: fitted on all rows
        n_fit = n if sample is None else len(sample)
        if sample is not None:
            total += -(-(n - n_fit) // self.place_chunk) * self.chunk  # a placed chunk counts as a chunk of iterations
        # Perplexity needs at least 3 * perplexity neighbours; small datasets get a smaller one.
        perplexity = float(min(self.perplexity, max((n_fit - 1) / 3.0, 1.0)))
        yield Step(0, total, "reducing to 50 dimensions")
        self.reduce_, x = reduce_features(x, sample, min(50, n_fit - 1), self.seed)
        fit_x = x if sample is None else x[sample]
        yield Step(0, total, "finding neighbours")
        aff = affinity.PerplexityBasedNN(fit_x, perplexity=perplexity, n_jobs=n_jobs, random_state=self.seed,
                                         method="exact" if n_fit <= self.approx_above else "annoy")
        init = initialization.pca(fit_x, random_state=self.seed)

        def start():
            return TSNEEmbedding(init.copy(), aff, n_jobs=n_jobs, random_state=self.seed,
                                 negative_gradient_method="fft" if n_fit > self.fft_above else "bh")

        emb = start()
        start_spread = _spread(init)
        done = 0
        for phase_iters, params in ((EARLY_ITERATIONS, {"exaggeration": 12, "momentum": 0.5}),
                                    (MAIN_ITERATIONS, {"exaggeration": 1, "momentum": 0.8})):
            left = phase_iters
            label = "early exaggeration" if params["exaggeration"] > 1 else "optimising"
            while left > 0:
                step = min(self.chunk, left)
                emb.optimize(n_iter=step, inplace=True, **params)
                left -= step
                done += step
                frame = np.asarray(emb, dtype=np.float32)
                if params["exaggeration"] > 1 and not _spread(frame) > _COLLAPSED * start_spread:
                    # The attraction won everywhere (few images, or features without structure): the
                    # map shrinks to a point that the optimiser cannot spread again. Start over from
                    # the PCA initialisation without exaggeration.
                    self.note_ = "early exaggeration collapsed the map; optimised without it"
                    emb = start()
                    done += left
                    left = 0
                    frame = np.asarray(emb, dtype=np.float32)
                    label = self.note_
                yield Step(done, total, label, partial=whole_layout(frame.copy(), sample, n))
        layout = np.asarray(emb, dtype=np.float32)
        if not np.isfinite(layout).all() or not _spread(layout) > 1e-6:
            return (yield from self._fall_back(np.asarray(features),
                                               "t-SNE found no usable map of these features "
                                               f"({'non-finite' if not np.isfinite(layout).all() else 'collapsed'}"
                                               "); showing PCA"))
        self.tsne_ = emb
        self.fitted_rows_ = sample
        if sample is not None:
            layout = yield from self._place_rest(x, sample, whole_layout(layout, sample, n), done, total, self.chunk,
                                                 n_iter=PLACE_ITERATIONS)
            placed = f"t-SNE fitted on {n_fit:,} of {n:,} points; the rest placed"
            self.note_ = placed if self.note_ is None else f"{placed}; {self.note_}"
        self.embedding_ = layout
        return self

    def _place(self, x: np.ndarray, n_iter: int = 250) -> np.ndarray:
        """(m, 2) map positions of reduced features: openTSNE optimises them against the fixed fitted map."""
        # openTSNE's transform first moves the fitted map in place so that its bounding box is centred at 0, 0
        # and answers in that frame; the map on screen is in the frame of the fit. Move both back.
        ref = self.tsne_
        centre = (np.max(ref, axis=0) + np.min(ref, axis=0)) / 2  # what transform subtracts
        try:
            placed = np.asarray(ref.transform(x, n_iter=n_iter), dtype=np.float64) + centre
        finally:
            ref += centre
        return placed.astype(np.float32)

    def _fall_back(self, x: np.ndarray, note: str) -> Work["TSNEProjection"]:
        self.reduce_ = self.tsne_ = self.fitted_rows_ = None
        self.fallback_ = PCAProjection(seed=self.seed).fit(x)
        self.embedding_ = self.fallback_.embedding_
        self.note_ = note
        yield Step(1, 1, note)
        return self



Projection = Union[PCAProjection, TSNEProjection, "UMAPProjection"]


def make_projection(method: str, *, perplexity: float = 30.0, seed: int = 0) -> Projection:
    if method == "pca":
        return PCAProjection(seed=seed)
    if method == "tsne":
        return TSNEProjection(perplexity=perplexity, seed=seed, **_sampling_from_environment())
    if method == "umap":
        from .umap_projection import UMAPProjection

        return UMAPProjection(seed=seed, **_sampling_from_environment())
    raise ExplorerError(f"Unknown projection {method!r}; choose one of {', '.join(METHODS)}.")


def _sampling_from_environment() -> dict:
    """EXPLORER_MAP_SAMPLE_ABOVE / _SIZE: t-SNE and UMAP sample past another size (to try it on a small
    dataset, or to fit on more points on a bigger machine)."""
    out = {}
    for key, name in (("sample_above", "EXPLORER_MAP_SAMPLE_ABOVE"), ("sample_size", "EXPLORER_MAP_SAMPLE_SIZE")):
        text = os.environ.get(name, "").strip()
        if text:
            try:
                out[key] = int(text.replace("_", "").replace(",", ""))
            except ValueError:
                raise ExplorerError(f"{name}={text!r} is not a whole number.") from None
            if out[key] < 1:
                raise ExplorerError(f"{name}={text!r} must be at least 1.")
    if "sample_above" in out and "sample_size" not in out:  # a lowered threshold samples at most that many
        out["sample_size"] = min(SAMPLE_SIZE, out["sample_above"])
    return out


def _check_seed(seed) -> int:
    """A seed numpy and scikit-learn accept: a whole number in 0 .. 2**32 - 1."""
    try:
        value = int(seed)
    except (TypeError, ValueError):
        value = None
    if value is None or value != seed or not 0 <= value <= SEED_MAX:
        raise ExplorerError(f"Seed must be a whole number from 0 to {SEED_MAX} (got {seed!r}).")
    return value


SEED_MAX = 2**32 - 1


def _pad2(y: np.ndarray) -> np.ndarray:
    if y.shape[1] < 2:
        y = np.hstack([y, np.zeros((len(y), 2 - y.shape[1]), np.float32)])
    return y


# --- the functions of the first release, kept for scripts and benchmarks -------------------------

def pca_2d(features: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """(n, d) -> (n, 2) float32 principal-component coordinates."""
    return PCAProjection(seed=seed).fit(features).embedding_


def tsne_2d(features: np.ndarray, *, perplexity: float = 30.0, seed: int = 0, chunk: int = 25,
            n_jobs: int | None = None) -> Work[np.ndarray]:
    """(n, d) -> (n, 2) float32 t-SNE layout; yields Steps with the layout so far."""
    fitted = yield from TSNEProjection(perplexity=perplexity, seed=seed, chunk=chunk, n_jobs=n_jobs).fit_steps(features)
    return fitted.embedding_
