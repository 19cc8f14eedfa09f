"""The kNN probe's classifier: a vote of the k nearest training rows (Euclidean), found by the
neighbour index's exact batched search (analysis.neighbours) rather than scikit-learn's own.

It has scikit-learn's classifier interface, so a Pipeline and cross-validation take it, and it
answers as KNeighborsClassifier(n_neighbors=k) does (uniform weights; a tied vote goes to the
first class), with neighbours ranked in float64 (ties by training row).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from ..errors import ExplorerError
from .neighbours import NeighbourIndex


class NeighbourClassifier(ClassifierMixin, BaseEstimator):
    def __init__(self, n_neighbors: int = 10):
        self.n_neighbors = n_neighbors

    def fit(self, X, y):
        x = np.asarray(X)
        if x.dtype not in (np.float16, np.float32):
            x = np.asarray(x, np.float32)
        self.classes_, self._y = np.unique(np.asarray(y), return_inverse=True)
        if not 1 <= self.n_neighbors <= len(x):
            raise ExplorerError(f"A kNN probe asks for {self.n_neighbors} neighbours among {len(x)} training images.")
        self._index = NeighbourIndex(np.ascontiguousarray(x), metric="euclidean")
        self.n_features_in_ = x.shape[1]
        return self

    def predict_proba(self, X) -> np.ndarray:
        """(m, classes) the share of each class among the k nearest training rows."""
        found, _ = self._index.query_vectors(np.asarray(X), self.n_neighbors)
        votes = self._y[found]  # (m, k) class numbers
        c = len(self.classes_)
        counts = np.bincount((np.arange(len(votes))[:, None] * c + votes).ravel(), minlength=len(votes) * c)
        return counts.reshape(len(votes), c) / self.n_neighbors

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
