"""Colour the map by the stored predictions: the predicted class, its confidence, the entropy, or
whether the top-1 class is right for the image's label (when labels map to the head's classes).

    colouring = colour_by_prediction(run, "correct")   # a metadata.Colouring, as the other colourings

The spec ({"by": "prediction", "what": ..., "mapping": CSV or None}) is what a session keeps.
"""

from __future__ import annotations

import numpy as np

from .accuracy import correctness, run_accuracy
from .colours import RAMP_STEPS, UNLABELLED, class_colour, ramp
from .metadata import Colouring, MetadataError
from .predictions import has_predictions, load_predictions, no_predictions_message

WHAT = {"class": "predicted class", "confidence": "confidence (top-1 probability)",
        "entropy": "entropy of the prediction (nats)", "correct": "top-1 right or wrong"}
RIGHT, WRONG = (44, 160, 44), (214, 39, 40)


def colour_by_prediction(run, what: str, mapping_csv: str | None = None) -> Colouring:
    """MetadataError (one line) when the run has no predictions or `what` is unknown."""
    if what not in WHAT:
        raise MetadataError(f"Unknown prediction colouring {what!r} (expected {', '.join(WHAT)})")
    if not has_predictions(run):
        raise MetadataError(no_predictions_message(run))
    preds = load_predictions(run)
    spec = {"by": "prediction", "what": what, "mapping": mapping_csv}
    if what == "class":
        return _by_class(preds, spec)
    if what in ("confidence", "entropy"):
        return _ramp(preds.confidence if what == "confidence" else preds.entropy, spec, WHAT[what])
    result = run_accuracy(run, mapping_csv, confused=3)  # ExplorerError, one line, when no label maps
    mapping = result.mapping
    right = correctness(run.labels, preds, mapping)
    unmapped = sorted(k for k, m in mapping.items() if not m.classes)
    notes = [f"top-1 {result.top1:.1%}, top-{result.k} {result.top5:.1%} on {result.n:,} images"]
    if result.confused:
        notes.append("most confused: " + "; ".join(f"{c['label']} → {c['name']} ({c['count']})"
                                                   for c in result.confused))
    mapped = [f"{k} → {'; '.join(preds.name(c) for c in m.classes[:2])}{'…' if len(m.classes) > 2 else ''}"
              for k, m in mapping.items() if m.classes]
    notes.append(f"labels: {', '.join(mapped[:8])}{' …' if len(mapped) > 8 else ''}")
    if unmapped:
        notes.append(f"not mapped to the head's classes (grey): {', '.join(unmapped[:6])}"
                     f"{' …' if len(unmapped) > 6 else ''}")
    codes = np.where(np.isnan(right), 2, np.where(right == 1, 0, 1)).astype(np.int64)
    counts = np.bincount(codes, minlength=3)
    table = [RIGHT, WRONG, UNLABELLED]
    legend = [("right", RIGHT, int(counts[0])), ("wrong", WRONG, int(counts[1]))]
    if counts[2]:
        legend.append(("unknown", UNLABELLED, int(counts[2])))
    return Colouring(spec, WHAT[what], codes, table, legend, False, int(counts[2]), notes)


def _by_class(preds, spec: dict) -> Colouring:
    """The top-1 class; the most frequent classes get the first (most distinct) colours."""
    top1 = preds.predicted
    found, counts = np.unique(top1[top1 >= 0], return_counts=True)
    rank = np.lexsort((found, -counts))  # most frequent first, then by class index
    order, counts = found[rank], counts[rank]
    k = len(order)
    lookup = np.full(int(max(preds.n_classes, found.max(initial=0) + 1)) + 1, k, np.int64)  # last: not embedded
    lookup[order] = np.arange(k)
    codes = lookup[top1]  # -1 (not embedded) reads the last entry
    table = [class_colour(i) for i in range(k)] + [UNLABELLED]
    legend = [(preds.name(int(c)), table[i], int(n)) for i, (c, n) in enumerate(zip(order, counts))]
    missing = int((top1 < 0).sum())
    if missing:
        legend.append(("not embedded", UNLABELLED, missing))
    return Colouring(spec, WHAT["class"], codes, table, legend, False, missing, [])


def _ramp(x: np.ndarray, spec: dict, title: str) -> Colouring:
    """Numbers (NaN: no value) as the ramp metadata.colour_by_values draws, in numpy (a million rows at once)."""
    x = np.asarray(x, np.float64)
    present = ~np.isnan(x)
    if not present.any():
        raise MetadataError(f"No image has a {title}: none was embedded.")
    lo, hi = float(x[present].min()), float(x[present].max())
    scaled = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
    steps = np.clip(np.round(np.nan_to_num(scaled) * (RAMP_STEPS - 1)), 0, RAMP_STEPS - 1).astype(np.int64)
    codes = np.where(present, steps, RAMP_STEPS)
    table = ramp() + [UNLABELLED]
    missing = int((~present).sum())
    legend = [(f"{lo:.3g} (low)", table[0], int((codes == 0).sum())),
              (f"{hi:.3g} (high)", table[RAMP_STEPS - 1], int((codes == RAMP_STEPS - 1).sum()))]
    if missing:
        legend.append(("no value", UNLABELLED, missing))
    return Colouring(spec, title, codes, table, legend, True, missing, [])
