"""The kNN probe and the label issues found with it answer as scikit-learn's KNeighborsClassifier does;
they now run on the neighbour index's batched search."""

import numpy as np
import pytest

from explorer.core.analysis.knn import NeighbourClassifier


def classes_data(n=700, d=24, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x = (rng.normal(0, 1.5, (4, d))[y] + rng.normal(0, 1, (n, d))).astype(np.float32)
    return x, y


def test_the_classifier_equals_scikit_learn():
    from sklearn.neighbors import KNeighborsClassifier

    x, y = classes_data()
    names = np.array(["ant", "bee", "cat", "dog"])[y]
    for k in (1, 10, 25):
        mine = NeighbourClassifier(n_neighbors=k).fit(x[:500], names[:500])
        theirs = KNeighborsClassifier(n_neighbors=k).fit(x[:500], names[:500])
        assert list(mine.classes_) == list(theirs.classes_)
        np.testing.assert_array_equal(mine.predict(x[500:]), theirs.predict(x[500:]))
        np.testing.assert_allclose(mine.predict_proba(x[500:]), theirs.predict_proba(x[500:]), atol=1e-12)


def test_label_issues_of_a_knn_probe_equal_scikit_learn_cross_validated(tmp_path):
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from explorer.core.analysis.label_issues import find_label_issues
    from explorer.core.analysis.probe import probe_features
    from explorer.core.progress import run_to_end

    x, y = classes_data(400, 16, seed=1)
    y[[3, 50, 77, 200]] = (y[[3, 50, 77, 200]] + 1) % 4  # wrong labels on purpose
    labels = ["abcd"[i] for i in y]
    result = run_to_end(probe_features(x, labels, "knn", folds=5, seed=0))
    issues = find_label_issues(result)
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    proba = cross_val_predict(make_pipeline(StandardScaler(), KNeighborsClassifier(10)), x, y, cv=cv,
                              method="predict_proba")
    predicted = proba.argmax(axis=1)
    own = proba[np.arange(len(y)), y]
    flagged = np.flatnonzero(predicted != y)
    expected = flagged[np.lexsort((flagged, own[flagged]))]
    assert [i.index for i in issues] == list(expected)
    assert {3, 50, 77, 200} <= {i.index for i in issues}
    assert [i.self_confidence for i in issues] == pytest.approx(list(own[expected]))
