"""Exact nearest neighbours in the full feature space (not in the 2-D map).

A brute-force scan is exact and, with features held once as float32, fast: one
matrix-vector product over 100k x 512 is a few milliseconds. The best candidates
are re-ranked in float64, so the order matches a float64 brute force.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ExplorerError

METRICS = ("cosine", "euclidean")
_MARGIN = 8  # extra float32 candidates re-ranked in float64


@dataclass(frozen=True)
class Neighbour:
    index: int
    distance: float


class NeighbourIndex:
    """features: (n, d); valid: (n,) bool, rows that may be returned (embedded ones)."""

    def __init__(self, features: np.ndarray, *, metric: str = "cosine", valid: np.ndarray | None = None):
        if metric not in METRICS:
            raise ExplorerError(f"Unknown metric {metric!r}; choose one of {', '.join(METRICS)}.")
        self.metric = metric
        self._source = features
        x = np.ascontiguousarray(features, dtype=np.float32)
        self.valid = np.ones(len(x), bool) if valid is None else np.asarray(valid, bool).copy()
        if metric == "cosine":
            norms = np.linalg.norm(x, axis=1, keepdims=True)
            x = x / np.where(norms > 0, norms, 1.0)
        else:
            self._sq = np.einsum("ij,ij->i", x, x)
        self._x = x

    def __len__(self) -> int:
        return len(self._x)

    def query(self, index: int, k: int = 10) -> list[Neighbour]:
        """The k nearest valid rows to row `index`, itself excluded, nearest first."""
        if not 0 <= index < len(self._x):
            raise ExplorerError(f"Index {index} is out of range (0..{len(self._x) - 1}).")
        if not self.valid[index]:
            raise ExplorerError(f"Item {index} has no features (it could not be embedded).")
        return self._search(self._x[index], k, exclude=index,
                            exact_query=np.asarray(self._source[index], dtype=np.float64))

    def query_vector(self, vector: np.ndarray, k: int = 10) -> list[Neighbour]:
        v = np.asarray(vector, dtype=np.float32)
        if self.metric == "cosine":
            v = v / (np.linalg.norm(v) or 1.0)
        return self._search(v, k, exclude=None, exact_query=np.asarray(vector, dtype=np.float64))

    def query_many(self, indices, k: int = 10, *, block: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest valid rows to each of `indices` (each excluding itself), in one blocked pass.

        Returns (neighbours, distances), both (len(indices), k), nearest first; rows with fewer than
        k valid neighbours are padded with -1 and inf. One matrix product per block of queries
        (BLAS does the work), top candidates by argpartition, re-ranked in float64 as `query` does,
        so the answers equal `query`'s.
        """
        idx = np.asarray(indices, dtype=np.int64).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= len(self._x)):
            raise ExplorerError(f"Index out of range (0..{len(self._x) - 1}).")
        if idx.size and not self.valid[idx].all():
            bad = int(idx[~self.valid[idx]][0])
            raise ExplorerError(f"Item {bad} has no features (it could not be embedded).")
        k = max(0, int(k))
        out_i = np.full((len(idx), k), -1, np.int64)
        out_d = np.full((len(idx), k), np.inf)
        n_ok = int(self.valid.sum())
        m = min(k + _MARGIN, max(0, n_ok - 1))
        if m <= 0 or k == 0:
            return out_i, out_d
        for start in range(0, len(idx), block):
            q = idx[start:start + block]
            products = self._x[q] @ self._x.T  # (b, n)
            score = -products if self.metric == "cosine" else self._sq[None, :] - 2.0 * products
            score[:, ~self.valid] = np.inf
            score[np.arange(len(q)), q] = np.inf
            cand = np.argpartition(score, m - 1, axis=1)[:, :m] if m < score.shape[1] else \
                np.broadcast_to(np.arange(score.shape[1]), score.shape)
            for row, (i, c) in enumerate(zip(q, cand)):
                c = c[np.isfinite(score[row, c])]
                exact = self._exact_distances(c, np.asarray(self._source[i], dtype=np.float64))
                order = np.lexsort((c, exact))[:k]
                out_i[start + row, :len(order)] = c[order]
                out_d[start + row, :len(order)] = exact[order]
        return out_i, out_d

    def _search(self, q: np.ndarray, k: int, exclude: int | None, exact_query: np.ndarray) -> list[Neighbour]:
        k = max(0, int(k))
        if self.metric == "cosine":
            score = -(self._x @ q)  # smaller is nearer
        else:
            score = self._sq - 2.0 * (self._x @ q)
        score[~self.valid] = np.inf
        if exclude is not None:
            score[exclude] = np.inf
        n_ok = int(np.isfinite(score).sum())
        m = min(k + _MARGIN, n_ok)
        if m <= 0:
            return []
        cand = np.argpartition(score, m - 1)[:m] if m < len(score) else np.arange(len(score))
        cand = cand[np.isfinite(score[cand])]
        exact = self._exact_distances(cand, exact_query)
        order = np.lexsort((cand, exact))[:k]
        return [Neighbour(int(cand[i]), float(exact[i])) for i in order]

    def _exact_distances(self, rows: np.ndarray, q: np.ndarray) -> np.ndarray:
        x = np.asarray(self._source[rows], dtype=np.float64)
        if self.metric == "cosine":
            nx = np.linalg.norm(x, axis=1)
            nq = np.linalg.norm(q)
            denom = np.where((nx > 0) & (nq > 0), nx * nq, 1.0)
            return 1.0 - (x @ q) / denom
        return np.sqrt(np.maximum(((x - q) ** 2).sum(axis=1), 0.0))

