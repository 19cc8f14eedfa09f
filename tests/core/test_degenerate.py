"""Small and degenerate inputs get a real map or a clear message: never NaN, never every point at 0, 0
unannounced (issue 17, item 8). Checked against scikit-learn's PCA, computed independently."""

from pathlib import Path

import numpy as np
import pytest

from explorer.core.analysis.kept_projections import list_projections, project_run
from explorer.core.analysis.projection import MIN_TSNE_POINTS, PCAProjection, TSNEProjection
from explorer.core.errors import ExplorerError
from explorer.core.progress import run_to_end
from explorer.core.run.arrays import plan
from explorer.core.run.folder import create_run
from explorer.core.run.store import Row


def make_run(path: Path, feats, *, labels=None, paths=None, done=None):
    """A run folder holding the given features (float16 on disk), made without a network.

    done: the rows to mark embedded (default all); the others stay pending."""
    feats = np.asarray(feats, np.float32)
    n, d = feats.shape
    labels = labels if labels is not None else ["ab"[i % 2] for i in range(n)]
    paths = paths if paths is not None else [f"{labels[i]}/{i}.png" for i in range(n)]
    layer = {"name": "blob", "shape": [d]}
    manifest = {"dataset": {"root": str(path.parent / "images"), "classes": sorted({l for l in labels if l})},
                "model": "synthetic", "weights": "none", "layers": [layer], "arrays": plan([layer]),
                "input_size": 8, "preprocess": {"resize": 8, "crop": 8}, "key": "synthetic"}
    run = create_run(path, manifest, [Row(i, paths[i], labels[i]) for i in range(n)])
    rows = np.arange(n) if done is None else np.asarray(done)
    if len(rows):
        run.write_rows(rows, {"features": feats[rows], "channel_max": feats[rows],
                              "channel_argmax": np.zeros((len(rows), d), int)})
    run.save(complete=done is None)
    return run


def sklearn_pca(x):
    from sklearn.decomposition import PCA

    return PCA(n_components=2).fit_transform(np.asarray(x, np.float64))


def assert_same_up_to_sign(ours, ref):
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    for c in range(2):
        sign = np.sign(np.dot(ours[:, c], ref[:, c])) or 1.0
        np.testing.assert_allclose(ours[:, c] * sign, ref[:, c], rtol=1e-3, atol=1e-3 * np.abs(ref).max())


