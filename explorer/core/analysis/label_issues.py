"""Possible label errors: images whose out-of-fold prediction disagrees with their label, confidently.

Two of cleanlab's filters (`find_label_issues(filter_by=...)`), on a probe's out-of-fold probabilities
(analysis.probe: never from a model that saw the image):
  "predicted_neq_given" (default): the probe predicts another class than the label;
  "confident_learning": ... and with a probability of at least t_p, the mean probability of that class
  over the images labelled with it (how sure the probe is, on average, of its own class): stricter.
`min_confidence` asks the prediction itself to be that sure. Flagged images are ranked by
self-confidence, the probability given to their own label, lowest first (cleanlab's default ranking;
FiftyOne's "mistakenness" is the same idea).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .probe import ProbeResult


@dataclass(frozen=True)
class LabelIssue:
    index: int  # the run row
    label: str  # the label it has
    predicted: str  # the out-of-fold prediction
    self_confidence: float  # the probe's probability for the given label (low: suspicious)
    confidence: float  # the probe's probability for the predicted class

    def to_json(self) -> dict:
        return {"index": self.index, "label": self.label, "predicted": self.predicted,
                "self_confidence": self.self_confidence, "confidence": self.confidence}


def class_thresholds(probabilities: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(K,) t_j = mean probability of class j over the images labelled j."""
    k = probabilities.shape[1]
    return np.array([probabilities[y == j, j].mean() if (y == j).any() else 1.0 for j in range(k)])


FILTERS = ("predicted_neq_given", "confident_learning")


def find_label_issues(result: ProbeResult, *, filter_by: str = "predicted_neq_given",
                      min_confidence: float = 0.0) -> list[LabelIssue]:
    """The probed images whose label looks wrong, most suspicious first (see the module's text)."""
    if filter_by not in FILTERS:
        raise ValueError(f"filter_by must be one of {FILTERS}, not {filter_by!r}")
    p, y = np.asarray(result.probabilities, np.float64), np.asarray(result.y)
    if not len(y):
        return []
    t = class_thresholds(p, y)
    predicted = np.asarray(result.predicted)
    own = p[np.arange(len(y)), y]
    theirs = p[np.arange(len(y)), predicted]
    flagged = (predicted != y) & (theirs >= min_confidence)
    if filter_by == "confident_learning":
        flagged &= theirs >= t[predicted]
    flagged = np.flatnonzero(flagged)
    order = flagged[np.lexsort((result.rows[flagged], own[flagged]))]
    return [LabelIssue(int(result.rows[i]), result.classes[int(y[i])], result.classes[int(predicted[i])],
                       float(own[i]), float(theirs[i])) for i in order]
