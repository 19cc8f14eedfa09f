"""Probes, label issues and near duplicates, checked against scikit-learn run directly and brute force."""

from pathlib import Path

import numpy as np
import pytest

from explorer.core.analysis.duplicates import duplicate_groups, near_duplicates
from explorer.core.analysis.label_issues import find_label_issues
from explorer.core.analysis.probe import CLASSIFIERS, probe_features, probe_run
from explorer.core.analysis.probe_files import list_probes, load_probe, predicted_labels
from explorer.core.errors import ExplorerError
from explorer.core.progress import run_to_end
from explorer.core.run.arrays import plan
from explorer.core.run.folder import create_run
from explorer.core.run.store import Row


def blob_run(path: Path, n: int = 120, d: int = 12, *, layers=("near", "far"), flip=(), seed=0, spread=(0.6, 6.0)):
    """A two-layer run of 3 blob classes: 'near' barely separable, 'far' well separated; labels of the rows
    in `flip` moved to the next class (errors made on purpose). Returns (run, {layer: float32 features}, true)."""
    rng = np.random.default_rng(seed)
    true = np.arange(n) % 3
    feats = {}
    for name, s in zip(layers, spread):
        centres = rng.normal(0, s, (3, d))
        feats[name] = (centres[true] + rng.normal(0, 1, (n, d))).astype(np.float16).astype(np.float32)
    given = true.copy()
    given[list(flip)] = (given[list(flip)] + 1) % 3
    names = "abc"
    infos = [{"name": name, "shape": [d]} for name in layers]
    manifest = {"dataset": {"root": str(path.parent / "images"), "classes": list(names)}, "model": "synthetic",
                "weights": "none", "layers": infos, "arrays": plan(infos, ["features"]), "input_size": 8,
                "preprocess": {"resize": 8, "crop": 8}, "key": "synthetic"}
    run = create_run(path, manifest, [Row(i, f"{names[given[i]]}/{i}.png", names[given[i]]) for i in range(n)])
    run.write_rows(np.arange(n), {("features", name): feats[name] for name in layers})
    run.save(complete=True)
    return run, feats, true


