"""Nearest neighbours equal a float64 brute force (scipy), itself excluded."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from explorer.core.errors import ExplorerError
from explorer.core.analysis.neighbours import NeighbourIndex


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_matches_brute_force(metric):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 64)).astype(np.float16)
    index = NeighbourIndex(x, metric=metric)
    d = cdist(x.astype(np.float64), x.astype(np.float64), metric=metric)
    np.fill_diagonal(d, np.inf)
    for q in (0, 17, 1999):
        found = index.query(q, 10)
        expected = np.argsort(d[q], kind="stable")[:10]
        assert [n.index for n in found] == list(expected)
        np.testing.assert_allclose([n.distance for n in found], d[q, expected], rtol=1e-9, atol=1e-12)


def test_invalid_rows_are_never_returned_and_cannot_be_queried():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 8)).astype(np.float32)
    valid = np.ones(50, bool)
    valid[[3, 4, 5]] = False
    index = NeighbourIndex(x, valid=valid)
    assert not {3, 4, 5} & {n.index for n in index.query(0, 49)}
    assert len(index.query(0, 100)) == 46
    with pytest.raises(ExplorerError, match="could not be embedded"):
        index.query(3)
    with pytest.raises(ExplorerError, match="out of range"):
        index.query(50)


def test_zero_vectors_and_duplicates():
    x = np.array([[0, 0], [1, 0], [1, 0], [0, 1]], np.float32)
    index = NeighbourIndex(x, metric="cosine")
    found = index.query(1, 3)
    assert found[0].index == 2 and found[0].distance == pytest.approx(0.0)
    assert all(np.isfinite(n.distance) for n in index.query(0, 3))


def test_batched_queries_equal_single_queries_and_brute_force():
    import numpy as np

    from explorer.core.analysis.neighbours import NeighbourIndex

    rng = np.random.default_rng(7)
    x = rng.normal(size=(300, 24)).astype(np.float16)
    x[10] = x[11]  # a tie
    valid = np.ones(300, bool)
    valid[[5, 50]] = False
    for metric in ("cosine", "euclidean"):
        index = NeighbourIndex(x, metric=metric, valid=valid)
        queries = [0, 10, 11, 299, 100]
        found, dist = index.query_many(queries, k=7, block=2)
        for row, q in enumerate(queries):
            single = index.query(q, 7)
            assert list(found[row]) == [n.index for n in single]
            assert np.allclose(dist[row], [n.distance for n in single])
            # brute force in float64
            a = x.astype(np.float64)
            if metric == "cosine":
                d = 1 - (a @ a[q]) / (np.linalg.norm(a, axis=1) * np.linalg.norm(a[q]))
            else:
                d = np.linalg.norm(a - a[q], axis=1)
            d[q] = np.inf
            d[~valid] = np.inf
            assert np.allclose(np.sort(d)[:7], dist[row])
    few = NeighbourIndex(x[:4], valid=np.array([True, True, False, True]))
    found, dist = few.query_many([0], k=5)
    assert (found[0][:2] >= 0).all() and (found[0][2:] == -1).all() and np.isinf(dist[0][2:]).all()