def gaussian(n, d=32, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


@pytest.mark.parametrize("n", [2, 3, MIN_TSNE_POINTS - 1])
def test_tsne_on_a_handful_of_images_is_their_pca_map_and_says_so(n):
    x = gaussian(n)
    fitted = TSNEProjection(seed=0).fit(x)
    assert np.isfinite(fitted.embedding_).all()
    assert_same_up_to_sign(fitted.embedding_, sklearn_pca(x))  # not every point at 0, 0
    assert fitted.note_ == (f"t-SNE needs at least {MIN_TSNE_POINTS} images with distinct features "
                            f"(there are {n}); showing PCA")
    # the fallback is a fitted object like any other: new points go where PCA puts them
    np.testing.assert_allclose(fitted.transform(x[:2]), fitted.embedding_[:2], atol=1e-5)


@pytest.mark.parametrize("n", [MIN_TSNE_POINTS, 6, 8, 10, 12, 15, 20, 25])
def test_tsne_on_few_images_without_structure_spreads_them(n):
    """Early exaggeration used to shrink these maps to ~1e-45 (every point printed as 0, 0)."""
    x = gaussian(n, seed=n)
    fitted = TSNEProjection(seed=0, n_jobs=1).fit(x)
    y = fitted.embedding_
    assert np.isfinite(y).all() and fitted.tsne_ is not None  # a t-SNE map, not a fallback
    gaps = np.sqrt(((y[:, None] - y[None]) ** 2).sum(-1))[np.triu_indices(n, 1)]
    assert gaps.min() > 1e-3 and np.ptp(y, axis=0).min() > 0.5  # every point has a place of its own
    np.testing.assert_array_equal(y, TSNEProjection(seed=0, n_jobs=1).fit(x).embedding_)  # still deterministic


def test_tsne_keeps_small_clusters_apart():
    rng = np.random.default_rng(3)
    centres = rng.normal(0, 10, (3, 32))
    labels = np.repeat(np.arange(3), 6)
    x = (centres[labels] + rng.normal(0, 0.5, (18, 32))).astype(np.float32)
    y = TSNEProjection(seed=0, n_jobs=1).fit(x).embedding_
    d = ((y[:, None] - y[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    assert (labels[d.argmin(1)] == labels).all()


def test_identical_images_get_no_nan_and_a_note():
    x = np.ones((20, 16), np.float32)
    fitted = TSNEProjection(seed=0).fit(x)
    assert np.isfinite(fitted.embedding_).all() and (fitted.embedding_ == 0).all()
    assert fitted.note_ == (f"t-SNE needs at least {MIN_TSNE_POINTS} images with distinct features "
                            "(all 20 have the same features); showing PCA")
    pca = PCAProjection().fit(x)
    assert (pca.embedding_ == 0).all() and pca.note_ == "all 20 points have the same features; they all sit at 0, 0"


def test_duplicates_count_once():
    x = np.repeat(gaussian(3), 4, axis=0)  # 12 images, 3 distinct
    fitted = TSNEProjection(seed=0).fit(x)
    assert "these 12 have 3 distinct ones" in fitted.note_
    assert_same_up_to_sign(fitted.embedding_, sklearn_pca(x))


def test_a_run_whose_images_all_look_alike_has_no_map_and_says_why(tmp_path):
    run = make_run(tmp_path / "run", np.ones((20, 16)))
    for method in ("pca", "tsne"):
        with pytest.raises(ExplorerError, match="all 20 embedded images have the same features at layer blob"):
            run_to_end(project_run(run, method))
    assert list_projections(run) == []


def test_non_finite_features_are_named_not_projected(tmp_path):
    feats = gaussian(12)
    feats[7, 3] = np.nan
    run = make_run(tmp_path / "run", feats)
    with pytest.raises(ExplorerError, match=r"1 of 12 embedded images have non-finite features .* #7 b/7.png"):
        run_to_end(project_run(run, "tsne"))


def test_the_kept_record_says_what_was_shown(tmp_path):
    feats = gaussian(4)
    run = make_run(tmp_path / "run", feats)
    layout = run_to_end(project_run(run, "tsne", perplexity=30, seed=0))
    assert_same_up_to_sign(layout, sklearn_pca(np.asarray(run.features, np.float32)))
    (kept,) = list_projections(run)
    assert kept["method"] == "tsne" and kept["shown"] == "pca" and "showing PCA" in kept["note"]


def test_cli_project_prints_the_fallback_and_real_counts(tmp_path, capsys):
    from explorer.cli.main import main

    make_run(tmp_path / "run", gaussian(3))
    assert main(["project", str(tmp_path / "run"), "--method", "tsne"]) == 0
    out, err = capsys.readouterr()
    assert "3 points" in out
    assert f"note: t-SNE needs at least {MIN_TSNE_POINTS} images with distinct features (there are 3); " \
           "showing PCA" in err

    make_run(tmp_path / "same", np.ones((20, 16)))
    assert main(["project", str(tmp_path / "same"), "--method", "tsne"]) == 2
    out, err = capsys.readouterr()
    assert "0 points" not in out and "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "all 20 embedded images have the same features" in lines[0]


def test_a_one_image_dataset_is_named_not_the_cache(tmp_path):
    """Issue 10, bug 8: the error names the dataset and the count of readable images, not a cache path."""
    run = make_run(tmp_path / "run", gaussian(1))
    with pytest.raises(ExplorerError) as err:
        run_to_end(project_run(run, "pca"))
    message = str(err.value)
    assert message == f"{run.dataset_root} has only 1 readable image; a map needs at least 2."
    assert str(run.path) not in message
