"""Linear probes: how well a classifier on a layer's features predicts the labels (transfer learning).

    result = yield from probe_features(x, labels, "logreg", folds=5)   # one Step per fold
    result.accuracy, result.std, result.per_class_recall, result.confusion
    results = yield from probe_run(run, layers, ("knn", "logreg", "svm"))  # kept in the run folder

The numbers are scikit-learn's own: features standardised in a Pipeline, stratified k-fold
cross-validation (shuffled, seeded), accuracy = the mean of the folds' accuracies, as
`cross_val_score(...).mean()` gives (kNN votes on the neighbour index's exact batched search,
analysis.knn, answering as KNeighborsClassifier does). Every probed image gets its out-of-fold prediction and the
classifier's probability for each class (a linear SVM has no probabilities: a softmax of its
decision values stands in, a score rather than a calibrated probability).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import ExplorerError
from ..progress import Step, Work

CLASSIFIERS = ("knn", "logreg", "svm")
K_NEIGHBOURS = 10


def make_classifier(name: str, *, n_train: int | None = None, seed: int = 0):
    """The scikit-learn Pipeline a probe trains: StandardScaler, then the classifier.

    n_train: the smallest training fold (kNN asks for at most that many neighbours)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    if name == "knn":  # KNeighborsClassifier's answers, by the neighbour index's exact batched search
        from .knn import NeighbourClassifier

        k = K_NEIGHBOURS if n_train is None else max(1, min(K_NEIGHBOURS, n_train))
        model = NeighbourClassifier(n_neighbors=k)
    elif name == "logreg":
        model = LogisticRegression(max_iter=2000)
    elif name == "svm":
        model = LinearSVC(C=1.0, dual=True, max_iter=5000, random_state=seed)  # primal: 30x slower here
    else:
        raise ExplorerError(f"Unknown classifier {name!r}; choose one of {', '.join(CLASSIFIERS)}.")
    return make_pipeline(StandardScaler(), model)


def folds_of(folds: int, seed: int = 0):
    """The StratifiedKFold every probe uses (shuffled, seeded): pass it to scikit-learn to compare."""
    from sklearn.model_selection import StratifiedKFold

    return StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)


@dataclass
class ProbeResult:
    """One classifier on one layer. rows: (m,) the run rows probed; y: (m,) their class indices;
    predicted: (m,) out-of-fold class indices; probabilities: (m, K) out-of-fold, per class."""

    layer: str
    classifier: str
    folds: int
    seed: int
    classes: list[str]
    rows: np.ndarray
    y: np.ndarray
    predicted: np.ndarray
    probabilities: np.ndarray
    fold_accuracy: np.ndarray
    n_features: int
    seconds: float = 0.0
    sample: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.fold_accuracy))

    @property
    def std(self) -> float:
        return float(np.std(self.fold_accuracy))

    @property
    def confusion(self) -> np.ndarray:
        """(K, K) int: rows the given label, columns the out-of-fold prediction."""
        k = len(self.classes)
        return np.bincount(self.y * k + self.predicted, minlength=k * k).reshape(k, k)

    @property
    def per_class_recall(self) -> dict[str, float]:
        c = self.confusion
        return {name: float(c[i, i] / c[i].sum()) if c[i].sum() else float("nan")
                for i, name in enumerate(self.classes)}

    def summary(self) -> dict:
        """The figures a paper quotes, JSON-ready."""
        return {"layer": self.layer, "classifier": self.classifier, "accuracy": self.accuracy, "std": self.std,
                "n_features": self.n_features, "n": int(len(self.rows)), "folds": self.folds, "seed": self.seed,
                "sample": self.sample, "fold_accuracy": [float(a) for a in self.fold_accuracy],
                "per_class_recall": self.per_class_recall, "classes": list(self.classes),
                "confusion": self.confusion.tolist(), "seconds": self.seconds, "notes": list(self.notes)}


