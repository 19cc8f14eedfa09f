"""UMAP (issue 16): the third projection, with the interface of PCA and t-SNE. umap-learn is optional:
without it, asking for UMAP says in one line how to install it, and everything else works."""

import sys

import numpy as np
import pytest

from explorer.core.analysis.kept_projections import fit_run
from explorer.core.analysis.projection import PCAProjection, make_projection
from explorer.core.analysis.umap_projection import UMAP_MISSING, UMAPProjection, umap_available
from explorer.core.errors import ExplorerError
from explorer.core.progress import run_to_end


def blobs(n=400, d=60, k=20, seed=0):
    """k clusters in d dimensions: too many for two principal components to keep apart."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (k, d))
    labels = rng.integers(0, k, n)
    return (centres[labels] + rng.normal(0, 1, (n, d))).astype(np.float32), labels


@pytest.fixture(scope="module")
def fitted():
    pytest.importorskip("umap")
    x, labels = blobs()
    return x, labels, UMAPProjection(seed=7).fit(x)


@pytest.mark.slow  # umap-learn's numba code compiles on first use (about 30 s on 2 cores)
def test_umap_is_seeded_keeps_neighbourhoods_better_than_pca_and_places_new_points(fitted):
    from sklearn.manifold import trustworthiness

    x, labels, first = fitted
    assert first.embedding_.shape == (len(x), 2) and first.embedding_.dtype == np.float32
    assert first.note_ is None
    # the same seed gives the same map
    np.testing.assert_array_equal(UMAPProjection(seed=7).fit(x).embedding_, first.embedding_)
    # neighbourhoods kept: trustworthiness (scikit-learn) above PCA's on the same clustered features
    ours = trustworthiness(x, first.embedding_, n_neighbors=10)
    pca = trustworthiness(x, PCAProjection().fit(x).embedding_, n_neighbors=10)
    assert ours > pca + 0.03 and ours > 0.95, (ours, pca)
    # transform puts training points where the map shows them (within a few % of its size) ...
    spread = np.ptp(first.embedding_, axis=0).max()
    off = np.linalg.norm(first.transform(x[:40]) - first.embedding_[:40], axis=1)
    assert np.median(off) < 0.05 * spread, (np.median(off), spread)
    # ... and new points of a cluster into that cluster's part of the map
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(1)
    centres = np.stack([x[labels == c].mean(0) for c in range(labels.max() + 1)])
    new_labels = rng.integers(0, len(centres), 60)
    new = (centres[new_labels] + rng.normal(0, 1, (60, x.shape[1]))).astype(np.float32)
    knn = KNeighborsClassifier(5).fit(first.embedding_, labels)
    assert knn.score(first.transform(new), new_labels) > 0.9


def test_a_handful_of_images_get_a_pca_map_that_says_so():
    pytest.importorskip("umap")
    x = np.random.default_rng(0).normal(size=(3, 8)).astype(np.float32)
    done = UMAPProjection().fit(x)
    assert "showing PCA" in done.note_ and np.isfinite(done.embedding_).all()
    np.testing.assert_allclose(done.transform(x), done.embedding_, atol=1e-5)


def test_make_projection_knows_umap_and_its_settings():
    made = make_projection("umap", seed=4)
    assert isinstance(made, UMAPProjection)
    assert made.params() == {"method": "umap", "seed": 4, "n_neighbors": 15, "min_dist": 0.1}
    with pytest.raises(ExplorerError, match="n_neighbors"):
        UMAPProjection(n_neighbors=1)


@pytest.fixture
def without_umap(monkeypatch):
    monkeypatch.setitem(sys.modules, "umap", None)  # import umap raises ImportError; find_spec says None
    assert not umap_available()


def test_without_umap_learn_the_message_says_how_to_install_it(without_umap, tmp_path):
    from tests.core.test_degenerate import make_run

    assert "\n" not in UMAP_MISSING and "pip install" in UMAP_MISSING and "umap-learn" in UMAP_MISSING
    x, _ = blobs(40, d=6, k=3)
    with pytest.raises(ExplorerError) as caught:
        UMAPProjection().fit(x)
    assert str(caught.value) == UMAP_MISSING
    # the app's and the CLI's path: the map asks before any work; PCA and t-SNE still work
    from explorer.core.pipeline import project_layout

    run = make_run(tmp_path / "run", x)
    with pytest.raises(ExplorerError, match="pip install"):
        run_to_end(project_layout(run, "umap"))
    layout, _ = run_to_end(fit_run(run, "pca"))
    assert np.isfinite(layout).all()


def test_cli_project_without_umap_learn_fails_in_one_line(without_umap, tmp_path, capsys):
    from explorer.cli.main import main
    from tests.core.test_degenerate import make_run

    run = make_run(tmp_path / "run", blobs(40, d=6, k=3)[0])
    assert main(["project", str(run.path), "--method", "umap"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "pip install" in err, err
    assert main(["project", str(run.path), "--method", "pca"]) == 0


@pytest.mark.slow
def test_past_the_sample_threshold_umap_fits_a_sample_and_places_the_rest_in_their_clusters(fitted):
    from sklearn.neighbors import KNeighborsClassifier

    x, labels, _ = fitted
    done = UMAPProjection(seed=7, sample_above=300, sample_size=200, place_chunk=150).fit(x)
    assert done.note_ == "UMAP fitted on 200 of 400 points; the rest placed"
    rows = done.fitted_rows_
    assert len(set(rows.tolist())) == 200 and np.isfinite(done.embedding_).all()
    placed = np.setdiff1d(np.arange(len(x)), rows)
    knn = KNeighborsClassifier(5).fit(done.embedding_[rows], labels[rows])
    assert knn.score(done.embedding_[placed], labels[placed]) > 0.9


def test_a_session_file_keeps_a_umap_map(tmp_path):
    from explorer.core.session import Session
    from explorer.core.session_file import read_session, save_session

    session = Session(dataset="demo:digits", projection="umap", seed=3)
    save_session(tmp_path / "s.json", session)
    saved = read_session(tmp_path / "s.json")
    assert (saved.settings["projection"], saved.settings["seed"]) == ("umap", 3)


@pytest.mark.slow
def test_a_kept_umap_map_places_new_points_and_without_umap_learn_says_how_to_install_it(tmp_path, monkeypatch):
    pytest.importorskip("umap")
    from explorer.core.analysis.kept_projections import load_projector
    from tests.core.test_degenerate import make_run

    x, _ = blobs(200, d=30, k=5)
    run = make_run(tmp_path / "run", x)
    layout, _ = run_to_end(fit_run(run, "umap", seed=2))
    kept = load_projector(run, "umap", seed=2)
    spread = np.ptp(layout, axis=0).max()
    off = np.linalg.norm(kept.transform(x[:20]) - layout[:20], axis=1)  # features as stored: float16
    assert np.median(off) < 0.05 * spread
    monkeypatch.setitem(sys.modules, "umap", None)
    for name in [m for m in sys.modules if m.startswith("umap.")]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ExplorerError, match="pip install"):
        load_projector(run, "umap", seed=2)
