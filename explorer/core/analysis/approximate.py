"""Approximate nearest neighbours past a size threshold (issue 16): a FAISS inverted-file index.

Exact search reads every row for every query (about 1 s a query at 1M x 1280 on 2 cores). Past
`APPROX_ABOVE` rows, k-means cells answer in milliseconds: the valid rows are filed under 2 sqrt(n)
centroids (trained on a sample) and stored as float16 (FAISS's scalar quantizer: the size of the
features themselves); a query reads the `nprobe` nearest cells (16: recall@10 1.0 at 400k x 1280,
where 8 gave 0.997). Its candidates (3k of them) are measured exactly in float64 by the exact
index's re-rank, so every distance shown is exact and ranked as the exact index would; only a
neighbour in an unread cell can be missed. On the same clustered features an HNSW graph (M 32)
lost recall with size (0.979 at 200k x 1280, 0.938 at 400k, efSearch 256) and built slower.
Recall@10 against exact search: tests/benchmarks/bench_neighbours.py --approximate.

The index lives as long as the object: worth building where many queries follow (the app's
gallery), not for one query (the CLI), which exact search answers sooner.

Optional: `pip install faiss-cpu` (the `ann` extra). Without it `neighbour_index` stays exact and
says so in its `note`.
"""

from __future__ import annotations

import numpy as np

from ..progress import Step, Work, run_to_end
from ..threads import free_cores
from .neighbours import NeighbourIndex, Queries

APPROX_ABOVE = 500_000  # rows; below, exact search answers in well under 0.5 s
_CANDIDATES = 3  # candidates per wanted neighbour, re-ranked exactly


def have_faiss() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def neighbour_index(features: np.ndarray, *, metric: str = "cosine", valid: np.ndarray | None = None,
                    approximate_above: int | None = None):
    """The exact NeighbourIndex, or past `approximate_above` rows (with faiss installed) an
    ApproximateIndex. Either has query, query_many, query_vector, query_vectors, `exact` and `note`."""
    return run_to_end(neighbour_index_steps(features, metric=metric, valid=valid, approximate_above=approximate_above))


def neighbour_index_steps(features: np.ndarray, *, metric: str = "cosine", valid: np.ndarray | None = None,
                          approximate_above: int | None = None) -> Work:
    """`neighbour_index` as Work: the approximate index's build yields its Steps (and can be cancelled).
    approximate_above: None is APPROX_ABOVE as it is when called."""
    approximate_above = APPROX_ABOVE if approximate_above is None else approximate_above
    if len(features) > approximate_above and have_faiss():
        return (yield from build_approximate_index(features, metric=metric, valid=valid))
    index = NeighbourIndex(features, metric=metric, valid=valid)
    if len(features) > approximate_above:
        index.note = f"exact search over {len(features):,} images (pip install faiss-cpu for a fast approximate one)"
    return index


def build_approximate_index(features: np.ndarray, *, metric: str = "cosine", valid: np.ndarray | None = None,
                            cells: int | None = None, block: int = 65_536, seed: int = 0) -> Work["ApproximateIndex"]:
    """Train the cells on a sample, then file every valid row, one Step per block (closing the
    generator between Steps cancels; the training itself is one call)."""
    import faiss

    exact = NeighbourIndex(features, metric=metric, valid=valid)
    rows = np.flatnonzero(exact.valid)
    d = features.shape[1]
    cells = max(1, min(len(rows) // 40, cells or int(2 * np.sqrt(len(rows)))))
    faiss.omp_set_num_threads(free_cores())
    if metric == "cosine":
        coarse, faiss_metric = faiss.IndexFlatIP(d), faiss.METRIC_INNER_PRODUCT
    else:
        coarse, faiss_metric = faiss.IndexFlatL2(d), faiss.METRIC_L2
    index = faiss.IndexIVFScalarQuantizer(coarse, d, cells, faiss.ScalarQuantizer.QT_fp16, faiss_metric)
    index.cp.niter = 10  # k-means passes over the sample: the default 25 costs minutes at 1M rows
    total = len(rows) + 1
    yield Step(0, total, f"training {cells:,} cells")
    picked = min(len(rows), 40 * cells)  # FAISS asks for 39 a cell
    sample = np.sort(np.random.default_rng(seed).choice(len(rows), picked, replace=False))
    index.train(_vectors(features[rows[sample]], metric))
    for start in range(0, len(rows), block):
        yield Step(1 + start, total, f"indexing {start:,} of {len(rows):,} images")
        index.add(_vectors(features[rows[start:start + block]], metric))
    yield Step(total, total, "indexed")
    approximate = ApproximateIndex(exact, index, rows)
    approximate._coarse = coarse  # the cells' centroids: kept alive with the index that reads them
    return approximate


def _vectors(x, metric: str) -> np.ndarray:
    x = np.ascontiguousarray(x, np.float32)
    if metric == "cosine":
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        x /= np.where(norms > 0, norms, 1)
    return x


class ApproximateIndex(Queries):
    """The cells of build_approximate_index; the same queries as NeighbourIndex. nprobe: cells read a query."""

    exact = False

    def __init__(self, exact: NeighbourIndex, index, rows: np.ndarray, nprobe: int = 16):
        self._exact, self._index, self._rows = exact, index, rows
        self.metric, self.valid = exact.metric, exact.valid
        self.nprobe = nprobe
        self.note = f"approximate neighbours ({index.nlist:,} cells over {len(rows):,} images; distances exact)"

    def __len__(self) -> int:
        return len(self._exact)

    def query_many(self, indices, k: int = 10, **_) -> tuple[np.ndarray, np.ndarray]:
        idx = self._checked(indices)
        return self._search(np.asarray(self._exact._source[idx], np.float64), k, idx)

    def query_vectors(self, vectors: np.ndarray, k: int = 10, **_) -> tuple[np.ndarray, np.ndarray]:
        return self._search(np.asarray(vectors, np.float64), k, None)

    def _search(self, q: np.ndarray, k: int, own: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        k = max(0, int(k))
        if k == 0 or not len(self._rows) or not len(q):
            return np.full((len(q), k), -1, np.int64), np.full((len(q), k), np.inf)
        want = min(len(self._rows), k * _CANDIDATES + 1)
        self._index.nprobe = min(self.nprobe, self._index.nlist)
        faiss.omp_set_num_threads(free_cores())
        _, labels = self._index.search(_vectors(q, self.metric), want)
        ok = labels >= 0
        cand = np.where(ok, self._rows[np.where(ok, labels, 0)], -1)
        if own is not None:  # a row is not its own neighbour
            ok &= cand != own[:, None]
        return self._exact.rerank(cand, ok, q, k)