def usable_rows(x: np.ndarray, labels: list, rows: np.ndarray | None = None) -> tuple[np.ndarray, list[str], list[str]]:
    """(rows with a label, finite features and a class of at least 2 images; classes; notes)."""
    rows = np.arange(len(labels)) if rows is None else np.asarray(rows)
    notes = []
    labelled = np.array([labels[i] is not None for i in rows], bool)
    if (~labelled).any():
        notes.append(f"{int((~labelled).sum()):,} images without a label left out")
    rows = rows[labelled]
    finite = np.isfinite(np.asarray(x[rows], np.float32)).all(axis=1) if len(rows) else np.zeros(0, bool)
    if (~finite).any():
        notes.append(f"{int((~finite).sum()):,} images with non-finite features left out")
    rows = rows[finite]
    names, counts = np.unique([labels[i] for i in rows], return_counts=True) if len(rows) else ([], [])
    lonely = {str(n) for n, c in zip(names, counts) if c < 2}
    if lonely:
        notes.append(f"classes with a single image left out: {', '.join(sorted(lonely)[:5])}"
                     f"{'...' if len(lonely) > 5 else ''}")
        rows = np.array([i for i in rows if labels[i] not in lonely], np.int64)
    return rows, sorted({str(labels[i]) for i in rows}), notes


def probe_features(x: np.ndarray, labels: list, classifier: str = "logreg", *, folds: int = 5, seed: int = 0,
                   layer: str = "", rows: np.ndarray | None = None, step_base: int = 0,
                   step_total: int | None = None) -> Work[ProbeResult]:
    """Cross-validate `classifier` on x (n, d) against labels (n, str or None); one Step per fold.

    rows: the rows of x to use (default all). Rows without a label, with non-finite features, or of
    a class with a single image are left out (result.notes says so); folds shrink to the smallest
    class. ExplorerError when fewer than 2 classes remain.
    """
    start = time.perf_counter()
    if classifier not in CLASSIFIERS:
        raise ExplorerError(f"Unknown classifier {classifier!r}; choose one of {', '.join(CLASSIFIERS)}.")
    if folds < 2:
        raise ExplorerError(f"--folds must be at least 2 (got {folds}).")
    rows, classes, notes = usable_rows(x, labels, rows)
    if len(classes) < 2:
        raise ExplorerError(f"A probe needs at least 2 classes with 2 or more labelled images each; "
                            f"{'layer ' + layer + ' has' if layer else 'there are'} {len(classes)} "
                            f"({len(rows)} usable images). Label images by class sub-folders.")
    index = {name: i for i, name in enumerate(classes)}
    y = np.array([index[str(labels[i])] for i in rows], np.int64)
    smallest = int(np.bincount(y).min())
    if smallest < folds:
        notes.append(f"{folds} folds asked, {smallest} used: the smallest class has {smallest} images")
        folds = smallest
    xs = np.asarray(x[rows], np.float32)
    k = len(classes)
    predicted = np.zeros(len(rows), np.int64)
    probabilities = np.zeros((len(rows), k), np.float32)
    accuracy = []
    splits = list(folds_of(folds, seed).split(xs, y))
    n_train = min(len(train) for train, _ in splits)
    total = step_total if step_total is not None else folds
    label = f"{layer + ' ' if layer else ''}{classifier}"
    for f, (train, test) in enumerate(splits):
        yield Step(step_base + f, total, f"{label}: fold {f + 1}/{folds}")
        model = make_classifier(classifier, n_train=n_train, seed=seed)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(xs[train], y[train])
        if any("converge" in str(w.message).lower() for w in caught) and "did not converge" not in " ".join(notes):
            notes.append(f"{classifier} did not converge in some folds (figures are still cross-validated)")
        predicted[test] = model.predict(xs[test])
        probabilities[test] = _class_scores(model, xs[test], k)
        accuracy.append(float(np.mean(predicted[test] == y[test])))
    yield Step(step_base + folds, total, f"{label}: {np.mean(accuracy):.3f}")
    return ProbeResult(layer, classifier, folds, seed, classes, rows, y, predicted, probabilities,
                       np.array(accuracy), int(xs.shape[1]), time.perf_counter() - start, notes=notes)


