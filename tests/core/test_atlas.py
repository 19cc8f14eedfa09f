"""The neuron atlas: each channel's top image, its orderings and what explains an image, against numpy."""

import numpy as np
import pytest

from explorer.core.analysis.atlas import (channel_tops, explain_image, mean_activation, order, selectivity,
                                          top_patch)
from explorer.core.analysis.patches import channel_patches
from explorer.core.data.datasets import open_dataset
from explorer.core.engine.embedding import embed_dataset
from explorer.core.model.zoo import load_model
from explorer.core.progress import run_to_end


@pytest.fixture(scope="module")
def run(photo_folder, tmp_path_factory):
    model = load_model("resnet18", "random", image_size=64)
    out = tmp_path_factory.mktemp("run") / "atlas"
    return run_to_end(embed_dataset(open_dataset(photo_folder), model, "layer2", out=out)).run


def stored(run, measure):
    return np.asarray(run.features if measure == "mean" else run.channel_max, np.float64)


@pytest.mark.parametrize("measure", ["max", "mean"])
def test_each_channel_top_image_is_its_first_top_patch(run, measure):
    tops = channel_tops(run, measure)
    v, other = stored(run, measure), stored(run, "mean" if measure == "max" else "max")
    n = len(v)
    for c in range(v.shape[1]):
        expected = np.lexsort((np.arange(n), -other[:, c], -v[:, c]))[0]  # by value, the other measure, index
        assert tops.index[c] == expected and tops.value[c] == pytest.approx(v[expected, c], rel=1e-3)
    for c in (0, 5, 77):
        first = channel_patches(run, c, 1, measure).ranked[0]
        assert top_patch(run, c, int(tops.index[c]), float(tops.value[c])).box == first.box


def test_orders_equal_numpy(run):
    v = stored(run, "max")
    np.testing.assert_allclose(mean_activation(run, "max"), v.mean(0), rtol=1e-4)
    picked = [1, 4, 6]
    np.testing.assert_allclose(mean_activation(run, "max", np.array(picked)), v[picked].mean(0), rtol=1e-4)
    labels = np.array([r.label for r in run.rows])
    names = sorted(set(labels))
    per_label = np.stack([np.clip(v[labels == name], 0, None).mean(0) for name in names])  # (L, C)
    share, top, got_names = selectivity(run, "max")
    assert got_names == names
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.nan_to_num(per_label.max(0) / per_label.sum(0))
    np.testing.assert_allclose(share, expected, rtol=1e-4, atol=1e-6)
    assert ((share >= 0.5 - 1e-6) | (share == 0)).all()  # two labels: at least half goes to the top one
    live = per_label.sum(0) > 0
    np.testing.assert_array_equal(top[live], per_label.argmax(0)[live])
    ranked = order(share)
    assert list(ranked[:5]) == list(np.lexsort((np.arange(len(expected)), -expected))[:5])


def test_explain_image_is_the_largest_standardised_feature(run):
    f = stored(run, "mean")
    std = f.std(0)
    z = np.where(std > 0, (f - f.mean(0)) / np.where(std > 0, std, 1), 0.0)
    for i in (0, 3):
        got = explain_image(run, i, 6)
        expected = np.lexsort((np.arange(f.shape[1]), -z[i]))[:6]
        assert [s.channel for s in got] == list(expected)
        np.testing.assert_allclose([s.z for s in got], z[i, expected], rtol=1e-6)


def test_the_cache_lookup_never_optimises(tmp_path, monkeypatch):
    from explorer.core.analysis.featurevis import Objective, Settings, visualise
    from explorer.core.analysis.featurevis.lookup import cached

    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path))
    model = load_model("resnet18", "random", image_size=64)
    objective, settings = Objective("channel", 3, "layer2"), Settings(steps=2)
    assert cached(model, objective, settings) is None
    made = run_to_end(visualise(model, objective, settings))
    found = cached(model, objective, settings)
    assert found.cached and np.array_equal(np.asarray(found.images[0]), np.asarray(made.images[0]))
    assert cached(model, objective, Settings(steps=3)) is None
