"""The blocked neighbour kernel: float16 features kept as they are (no float32 copy), read through the
bit trick exactly, in blocks; every answer equal to a float64 brute force."""

import tracemalloc

import numpy as np
import pytest

from explorer.core.analysis import neighbours
from explorer.core.analysis.neighbours import NeighbourIndex


def brute(x, q, metric, exclude=None, valid=None):
    """(len(q), n) float64 distances, written out independently of the index."""
    a, b = np.asarray(x, np.float64), np.asarray(q, np.float64)
    if metric == "cosine":
        na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
        denom = nb[:, None] * na[None, :]
        d = 1 - (b @ a.T) / np.where(denom > 0, denom, 1)
    else:
        d = np.sqrt(np.maximum(((b[:, None, :] - a[None, :, :]) ** 2).sum(axis=2), 0))
    if valid is not None:
        d[:, ~valid] = np.inf
    if exclude is not None:
        d[np.arange(len(b)), exclude] = np.inf
    return d


def expected(d, k):
    order = np.lexsort((np.broadcast_to(np.arange(d.shape[1]), d.shape), d), axis=-1)[:, :k]
    return order, np.take_along_axis(d, order, axis=1)


def test_every_float16_value_is_read_exactly():
    """All 63,488 finite float16 values (subnormals, negatives, both zeros, the largest) as features:
    the scores the kernel ranks by equal float64 arithmetic on numpy's own float16 -> float64 cast."""
    bits = np.arange(1 << 16, dtype=np.uint16)
    values = bits.view(np.float16)[np.isfinite(bits.view(np.float16))]
    signed = values[:len(values) // 62 * 62].reshape(-1, 62)  # 1,024 rows of 62 (an even width)
    positive = bits[bits < 0x7C00].view(np.float16)  # every finite value without a sign bit (ReLU features)
    unsigned = positive[:len(positive) // 62 * 62].reshape(-1, 62)
    for x, rows in ((signed, [0, 5, 500, 1023]), (unsigned, [1, 5, 300, 494])):
        _read_exactly(x, rows)


def _read_exactly(x, rows):
    for metric in ("cosine", "euclidean"):
        index = NeighbourIndex(x, metric=metric)
        assert index._unsigned == (not np.signbit(x).any())
        got = index.scores(rows)
        a = x.astype(np.float64)
        q = a[rows]
        if metric == "cosine":
            want = -(q / np.linalg.norm(q, axis=1, keepdims=True)) @ a.T / np.linalg.norm(a, axis=1)
        else:
            want = (a ** 2).sum(axis=1)[None, :] - 2 * q @ a.T
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6 * np.abs(want).max())


@pytest.mark.parametrize("dtype,d", [(np.float16, 40), (np.float16, 33), (np.float32, 40), (np.float64, 17)])
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_batched_vector_queries_equal_brute_force(dtype, d, metric, monkeypatch):
    # small scratch: scores come in several column blocks merged by argpartition
    monkeypatch.setattr(neighbours, "_SCRATCH", 700)
    monkeypatch.setattr(neighbours, "_TILE", 64 * d)
    monkeypatch.setattr(neighbours, "_TILE_MANY", 128 * d)
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(900, d)) * 3).astype(dtype)
    x[7] = 0  # no direction
    x[8] = x[9]  # a tie
    valid = np.ones(900, bool)
    valid[[1, 2, 600]] = False
    index = NeighbourIndex(x, metric=metric, valid=valid)
    q = (rng.normal(size=(37, d)) * 3).astype(dtype)
    found, dist = index.query_vectors(q, k=12, block=5)
    want_i, want_d = expected(brute(x, q, metric, valid=valid), 12)
    np.testing.assert_array_equal(found, want_i)
    np.testing.assert_allclose(dist, want_d, rtol=1e-9, atol=1e-12)
    rows = np.array([0, 8, 9, 899, 450])  # (not 7: from a zero vector every row is equally far)
    found, dist = index.query_many(rows, k=12, block=4)
    want_i, want_d = expected(brute(x, x[rows], metric, exclude=rows, valid=valid), 12)
    np.testing.assert_array_equal(found, want_i)
    np.testing.assert_allclose(dist, want_d, rtol=1e-9, atol=1e-12)


