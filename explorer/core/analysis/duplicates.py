"""Near duplicates: pairs of images closer than a threshold in feature space (cosine distance).

Every pair is compared, block by block, by the neighbour index's kernel (analysis.neighbours: the
features stay float16, no float32 copy): a block of rows against all later rows in float32 (memory
stays at `block_elements` floats, never n x n); candidates within a small margin of the threshold
are then measured exactly in float64, as NeighbourIndex re-ranks its candidates, so the pairs are
those a float64 brute force finds. One Step per block, so it can be cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ExplorerError
from ..progress import Step, Work
from .neighbours import NeighbourIndex

DEFAULT_THRESHOLD = 0.01  # cosine distance; unrelated images of one class are usually > 0.05 apart
_MARGIN = 1e-4  # float32 cosine similarities are this close to float64's


@dataclass(frozen=True)
class DuplicatePair:
    a: int  # run rows, a < b
    b: int
    distance: float  # cosine distance, 1 - cos


def near_duplicates(features: np.ndarray, threshold: float = DEFAULT_THRESHOLD, *, valid: np.ndarray | None = None,
                    max_pairs: int = 200_000, block_elements: int = 1 << 24) -> Work[list[DuplicatePair]]:
    """Every pair (a < b) of valid rows with cosine distance <= threshold, nearest first.

    features: (n, d); valid: (n,) bool, rows that take part (embedded ones, default all). Rows whose
    features are all zero have no direction and take no part. ExplorerError when more than max_pairs
    pairs are that close (the threshold is too loose to be a list of duplicates).
    """
    if not (np.isfinite(threshold) and 0 <= threshold <= 2):
        raise ExplorerError(f"The duplicate threshold is a cosine distance from 0 to 2 (got {threshold}).")
    n = len(features)
    valid = np.ones(n, bool) if valid is None else np.asarray(valid, bool)
    index = NeighbourIndex(features if n else np.zeros((0, 1), np.float32), metric="cosine", valid=valid)
    index.valid &= _finite_rows(features) & (index.norms > 0)
    rows = np.flatnonzero(index.valid)
    block = max(1, min(max(1, len(rows)), block_elements // max(1, n)))
    cut = -(1.0 - threshold - _MARGIN)  # scores are minus the cosine similarity
    found_a, found_b = [], []
    count = 0
    total = max(1, -(-len(rows) // block))
    for k, start in enumerate(range(0, len(rows), block)):
        yield Step(k, total, f"{start:,} of {len(rows):,} images compared")
        mine = rows[start:start + block]
        scores = index.scores(mine, mine[0])  # this block against itself and every later row
        a, b = np.nonzero(scores <= cut)
        a, b = mine[a], b + mine[0]
        upper = b > a
        a, b = a[upper], b[upper]
        count += len(a)
        if count > 4 * max_pairs:  # candidates include the margin; far more means far too many pairs
            break
        found_a.append(a)
        found_b.append(b)
    a = np.concatenate(found_a) if found_a else np.zeros(0, np.int64)
    b = np.concatenate(found_b) if found_b else np.zeros(0, np.int64)
    dist = _exact_cosine(features, a, b) if len(a) else np.zeros(0)
    close = dist <= threshold
    if count > 4 * max_pairs or close.sum() > max_pairs:
        raise ExplorerError(f"More than {max_pairs:,} pairs of images are within cosine distance {threshold:g}: "
                            "that is not a list of duplicates; choose a smaller threshold.")
    a, b, dist = a[close], b[close], dist[close]
    order = np.lexsort((b, a, dist))
    yield Step(total, total, f"{len(order):,} pairs")
    return [DuplicatePair(int(a[i]), int(b[i]), float(dist[i])) for i in order]


def _finite_rows(features: np.ndarray, block: int = 65536) -> np.ndarray:
    out = np.ones(len(features), bool)
    for s in range(0, len(features), block):
        out[s:s + block] = np.isfinite(np.asarray(features[s:s + block])).all(axis=1)
    return out


def _exact_cosine(features: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.empty(len(a))
    for s in range(0, len(a), 65536):  # bounded memory however many candidates
        xa = np.asarray(features[a[s:s + 65536]], np.float64)
        xb = np.asarray(features[b[s:s + 65536]], np.float64)
        dot = np.einsum("ij,ij->i", xa, xb)
        out[s:s + 65536] = 1.0 - dot / (np.linalg.norm(xa, axis=1) * np.linalg.norm(xb, axis=1))
    return out


def duplicate_groups(pairs: list[DuplicatePair], n: int) -> list[list[int]]:
    """The pairs joined into groups (connected components), each sorted, largest first."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for p in pairs:
        ra, rb = root(p.a), root(p.b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for i in sorted({i for p in pairs for i in (p.a, p.b)}):
        groups.setdefault(root(i), []).append(i)
    return sorted(groups.values(), key=lambda g: (-len(g), g[0]))
