"""The orchestration both the CLI and the app call: list, look in the cache, prepare, embed, project."""

import numpy as np
import pytest

import explorer.core.pipeline as pipeline
from explorer.core.errors import ExplorerError
from explorer.core.pipeline import EmbedRequest, Layout, Prepared, open_or_embed, project_layout
from explorer.core.progress import run_to_end


def request(folder, **kw):
    return EmbedRequest(str(folder), "alexnet", "random", None, image_size=64, batch_size=2, workers=0, **kw)


def steps_and_result(work):
    steps = []
    while True:
        try:
            steps.append(next(work))
        except StopIteration as stop:
            return steps, stop.value


def must_not_run(*a, **k):
    raise AssertionError("called")


def test_a_finished_cached_run_is_reopened_without_loading_the_model(photo_folder, monkeypatch):
    steps, first = steps_and_result(open_or_embed(request(photo_folder)))
    assert isinstance(first.prepared, Prepared) and first.result.computed == 8 and not first.result.reused
    # the loaded model is shown as soon as it is there, before the embedding
    shown = [i for i, s in enumerate(steps) if isinstance(s.partial, Prepared)]
    assert len(shown) == 1 and steps[shown[0]].partial is first.prepared
    assert any(s.total == 8 and s.done == 8 for s in steps[shown[0]:])

    monkeypatch.setattr(pipeline, "prepare", must_not_run)
    monkeypatch.setattr("explorer.core.model.zoo.load_model", must_not_run)  # imported by prepare when called
    second = run_to_end(open_or_embed(request(photo_folder)))
    assert second.prepared is None and second.result.reused and second.device == "cache"
    assert second.run.path == first.run.path and second.run.complete


def test_a_prepared_model_is_reused_without_listing_again(photo_folder, monkeypatch):
    first = run_to_end(open_or_embed(request(photo_folder)))
    monkeypatch.setattr(pipeline, "list_once", must_not_run)
    monkeypatch.setattr("explorer.core.model.zoo.load_model", must_not_run)  # imported by prepare when called
    again = run_to_end(open_or_embed(request(photo_folder), first.prepared))
    assert again.prepared is first.prepared and again.result.reused and again.run.path == first.run.path


def test_a_cancelled_open_resumes_where_it_stopped(photo_folder):
    work = open_or_embed(request(photo_folder))
    loaded = False
    for step in work:
        loaded = loaded or isinstance(step.partial, Prepared)  # embedding steps follow the model
        if loaded and step.total == 8 and step.done >= 2:
            break
    work.close()  # cancel: not asking for the next step
    again = run_to_end(open_or_embed(request(photo_folder)))
    assert again.prepared is not None  # not complete: not taken from the cache index
    assert 0 < again.result.computed <= 6 and again.run.counts()["embedded"] == 8


def test_project_layout_computes_once_then_reads_back(photo_folder, monkeypatch):
    from sklearn.decomposition import PCA

    run = run_to_end(open_or_embed(request(photo_folder))).run
    pca = run_to_end(project_layout(run, "pca"))
    assert isinstance(pca, Layout) and pca.method == "pca" and pca.xy.shape == (8, 2)
    expected = PCA(2).fit_transform(np.asarray(run.features, np.float64))  # independent, up to sign
    np.testing.assert_allclose(np.abs(pca.xy), np.abs(expected), rtol=1e-3, atol=1e-3 * np.abs(expected).max())

    steps, tsne = steps_and_result(project_layout(run, "tsne", perplexity=5, seed=1))
    partials = [s.partial for s in steps if s.partial is not None]
    assert partials[0].method == "pca" and np.array_equal(partials[0].xy, pca.xy)  # shown while t-SNE runs
    assert len(partials) > 5 and all(p.method == "tsne-partial" for p in partials[1:])
    assert tsne.method == "tsne" and np.isfinite(tsne.xy).all()

    from explorer.core.analysis import kept_projections

    monkeypatch.setattr(pipeline, "project_run", must_not_run)
    monkeypatch.setattr(kept_projections, "fit_run", must_not_run)  # where t-SNE and UMAP are fitted
    steps, again = steps_and_result(project_layout(run, "tsne", perplexity=5, seed=1))
    assert steps == [] and np.array_equal(again.xy, tsne.xy)
    with pytest.raises(AssertionError, match="called"):  # other settings: computed anew
        run_to_end(project_layout(run, "tsne", perplexity=3, seed=1))
    with pytest.raises(ExplorerError, match="Unknown projection"):
        run_to_end(project_layout(run, "isomap"))
