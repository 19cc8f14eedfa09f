"""Approximate neighbours past a size threshold (issue 16): recall against exact search, exact distances,
and the exact index when faiss is absent or the run is small. Skipped without faiss (an optional extra)."""

import builtins

import numpy as np
import pytest

from explorer.core.analysis.approximate import neighbour_index
from explorer.core.analysis.neighbours import NeighbourIndex


def clustered(n=3000, d=48, seed=0):
    """Low intrinsic dimension, as CNN features have: 40 centres in a 12-d latent space."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(40, 12))[rng.integers(0, 40, n)] + 0.4 * rng.normal(size=(n, 12))
    return np.maximum(latent @ rng.normal(size=(12, d)) + 0.2 * rng.normal(size=(n, d)), 0).astype(np.float16)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_recall_and_exact_distances(metric):
    pytest.importorskip("faiss")
    x = clustered()
    valid = np.ones(len(x), bool)
    valid[::97] = False
    approx = neighbour_index(x, metric=metric, valid=valid, approximate_above=1000)
    assert approx.exact is False and "approximate" in approx.note
    exact = NeighbourIndex(x, metric=metric, valid=valid)
    rows = np.flatnonzero(valid)[::15]
    found, dist = approx.query_many(rows, k=10)
    want, want_d = exact.query_many(rows, k=10)
    recall = np.mean([len(set(f) & set(w)) / 10 for f, w in zip(found, want)])
    assert recall >= 0.95
    assert not (found == rows[:, None]).any() and valid[found].all()
    # every distance is the exact one of the row found (float64 brute force)
    a = x.astype(np.float64)
    for r, f, dd in zip(rows, found, dist):
        if metric == "cosine":
            d = 1 - a[f] @ a[r] / (np.linalg.norm(a[f], axis=1) * np.linalg.norm(a[r]))
        else:
            d = np.linalg.norm(a[f] - a[r], axis=1)
        np.testing.assert_allclose(dd, d, rtol=1e-9, atol=1e-12)
        assert list(dd) == sorted(dd)
    one = approx.query(int(rows[0]), 10)
    assert [n.index for n in one] == list(found[0])


def test_small_runs_and_no_faiss_stay_exact(monkeypatch):
    x = clustered(500, 16)
    small = neighbour_index(x, approximate_above=1000)
    assert isinstance(small, NeighbourIndex) and small.exact and small.note is None
    real_import = builtins.__import__

    def no_faiss(name, *args, **kwargs):
        if name == "faiss":
            raise ImportError("no faiss here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_faiss)
    big = neighbour_index(x, approximate_above=100)
    assert isinstance(big, NeighbourIndex) and big.exact and "faiss" in big.note
    assert [n.index for n in big.query(3, 5)] == [n.index for n in NeighbourIndex(x).query(3, 5)]