def sklearn_pipeline(name):
    """Written out independently of the code under test."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    model = {"knn": KNeighborsClassifier(n_neighbors=10), "logreg": LogisticRegression(max_iter=2000),
             "svm": LinearSVC(C=1.0, dual=True, max_iter=5000, random_state=0)}[name]
    return make_pipeline(StandardScaler(), model)


@pytest.mark.parametrize("classifier", CLASSIFIERS)
def test_probe_accuracy_equals_scikit_learn_with_the_same_folds(tmp_path, classifier):
    from sklearn.model_selection import StratifiedKFold, cross_val_predict, cross_val_score

    run, feats, _ = blob_run(tmp_path / "run")
    results = run_to_end(probe_run(run, ["near"], (classifier,), folds=5, seed=0))
    (r,) = results
    x = np.asarray(run.array("features", "near"), np.float32)
    y = np.array(["abc".index(label) for label in run.labels])
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    scores = cross_val_score(sklearn_pipeline(classifier), x, y, cv=cv)
    assert r.accuracy == pytest.approx(scores.mean(), abs=1e-12)
    assert r.std == pytest.approx(scores.std(), abs=1e-12)
    assert 0.4 < r.accuracy < 1.0  # the 'near' layer is neither hopeless nor trivial
    predicted = cross_val_predict(sklearn_pipeline(classifier), x, y, cv=cv)
    np.testing.assert_array_equal(r.predicted, predicted)
    expected_recall = [np.mean(predicted[y == j] == j) for j in range(3)]
    assert list(r.per_class_recall.values()) == pytest.approx(expected_recall)
    assert r.confusion.sum() == len(y) and np.trace(r.confusion) == (predicted == y).sum()
    assert r.n_features == 12 and np.allclose(r.probabilities.sum(axis=1), 1, atol=1e-5)


def test_probes_per_layer_are_kept_and_a_changed_run_drops_them(tmp_path, monkeypatch):
    run, _, _ = blob_run(tmp_path / "run")
    steps = []
    gen = probe_run(run, None, ("knn", "logreg"), folds=3)
    while True:
        try:
            steps.append(next(gen))
        except StopIteration as stop:
            results = stop.value
            break
    assert [(r.layer, r.classifier) for r in results] == [("near", "knn"), ("near", "logreg"), ("far", "knn"),
                                                          ("far", "logreg")]
    assert len(steps) == 4 * 4 and steps[-1].total == 16  # one step per fold and one per result
    by = {(r.layer, r.classifier): r.accuracy for r in results}
    assert by[("far", "logreg")] > by[("near", "logreg")]  # the separated layer probes better
    kept = load_probe(run, "far", "logreg", folds=3)
    assert kept is not None and kept.accuracy == by[("far", "logreg")]
    np.testing.assert_array_equal(kept.predicted, results[3].predicted)
    assert len(list_probes(run)) == 4
    names = predicted_labels(run, kept)
    assert names[0] in "abc" and len(names) == len(run)
    import explorer.core.analysis.probe as probe_module

    def no_fitting(*args, **kwargs):
        raise AssertionError("a kept probe was computed again")

    monkeypatch.setattr(probe_module, "make_classifier", no_fitting)
    again = run_to_end(probe_run(run, None, ("knn", "logreg"), folds=3))
    assert [(r.layer, r.classifier, r.accuracy) for r in again] == [(r.layer, r.classifier, r.accuracy)
                                                                    for r in results]
    monkeypatch.undo()
    run.state[5] = 2  # one row failed since: the kept probe was computed from other rows
    run.state.flush()
    assert load_probe(run, "far", "logreg", folds=3) is None and list_probes(run) == []


def test_probe_leaves_out_unusable_rows_and_says_so():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (20, 4))
    labels = ["a"] * 8 + ["b"] * 8 + ["c"] + [None] * 3
    x[0] = np.nan
    r = run_to_end(probe_features(x, labels, "logreg", folds=10))
    assert r.folds == 7 and len(r.rows) == 15 and r.classes == ["a", "b"]
    assert any("without a label" in n for n in r.notes) and any("single image" in n for n in r.notes)
    assert any("non-finite" in n for n in r.notes) and any("10 folds asked, 7 used" in n for n in r.notes)
    with pytest.raises(ExplorerError, match="at least 2 classes"):
        run_to_end(probe_features(x, ["a"] * 20, "logreg"))
    with pytest.raises(ExplorerError, match="Unknown classifier"):
        run_to_end(probe_features(x, labels, "forest"))


def test_label_issue_finder_recovers_labels_flipped_on_purpose(tmp_path):
    flipped = [3, 17, 40, 58, 77, 91, 104, 115]
    run, _, _ = blob_run(tmp_path / "run", n=150, flip=flipped, spread=(6.0, 6.0))
    (r,) = run_to_end(probe_run(run, ["far"], ("logreg",)))
    issues = find_label_issues(r)
    found = [i.index for i in issues]
    assert set(found[:len(flipped)]) == set(flipped)  # every flip, ranked first
    assert len(found) <= len(flipped) + 2  # and hardly anything else
    top = issues[0]
    assert top.label == run.labels[top.index] and top.predicted != top.label
    assert top.self_confidence < 0.5 < top.confidence
    own = [i.self_confidence for i in issues]
    assert own == sorted(own)
    strict = find_label_issues(r, filter_by="confident_learning")  # a subset, the surest first
    assert 0 < len(strict) <= len(issues) and {i.index for i in strict} <= set(flipped)
    assert [i.index for i in find_label_issues(r, min_confidence=0.9)] == [i.index for i in issues
                                                                          if i.confidence >= 0.9]


def brute_force_pairs(x, threshold, valid=None):
    x = np.asarray(x, np.float64)
    out = []
    for a in range(len(x)):
        for b in range(a + 1, len(x)):
            if valid is not None and not (valid[a] and valid[b]):
                continue
            na, nb = np.linalg.norm(x[a]), np.linalg.norm(x[b])
            if na == 0 or nb == 0:
                continue
            d = 1 - x[a] @ x[b] / (na * nb)
            if d <= threshold:
                out.append((a, b))
    return sorted(out)


@pytest.mark.parametrize("block_elements", [1 << 24, 7 * 60])
def test_duplicates_equal_a_brute_force_pairwise_scan(block_elements):
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, (60, 8)) + 3
    for a, b, noise in ((4, 30, 1e-3), (10, 11, 1e-4), (11, 50, 1e-3), (20, 21, 0.05)):
        x[b] = x[a] + rng.normal(0, noise, 8)
    x[40] = 0  # no direction: never a duplicate
    x = x.astype(np.float16)
    valid = np.ones(60, bool)
    valid[50] = False
    for threshold in (0.0005, 0.005, 0.02):
        pairs = run_to_end(near_duplicates(x, threshold, valid=valid, block_elements=block_elements))
        assert sorted((p.a, p.b) for p in pairs) == brute_force_pairs(x, threshold, valid)
        assert [p.distance for p in pairs] == sorted(p.distance for p in pairs)
    pairs = run_to_end(near_duplicates(x, 0.005))
    assert duplicate_groups(pairs, 60)[0] == [10, 11, 50]
    with pytest.raises(ExplorerError, match="smaller threshold"):
        run_to_end(near_duplicates(x, 1.5, max_pairs=10))
    with pytest.raises(ExplorerError, match="from 0 to 2"):
        run_to_end(near_duplicates(x, -1))


def test_block_layers_are_the_models_stages():
    from explorer.core.analysis.layer_probe import block_layers
    from explorer.core.model.graph import model_graph
    from explorer.core.model.zoo import load_model

    graph = model_graph(load_model("resnet18", "random", image_size=64))
    assert block_layers(graph) == ["layer1", "layer2", "layer3", "layer4"]


def test_a_replaced_run_keeps_no_probe_of_the_old_rows(tmp_path):
    from explorer.core.run.folder import open_run

    run, _, _ = blob_run(tmp_path / "run")
    run_to_end(probe_run(run, ["far"], ("knn",), folds=3))
    assert (tmp_path / "run" / "probes").is_dir()
    manifest = {k: v for k, v in run.manifest.items() if k not in ("key", "checksums", "complete", "counts")}
    rows = list(run.rows)
    del run
    new, resumed = open_run(tmp_path / "run", "another-key", manifest, rows, overwrite=True)
    assert not resumed and not (tmp_path / "run" / "probes").exists() and list_probes(new) == []


def test_a_sample_of_the_demo_reads_its_own_images_and_has_its_own_key():
    from explorer.core.analysis.layer_probe import sample_dataset
    from explorer.core.data.datasets import open_dataset

    digits = open_dataset("demo:digits")
    part = sample_dataset(digits, 100, seed=0)
    assert len(part) == 100 and part.fingerprint() != digits.fingerprint()
    assert part.fingerprint() != sample_dataset(digits, 100, seed=1).fingerprint()
    counts = np.unique(part.labels, return_counts=True)[1]
    assert len(counts) == 10 and counts.min() >= 9  # stratified: every digit keeps its share
    i = 37
    original = digits.items.index(part.items[i])
    assert np.array_equal(np.asarray(part.load(i)[0]), np.asarray(digits.load(original)[0]))
    assert part.content_digest(i) == digits.content_digest(original)


def test_duplicates_of_wide_correlated_features_equal_a_brute_force():
    rng = np.random.default_rng(3)
    basis = rng.normal(0, 1, (16, 256))
    x = np.maximum(rng.normal(0, 1, (1200, 16)) @ basis + rng.normal(0, 1.5, (1200, 256)), 0)
    for a, b, noise in ((5, 900, 1e-3), (17, 18, 0.5), (300, 301, 1.5), (600, 1100, 3.0)):
        x[b] = x[a] + rng.normal(0, noise, 256)
    x = x.astype(np.float16)
    unit = x.astype(np.float64) / np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True)
    dist = 1 - unit @ unit.T
    for threshold in (0.001, 0.01, 0.18, 0.19):  # 1, 2, 4 and 7 pairs
        expected = sorted(zip(*np.nonzero(np.triu(dist <= threshold, 1))))
        pairs = run_to_end(near_duplicates(x, threshold, block_elements=1 << 18))  # 218 rows a block
        assert sorted((p.a, p.b) for p in pairs) == expected, threshold


def test_duplicates_of_uncorrelated_wide_features_equal_a_brute_force():
    rng = np.random.default_rng(4)
    x = rng.normal(0, 1, (1100, 256))
    x[7] = x[1000] + rng.normal(0, 0.01, 256)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    expected = sorted(zip(*np.nonzero(np.triu(1 - unit @ unit.T <= 0.01, 1))))
    pairs = run_to_end(near_duplicates(x, 0.01, block_elements=1 << 18))
    assert sorted((p.a, p.b) for p in pairs) == expected == [(7, 1000)]


def test_a_session_file_restores_a_probe_colouring(tmp_path):
    from explorer.core.analysis.probe_files import probe_colouring
    from explorer.core.session import Session
    from explorer.core.session_file import apply_resolved, read_session, resolve, save_session

    run, _, _ = blob_run(tmp_path / "run")
    results = run_to_end(probe_run(run, None, ("logreg",), folds=3))
    far = next(r for r in results if r.layer == "far")
    first = Session()
    first.set_run(run)
    first.set_colour_by(probe_colouring(run, far, "right"))
    save_session(tmp_path / "s.json", first)
    second = Session()
    second.set_run(run)
    resolved = resolve(read_session(tmp_path / "s.json"), run)
    apply_resolved(second, resolved)
    assert resolved.notes == [] and second.colour_by.spec == first.colour_by.spec
    np.testing.assert_array_equal(second.colour_by.codes, first.colour_by.codes)
    import shutil

    shutil.rmtree(run.path / "probes")  # the probe is gone: a note, the label colouring
    resolved = resolve(read_session(tmp_path / "s.json"), run)
    assert resolved.colouring is None and "no current logreg probe of far" in resolved.notes[0]
