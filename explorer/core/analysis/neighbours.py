"""Exact nearest neighbours in the full feature space (not in the 2-D map).

The index keeps the features as the run stores them (float16, usually memory-mapped: no copy) and
holds only n float32 norms besides; a float32 copy would cost +977 MB at 200k x 1280. Rows are
scanned in blocks turned into float32 on the fly, each block one matrix product with a block of
queries (BLAS), the best candidates kept by argpartition and re-ranked in float64, so the order
matches a float64 brute force. One kernel serves a single query (the gallery), many (label issues,
the kNN probe) and similarity blocks (near duplicates).
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np

from ..errors import ExplorerError
from ..threads import blas_threads, free_cores

METRICS = ("cosine", "euclidean")
_MARGIN = 8  # extra float32 candidates re-ranked in float64
_SCRATCH = 1 << 22  # float32 scores held at once per block of queries (16 MB; 32 more for argpartition)
_TILE = 1 << 19  # elements of one block of rows turned into float32 for a query or a few (2 MB; 10% faster than 1)
_PARALLEL_ABOVE = 1 << 22  # features (n x d) past which the search is shared between threads
_TILE_MANY = 1 << 21  # ... for many queries: a larger matrix product is 3-5x faster a flop (8 MB)

# numpy's float16 -> float32 cast is slow (~2 ns a value, 5x a float32 matrix-vector product). The
# bits do it faster: read two float16 as one int32, shift each half into float32's place and mask,
# which gives x * 2**-112 exactly (subnormals too); 2**56 of it goes on the queries, 2**56 on the result.
_MASK = np.int32(-0x70002000)  # 0x8FFFE000: sign, exponent and mantissa bits in float32's places
_MAGNITUDE = np.int32(0x0FFFE000)  # exponent and mantissa bits only
_SCALE = np.float32(2.0 ** 56)


@dataclass(frozen=True)
class Neighbour:
    index: int
    distance: float


class Queries:
    """What both indexes (exact here, approximate.ApproximateIndex) build on query_many / query_vectors:
    single queries, and the check that asked-for rows exist and have features."""

    valid: np.ndarray

    def query(self, index: int, k: int = 10) -> list[Neighbour]:
        """The k nearest valid rows to row `index`, itself excluded, nearest first."""
        found, dist = self.query_many([index], k)
        return [Neighbour(int(i), float(s)) for i, s in zip(found[0], dist[0]) if i >= 0]

    def query_vector(self, vector: np.ndarray, k: int = 10) -> list[Neighbour]:
        found, dist = self.query_vectors(np.asarray(vector)[None, :], k)
        return [Neighbour(int(i), float(s)) for i, s in zip(found[0], dist[0]) if i >= 0]

    def _checked(self, indices) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64).ravel()
        n = len(self.valid)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise ExplorerError(f"Index {int(idx[(idx < 0) | (idx >= n)][0])} is out of range (0..{n - 1}).")
        if idx.size and not self.valid[idx].all():
            raise ExplorerError(f"Item {int(idx[~self.valid[idx]][0])} has no features (it could not be embedded).")
        return idx


class NeighbourIndex(Queries):
    """features: (n, d), best float16 or float32 (kept as given, a memmap too); valid: (n,) bool,
    rows that may be returned (embedded ones)."""

    exact = True  # (analysis.approximate's index says False)
    note: str | None = None  # what a person should know about the search, if anything

    def __init__(self, features: np.ndarray, *, metric: str = "cosine", valid: np.ndarray | None = None):
        if metric not in METRICS:
            raise ExplorerError(f"Unknown metric {metric!r}; choose one of {', '.join(METRICS)}.")
        self.metric = metric
        x = features if isinstance(features, np.ndarray) else np.asarray(features)
        self._source = x  # exact values for the float64 re-rank
        if x.ndim != 2:
            raise ExplorerError(f"Features must be a table of rows (n, d), not shape {x.shape}.")
        if x.dtype not in (np.float16, np.float32) or not x.dtype.isnative or not x.flags.c_contiguous:
            kept = x.dtype.newbyteorder("=") if x.dtype.kind == "f" and x.dtype.itemsize <= 4 else np.float32
            x = np.ascontiguousarray(x, dtype=kept)  # a float16 slice stays float16
        self._x = x
        n, d = x.shape
        self._words = None  # int32 view of float16 pairs, where the bit trick applies
        if x.dtype == np.float16 and d % 2 == 0 and d and sys.byteorder == "little":
            self._words = x.view(np.int32)
        self.valid = np.ones(n, bool) if valid is None else np.asarray(valid, bool).copy()
        if self.valid.shape != (n,):
            raise ExplorerError(f"The valid mask has shape {self.valid.shape}; the features have {n} rows.")
        self._tile = max(16, _TILE // max(1, d))
        self._unsigned = False
        if self._words is not None:
            signs = np.int32(0)
            for start in range(0, n, 1 << 16):
                signs |= np.bitwise_or.reduce(self._words[start:start + (1 << 16)], axis=None)
            self._unsigned = not signs & np.int32(-0x7FFF8000)  # 0x80008000: both halves' sign bits
        sq = np.empty(n, np.float32)
        bits = np.empty((2, self._tile, d // 2), np.int32) if self._words is not None else None
        for start in range(0, n, self._tile):
            stop = min(n, start + self._tile)
            if bits is None:
                block = np.asarray(x[start:stop], np.float32)
                sq[start:stop] = np.einsum("ij,ij->i", block, block)
            else:
                for part in self._halves(start, stop, bits[0], bits[1]):
                    part *= np.float32(2.0 ** 112)  # exact values (squares of x * 2**-112 would underflow)
                sq[start:stop] = np.einsum("bij,bij->i", bits.view(np.float32)[:, :stop - start],
                                           bits.view(np.float32)[:, :stop - start])
        self.norms = np.sqrt(sq)  # (n,) float32
        # The score each row is ranked by is (products x column factor) + column offset.
        scale = _SCALE if self._words is not None else np.float32(1.0)
        if metric == "cosine":
            norms = self.norms
            self._factor = np.where(norms > 0, -scale / np.where(norms > 0, norms, 1), 0).astype(np.float32)
            self._offset = None
        else:
            self._factor = None
            self._offset = sq
        self._scale = scale

    def __len__(self) -> int:
        return len(self._x)

    # --- queries ------------------------------------------------------------------------------------
    def query_many(self, indices, k: int = 10, *, block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest valid rows to each of `indices` (each excluding itself), in one blocked pass.

        Returns (neighbours, distances), both (len(indices), k), nearest first; rows with fewer than
        k valid neighbours are padded with -1 and inf. Equal to `query` one by one.
        """
        return self._search(self._checked(indices), None, k, block)

    def query_vectors(self, vectors: np.ndarray, k: int = 10, *, block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
        """query_many for vectors (m, d) from elsewhere (nothing excluded)."""
        v = np.asarray(vectors)
        if v.ndim != 2 or v.shape[1] != self._x.shape[1]:
            raise ExplorerError(f"Query vectors must be (m, {self._x.shape[1]}), not {v.shape}.")
        return self._search(None, v, k, block)

    def scores(self, rows: np.ndarray, start: int = 0, stop: int | None = None) -> np.ndarray:
        """(len(rows), stop - start) float32: what the index ranks by, smaller is nearer, for `rows`
        against rows start..stop: minus the cosine similarity (cosine), or the squared distance less
        the query's squared norm (euclidean); inf for invalid rows. Nothing is excluded."""
        stop = len(self._x) if stop is None else stop
        q = self._prepare(np.asarray(self._source[np.asarray(rows)]))
        out = np.empty((len(q), stop - start), np.float32)
        self._fill(q, start, stop, out)
        return out

    # --- the kernel ---------------------------------------------------------------------------------
    def _search(self, idx, vectors, k: int, block: int) -> tuple[np.ndarray, np.ndarray]:
        count = len(idx) if idx is not None else len(vectors)
        k = max(0, int(k))
        out_i = np.full((count, k), -1, np.int64)
        out_d = np.full((count, k), np.inf)
        n = len(self._x)
        m = min(k + _MARGIN, n)
        if k == 0 or m == 0 or not self.valid.any():
            return out_i, out_d
        block = max(1, min(int(block), count))
        # Our own threads over parts of the rows, BLAS on one: a small matrix product on several BLAS
        # threads was 2-4x slower a flop, and the float16 reading and partitions are ours to share.
        workers = 1 if n * self._x.shape[1] < _PARALLEL_ABOVE else max(1, min(free_cores(), n // self._tile))
        bounds = np.linspace(0, n, workers + 1).astype(int)
        with blas_threads(1), ThreadPoolExecutor(workers) if workers > 1 else nullcontext() as pool:
            for qs in range(0, count, block):
                qe = min(count, qs + block)
                exact = np.asarray(self._source[idx[qs:qe]] if idx is not None else vectors[qs:qe], np.float64)
                q = self._prepare(exact)
                mine = idx[qs:qe] if idx is not None else None
                parts = [(q, mine, m, lo, hi, workers) for lo, hi in zip(bounds[:-1], bounds[1:])]
                found = list((pool.map if pool else map)(lambda p: self._part(*p), parts))
                best_i = np.concatenate([f[0] for f in found], axis=1)
                best_s = np.concatenate([f[1] for f in found], axis=1)
                keep = _smallest(best_s, m)
                best_i, best_s = np.take_along_axis(best_i, keep, axis=1), np.take_along_axis(best_s, keep, axis=1)
                out_i[qs:qe], out_d[qs:qe] = self.rerank(best_i, np.isfinite(best_s), exact, k)
        return out_i, out_d

    def _part(self, q, idx, m: int, start: int, stop: int, workers: int) -> tuple[np.ndarray, np.ndarray]:
        """(candidates, their scores), each (b, <= m): the best of rows start..stop for queries q;
        idx: the queries' own rows (excluded) or None."""
        width = min(stop - start, max(self._tile_rows(len(q)), _SCRATCH // (len(q) * workers)))
        scratch = np.empty((len(q), width), np.float32)
        best_s = np.empty((len(q), 0), np.float32)
        best_i = np.empty((len(q), 0), np.int64)
        for ws in range(start, stop, width):
            we = min(stop, ws + width)
            s = scratch[:, :we - ws]
            self._fill(q, ws, we, s)
            if idx is not None:  # a row is not its own neighbour
                own = np.flatnonzero((idx >= ws) & (idx < we))
                s[own, idx[own] - ws] = np.inf
            cand = _smallest(s, m) + ws
            best_i = np.concatenate([best_i, cand], axis=1)
            best_s = np.concatenate([best_s, np.take_along_axis(s, cand - ws, axis=1)], axis=1)
            if best_i.shape[1] > m:
                keep = _smallest(best_s, m)
                best_i = np.take_along_axis(best_i, keep, axis=1)
                best_s = np.take_along_axis(best_s, keep, axis=1)
        return best_i, best_s

    def _prepare(self, q: np.ndarray) -> np.ndarray:
        """Queries (b, d) as the kernel multiplies them: float32, unit length for cosine, in the
        bit trick's column order (even columns, then odd) and scale."""
        q = np.asarray(q, np.float64)
        if self.metric == "cosine":
            norms = np.linalg.norm(q, axis=1, keepdims=True)
            q = q / np.where(norms > 0, norms, 1.0)
        if self._words is not None:
            q = np.concatenate([q[:, 0::2], q[:, 1::2]], axis=1) * float(_SCALE)
        return np.ascontiguousarray(q, np.float32)

    def _tile_rows(self, queries: int) -> int:
        return self._tile if queries < 32 else max(self._tile, _TILE_MANY // max(1, self._x.shape[1]))

    def _fill(self, q: np.ndarray, start: int, stop: int, out: np.ndarray) -> None:
        """out (b, stop - start) <- the scores of queries q (prepared) against rows start..stop."""
        tile = self._tile_rows(len(q))
        if self._words is None:
            for ts in range(start, stop, tile):
                te = min(stop, ts + tile)
                np.matmul(q, np.asarray(self._x[ts:te], np.float32).T, out=out[:, ts - start:te - start])
        else:
            half = self._words.shape[1]
            rows = min(tile, stop - start)
            if len(q) < 32:  # two tables, each read contiguously: the conversion is most of the time
                bits = np.empty((2, rows, half), np.int32)  # reused: no page faults
                odd_part = np.empty((len(q), rows), np.float32)
            else:  # one table: one matrix product over all d columns is the faster flop
                bits = np.empty((rows, 2 * half), np.int32)
            for ts in range(start, stop, tile):
                te = min(stop, ts + tile)
                o = out[:, ts - start:te - start]
                if bits.ndim == 3:
                    even, odd = self._halves(ts, te, bits[0], bits[1])
                    np.matmul(q[:, :half], even.T, out=o)
                    np.add(o, np.matmul(q[:, half:], odd.T, out=odd_part[:, :te - ts]), out=o)
                else:
                    self._halves(ts, te, bits[:, :half], bits[:, half:])
                    np.matmul(q, bits[:te - ts].view(np.float32).T, out=o)
        if self.metric == "cosine":
            np.multiply(out, self._factor[start:stop], out=out)
        else:
            np.multiply(out, -2 * self._scale, out=out)
            np.add(out, self._offset[start:stop], out=out)
        invalid = np.flatnonzero(~self.valid[start:stop])
        if len(invalid):
            out[:, invalid] = np.inf

    def _halves(self, start: int, stop: int, even: np.ndarray, odd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows start..stop of float16 features as two float32 tables, the even columns and the odd
        ones, times 2**-112 (the bit trick), written into even and odd ((>= stop - start, d / 2) int32)."""
        words = self._words[start:stop]
        even, odd = even[:len(words)], odd[:len(words)]
        if self._unsigned:  # no sign bit to carry: one pass fewer (features after a ReLU)
            np.left_shift(words, 13, out=even)  # little-endian: the even column is the low half
            np.bitwise_and(even, _MAGNITUDE, out=even)
        else:
            np.left_shift(words, 16, out=even)
            np.right_shift(even, 3, out=even)
            np.bitwise_and(even, _MASK, out=even)
        np.right_shift(words, 3, out=odd)
        np.bitwise_and(odd, _MASK, out=odd)
        return even.view(np.float32), odd.view(np.float32)

    def rerank(self, cand: np.ndarray, ok: np.ndarray, exact_q: np.ndarray, k: int):
        """Candidates (b, m) (where ok) measured in float64 against the queries (b, d): (rows, distances),
        each (b, k), nearest first, ties by row, padded with -1 and inf."""
        b, m = cand.shape
        out_i = np.full((b, k), -1, np.int64)
        out_d = np.full((b, k), np.inf)
        step = max(1, (1 << 21) // max(1, m * exact_q.shape[1]))  # float64 candidate values held at once
        for s in range(0, b, step):
            c, good, q = cand[s:s + step], ok[s:s + step], exact_q[s:s + step]
            x = np.asarray(self._source[np.where(good, c, 0).ravel()], np.float64).reshape(len(c), m, -1)
            if self.metric == "cosine":
                dot = np.einsum("bmd,bd->bm", x, q)
                denom = np.linalg.norm(x, axis=2) * np.linalg.norm(q, axis=1)[:, None]
                dist = 1.0 - dot / np.where(denom > 0, denom, 1.0)
            else:
                dist = np.sqrt(np.maximum(((x - q[:, None, :]) ** 2).sum(axis=2), 0.0))
            dist = np.where(good, dist, np.inf)
            key = np.where(good, c, np.iinfo(np.int64).max)
            order = np.lexsort((key, dist), axis=-1)[:, :k]
            taken = np.take_along_axis(good, order, axis=1)
            width = order.shape[1]
            out_i[s:s + step, :width] = np.where(taken, np.take_along_axis(c, order, axis=1), -1)
            out_d[s:s + step, :width] = np.where(taken, np.take_along_axis(dist, order, axis=1), np.inf)
        return out_i, out_d


def _smallest(s: np.ndarray, m: int, group: int = 16) -> np.ndarray:
    """(b, min(m, width)) column indices of each row's m smallest values, in no order.

    argpartition costs ~15 ns a value, as much as the matrix product that made it; so first the
    smallest of each group of `group` columns (a cheap SIMD minimum): the m smallest values lie in the
    m groups with the smallest minima (a tie at the m-th value aside), and only those are partitioned.
    """
    b, width = s.shape
    if m >= width:
        return np.broadcast_to(np.arange(width), s.shape).copy()
    cols = width // group
    if cols < 4 * m:
        return np.argpartition(s, m - 1, axis=1)[:, :m]
    mins = s[:, :cols].copy()
    for j in range(1, group):
        np.minimum(mins, s[:, j * cols:(j + 1) * cols], out=mins)
    groups = np.argpartition(mins, m - 1, axis=1)[:, :m]  # group j holds columns j, j + cols, j + 2 cols...
    cand = (groups[:, :, None] + cols * np.arange(group)[None, None, :]).reshape(b, m * group)
    rest = np.arange(cols * group, width)  # the columns past the last whole group
    cand = np.concatenate([cand, np.broadcast_to(rest, (b, len(rest)))], axis=1)
    keep = np.argpartition(np.take_along_axis(s, cand, axis=1), m - 1, axis=1)[:, :m]
    return np.take_along_axis(cand, keep, axis=1)
