"""Projections: right shape, deterministic, faithful to an independent computation."""

import numpy as np
import pytest

from explorer.core.analysis.projection import pca_2d, tsne_2d
from explorer.core.progress import run_to_end


def blobs(n=300, d=40, k=5, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 8, (k, d))
    labels = rng.integers(0, k, n)
    return (centres[labels] + rng.normal(0, 1, (n, d))).astype(np.float32), labels


def test_pca_equals_svd_up_to_sign():
    x, _ = blobs()
    ours = pca_2d(x)
    xc = x.astype(np.float64) - x.mean(0)
    u, s, vt = np.linalg.svd(xc, full_matrices=False)
    ref = xc @ vt[:2].T
    for c in range(2):
        sign = np.sign(np.dot(ours[:, c], ref[:, c]))
        np.testing.assert_allclose(ours[:, c] * sign, ref[:, c], rtol=1e-3, atol=1e-3 * np.abs(ref).max())
    assert ours.dtype == np.float32 and ours.shape == (300, 2)


def test_tsne_is_deterministic_streams_layouts_and_keeps_clusters():
    from sklearn.neighbors import KNeighborsClassifier

    x, labels = blobs()
    steps = []
    gen = tsne_2d(x, perplexity=20, seed=3)
    while True:
        try:
            steps.append(next(gen))
        except StopIteration as stop:
            layout = stop.value
            break
    partials = [s.partial for s in steps if s.partial is not None]
    assert len(partials) >= 10 and all(p.shape == (300, 2) for p in partials)
    assert steps[-1].done == steps[-1].total
    np.testing.assert_array_equal(layout, partials[-1])
    again = run_to_end(tsne_2d(x, perplexity=20, seed=3))
    np.testing.assert_array_equal(layout, again)
    # same-cluster points stay together in the map
    knn = KNeighborsClassifier(5).fit(layout, labels)
    assert knn.score(layout, labels) > 0.95


def test_tsne_can_be_stopped_between_chunks():
    x, _ = blobs(200)
    gen = tsne_2d(x, perplexity=10)
    seen = 0
    for step in gen:
        if step.partial is not None:
            seen += 1
            if seen == 3:
                gen.close()
                break
    with pytest.raises(StopIteration):
        next(gen)


def test_tiny_inputs_do_not_crash():
    x = np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32)
    assert run_to_end(tsne_2d(x)).shape == (3, 2)
    assert run_to_end(tsne_2d(np.vstack([x, x]), perplexity=30)).shape == (6, 2)