def _class_scores(model, x: np.ndarray, k: int) -> np.ndarray:
    """(n, k) per-class probabilities over all k classes (a fold's training set may lack none: folds are
    stratified and every class has >= folds images); the SVM's decision values through a softmax."""
    classes = model.classes_
    out = np.zeros((len(x), k), np.float32)
    if hasattr(model, "predict_proba") and hasattr(model[-1], "predict_proba"):
        out[:, classes] = model.predict_proba(x)
        return out
    d = np.asarray(model.decision_function(x), np.float64)
    if d.ndim == 1:  # two classes: one margin, positive for classes[1]
        d = np.stack([-d, d], axis=1) / 2
    d = np.exp(d - d.max(axis=1, keepdims=True))
    out[:, classes] = d / d.sum(axis=1, keepdims=True)
    return out


def stratified_sample(labels: list, rows: np.ndarray, n: int | None, seed: int = 0) -> np.ndarray:
    """At most n of `rows`, each class keeping its share (at least 2 where it has them), sorted."""
    rows = np.asarray(rows)
    if n is None or n >= len(rows):
        return rows
    rng = np.random.default_rng(seed)
    by_class: dict = {}
    for i in rows:
        by_class.setdefault(labels[i], []).append(i)
    picked = []
    for members in by_class.values():
        want = max(min(2, len(members)), int(round(n * len(members) / len(rows))))
        picked.extend(rng.choice(members, size=min(want, len(members)), replace=False))
    picked = np.sort(np.array(picked, np.int64))
    if len(picked) > n:  # rounding and the minimum of 2 may overshoot a little
        picked = np.sort(rng.choice(picked, size=n, replace=False))
    return picked


def probe_run(run, layers: list[str] | None = None, classifiers=("logreg",), *, folds: int = 5, seed: int = 0,
              sample: int | None = None, save: bool = True, reuse: bool = True) -> Work[list[ProbeResult]]:
    """Probe every layer (default: all the run holds) with every classifier; one Step per fold.

    sample: probe at most that many images (stratified, seeded). save: keep each result in the run
    folder (probe_files); a folder that cannot be written adds a note instead of losing the figures.
    reuse: a kept result of the same settings, computed from the run's current rows, is read back.
    """
    from .probe_files import load_probe, save_probe

    layers = list(layers or run.layers)
    for name in layers:
        if not run.has_array("features", name):
            raise ExplorerError(f"{run.path} holds no features for layer {name!r} (it has {', '.join(run.layers)}).")
    labels = run.labels
    done = np.flatnonzero(run.done_mask)
    rows = stratified_sample(labels, np.array([i for i in done if labels[i] is not None], np.int64), sample, seed)
    out = []
    total = len(layers) * len(classifiers) * (folds + 1)
    for li, layer in enumerate(layers):
        x = run.array("features", layer)
        for ci, classifier in enumerate(classifiers):
            base = (li * len(classifiers) + ci) * (folds + 1)
            kept = load_probe(run, layer, classifier, folds=folds, seed=seed, sample=sample) if reuse else None
            if kept is not None:
                yield Step(base + folds + 1, total, f"{layer} {classifier}: {kept.accuracy:.3f} (kept)")
                out.append(kept)
                continue
            result = yield from probe_features(x, labels, classifier, folds=folds, seed=seed, layer=layer, rows=rows,
                                               step_base=base, step_total=total)
            result.sample = sample
            if save:
                try:
                    save_probe(run, result, asked_folds=folds)
                except OSError as exc:
                    result.notes.append(f"not kept in {run.path}: {exc.strerror or exc}")
            out.append(result)
    return out
