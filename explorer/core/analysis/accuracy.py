"""Top-1 and top-5 accuracy of a run's stored predictions against its folder labels.

    result = run_accuracy(run, mapping_csv=None)   # labels mapped as class_mapping says
    result.top1, result.top5, result.per_class["tabby"], result.confused[:5]

Images whose label maps to no class of the head (and images without a label, or not embedded)
are left out and counted in `left_out`; the mapping is part of the result, so it can be shown
and corrected (a CSV) before the numbers are quoted.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..errors import ExplorerError
from ..run.store import Run
from .class_mapping import LabelMapping, map_labels, read_mapping_csv
from .predictions import Predictions, load_predictions


@dataclass
class Accuracy:
    top1: float
    top5: float
    n: int  # images counted
    left_out: int  # images not counted: no label, a label that maps to no class, or not embedded
    per_class: dict[str, dict]  # label -> {n, top1, top5}
    mapping: dict[str, LabelMapping]
    confused: list[dict]  # the most frequent wrong top-1 answers: {label, class, name, count}
    k: int  # how many classes "top-5" looked at (fewer for a head with fewer classes)

    def to_dict(self, name) -> dict:
        return {"top1": self.top1, "top5": self.top5, "n": self.n, "left_out": self.left_out,
                "per_class": self.per_class, "mapping": {k: m.to_dict(name) for k, m in self.mapping.items()},
                "confused": self.confused}


def label_classes(run: Run, preds: Predictions, mapping_csv: str | os.PathLike | None = None
                  ) -> dict[str, LabelMapping]:
    """Each label of the run -> the head classes it means (the CSV, if given, overrides)."""
    csv_map = read_mapping_csv(mapping_csv, preds.categories, preds.n_classes) if mapping_csv else None
    return map_labels(run.labels, preds.categories, preds.n_classes, csv_map)


class _Table:
    """Labels as codes (n,) (-1: no label) and which classes each label means, (labels, classes) bool:
    accuracy in numpy operations rather than a Python loop per image (a million images in ~1 s)."""

    def __init__(self, labels, preds: Predictions, mapping: dict[str, LabelMapping]):
        self.names = list(mapping)
        code = {name: k for k, name in enumerate(self.names)}
        self.codes = np.array([code.get(str(lab), -1) if lab is not None else -1 for lab in labels], np.int64)
        width = max([preds.n_classes, int(preds.classes.max(initial=0)) + 1]
                    + [c + 1 for m in mapping.values() for c in m.classes])
        self.allowed = np.zeros((len(self.names) + 1, width), bool)  # the last row: no label (nothing allowed)
        for k, name in enumerate(self.names):
            self.allowed[k, list(mapping[name].classes)] = True
        mapped = self.allowed.any(axis=1)
        self.counted = np.flatnonzero(mapped[self.codes] & np.asarray(preds.valid, bool))  # codes -1: last row


def correctness(labels, preds: Predictions, mapping: dict[str, LabelMapping]) -> np.ndarray:
    """(n,) float32 per image: 1 when the top-1 class is one its label means, 0 when not, NaN when
    unknown (no label, an unmapped label, not embedded). What the map colours 'correct / wrong' by."""
    t = _Table(labels, preds, mapping)
    out = np.full(len(labels), np.nan, np.float32)
    i = t.counted
    out[i] = t.allowed[t.codes[i], np.asarray(preds.classes[i, 0], np.int64)]
    return out


def run_accuracy(run: Run, mapping_csv: str | os.PathLike | None = None, *, confused: int = 10) -> Accuracy:
    """Top-1/top-5 accuracy overall and per label, and the most confused (label, class) pairs."""
    preds = load_predictions(run)
    labels = run.labels
    if not any(label is not None for label in labels):
        raise ExplorerError(f"{run.path}: the images have no labels (put them in one sub-folder per class), "
                            "so there is nothing to measure accuracy against.")
    mapping = label_classes(run, preds, mapping_csv)
    if not any(m.classes for m in mapping.values()):
        shown = ", ".join(repr(k) for k in list(mapping)[:4]) + (", ..." if len(mapping) > 4 else "")
        raise ExplorerError(f"{run.path}: none of the labels ({shown}) names a class of the model's head; "
                            "give --mapping CSV with rows label,class_index.")
    k = min(5, preds.classes.shape[1])
    t = _Table(labels, preds, mapping)
    idx = t.counted
    codes = t.codes[idx]
    top = np.asarray(preds.classes[idx, :k], np.int64)
    hits1 = t.allowed[codes, top[:, 0]]
    hits5 = t.allowed[codes[:, None], top].any(axis=1)
    n_labels = len(t.names)
    count = np.bincount(codes, minlength=n_labels)
    good1 = np.bincount(codes, weights=hits1, minlength=n_labels)
    good5 = np.bincount(codes, weights=hits5, minlength=n_labels)
    per_class = {name: {"n": int(count[c]), "top1": float(good1[c] / count[c]), "top5": float(good5[c] / count[c])}
                 for c, name in enumerate(t.names) if count[c]}
    wrong = Counter(zip(codes[~hits1].tolist(), top[~hits1, 0].tolist()))
    pairs = [{"label": t.names[c], "class": cls, "name": preds.name(cls), "count": n}
             for (c, cls), n in sorted(wrong.items(), key=lambda kv: (-kv[1], t.names[kv[0][0]], kv[0][1]))[:confused]]
    n = len(idx)
    return Accuracy(float(hits1.mean()) if n else 0.0, float(hits5.mean()) if n else 0.0, n, len(run) - n,
                    per_class, mapping, pairs, k)


def confused_images(run: Run, mapping_csv: str | os.PathLike | None = None, *, limit: int = 10) -> list[dict]:
    """The most frequent wrong top-1 answers with their images: [{label, class, name, count, indices}],
    most images first (a confusion view that selects the images of a pair)."""
    preds = load_predictions(run)
    mapping = label_classes(run, preds, mapping_csv)
    t = _Table(run.labels, preds, mapping)
    idx = t.counted
    top1 = np.asarray(preds.classes[idx, 0], np.int64)
    wrong = ~t.allowed[t.codes[idx], top1]
    idx, codes, top1 = idx[wrong], t.codes[idx][wrong], top1[wrong]
    if not len(idx):
        return []
    pair = codes * t.allowed.shape[1] + top1
    found, inverse, counts = np.unique(pair, return_inverse=True, return_counts=True)
    out = []
    for p in np.lexsort((found, -counts))[:limit]:
        c, cls = divmod(int(found[p]), t.allowed.shape[1])
        out.append({"label": t.names[c], "class": cls, "name": preds.name(cls), "count": int(counts[p]),
                    "indices": idx[inverse == p].tolist()})
    return out