def test_a_memory_mapped_float16_run_is_not_copied(tmp_path, monkeypatch):
    monkeypatch.setattr(neighbours, "_SCRATCH", 1 << 16)  # scores held at once: fixed, whatever n is
    monkeypatch.setattr(neighbours, "_TILE_MANY", 1 << 18)
    n, d = 20_000, 128
    mm = np.lib.format.open_memmap(tmp_path / "features.npy", mode="w+", dtype=np.float16, shape=(n, d))
    mm[:] = np.random.default_rng(0).random((n, d)).astype(np.float16)
    mm.flush()
    x = np.load(tmp_path / "features.npy", mmap_mode="r")
    tracemalloc.start()
    try:
        index = NeighbourIndex(x, metric="cosine")
        held, _ = tracemalloc.get_traced_memory()
        found, _ = index.query_many(np.arange(50), k=5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # a float32 copy would hold n * d * 4 bytes (10 MB); the index holds its norms (n floats), a query
    # a 1 MB block of rows and its scores
    assert held < 0.05 * n * d * 4
    assert peak < 0.5 * n * d * 4
    assert np.shares_memory(index._x, x)
    a = np.asarray(x[:50], np.float64)
    want_i, _ = expected(brute(x, a, "cosine", exclude=np.arange(50)), 5)
    np.testing.assert_array_equal(found, want_i)


def test_many_columns_take_the_grouped_partition():
    """Past 4 m x 16 columns a block's candidates come from the groups with the smallest minima."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(5000, 6)).astype(np.float16)
    x[100:110] = x[3]  # ties straddling the k-th place
    for metric in ("cosine", "euclidean"):
        index = NeighbourIndex(x, metric=metric)
        rows = np.array([3, 0, 4999, 2500])
        found, dist = index.query_many(rows, k=5)
        want_i, want_d = expected(brute(x, x[rows], metric, exclude=rows), 5)
        np.testing.assert_array_equal(found, want_i)
        np.testing.assert_allclose(dist, want_d, rtol=1e-9, atol=1e-12)


def test_duplicates_leave_out_rows_that_are_not_finite():
    """float16 inf and nan pass through the bit trick as large finite numbers: the rows must still be left out."""
    from explorer.core.analysis.duplicates import near_duplicates
    from explorer.core.progress import run_to_end

    rng = np.random.default_rng(6)
    x = rng.random((40, 8)).astype(np.float16)
    x[5], x[6] = x[4], x[4]
    x[5, 0] = np.inf
    x[6, 1] = np.nan
    x[7] = x[4]
    pairs = run_to_end(near_duplicates(x, 0.001))
    assert [(p.a, p.b) for p in pairs] == [(4, 7)]


def test_threads_share_the_rows_and_answer_the_same(monkeypatch):
    monkeypatch.setattr(neighbours, "_PARALLEL_ABOVE", 0)
    monkeypatch.setattr(neighbours, "_TILE", 16 * 10)
    monkeypatch.setenv("EXPLORER_THREADS", "3")
    rng = np.random.default_rng(8)
    x = rng.normal(size=(1000, 10)).astype(np.float16)
    valid = rng.random(1000) > 0.1
    for metric in ("cosine", "euclidean"):
        index = NeighbourIndex(x, metric=metric, valid=valid)
        rows = np.flatnonzero(valid)[:40]
        found, dist = index.query_many(rows, k=7, block=16)
        want_i, want_d = expected(brute(x, x[rows], metric, exclude=rows, valid=valid), 7)
        np.testing.assert_array_equal(found, want_i)
        np.testing.assert_allclose(dist, want_d, rtol=1e-9, atol=1e-12)
